/**
 * The whole service as a user starts it (`npm start`: API + worker child processes) on a free
 * port, with its own DATA_DIR and queue prefix, against the test Redis.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_REDIS_URL, uniquePrefix } from './redis.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface ServiceProcess {
  readonly url: string;
  readonly dataDir: string;
  output(): string;
  stop(): Promise<number | null>;
}

export async function startService(testFile: string, env: Record<string, string> = {}, readyTimeoutMs = 90_000): Promise<ServiceProcess> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'cxr-service-'));
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: uniquePrefix(testFile),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode === null) proc.kill('SIGINT');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 40_000);
    const code = await exited;
    clearTimeout(timer);
    await rm(dataDir, { recursive: true, force: true });
    return code;
  };
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the service exited (${proc.exitCode}):\n${out}`);
    const ok = await fetch(`${url}/health/ready`).then((r) => r.ok, () => false);
    if (ok && /worker/i.test(out)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the service did not become ready in ${readyTimeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return { url, dataDir, output: () => out, stop };
}
