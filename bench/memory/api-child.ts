/**
 * A real API process (src/server.ts, as `npm run api` starts it) on a free port with its own
 * DATA_DIR, and its memory as Linux reports it (/proc/{pid}/status: VmRSS now, VmHWM the peak).
 * Used by the worst-image memory bench and by test/integration/hostile-datasets.test.ts.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/helpers/service-process.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ApiChild {
  readonly url: string;
  readonly pid: number;
  /** Resident memory now, in bytes. */
  rss(): Promise<number>;
  /** The most resident memory since the start, or since the last resetPeak(), in bytes. */
  peakRss(): Promise<number>;
  /** Starts a new peak from the current RSS (Linux clear_refs); false where that is not allowed. */
  resetPeak(): Promise<boolean>;
  output(): string;
  stop(): Promise<void>;
}


async function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const line = status.split('\n').find((l) => l.startsWith(`${field}:`));
  if (!line) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(line.split(/\s+/)[1]) * 1024;
}

/** Starts the API; `env` adds to (or, with undefined values, removes from) this process's environment. */
export async function startApiChild(env: Record<string, string | undefined>, readyTimeoutMs = 60_000): Promise<ApiChild> {
  const port = await freePort();
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env })) {
    if (v !== undefined) childEnv[k] = v;
  }
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the API exited (${proc.exitCode}):\n${out}`);
    if (await fetch(`${url}/health/live`).then((r) => r.ok, () => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the API did not start in ${readyTimeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const pid = proc.pid!;
  return {
    url,
    pid,
    rss: () => statusKb(pid, 'VmRSS'),
    peakRss: () => statusKb(pid, 'VmHWM'),
    resetPeak: () => writeFile(`/proc/${pid}/clear_refs`, '5').then(() => true, () => false),
    output: () => out,
    stop,
  };
}
