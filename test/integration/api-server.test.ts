/**
 * The api entrypoint as a process: refuses invalid config naming the variable; serves; on SIGTERM
 * lets an upload in flight finish, refuses new connections, and exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetZip } from '../helpers/api-archives.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { freePort } from '../helpers/service-process.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface Proc {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

function startApi(env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TF_CPP_MIN_LOG_LEVEL: '3', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc: Proc = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  child.stdout!.on('data', (d: Buffer) => (proc.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (proc.stderr += d.toString()));
  return proc;
}


async function waitLive(port: number, proc: Proc): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health/live`);
      if (res.ok) return;
    } catch {
      // not yet
    }
    if (proc.child.exitCode !== null) throw new Error(`api exited: ${proc.stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('api did not start');
}

describe('src/server.ts', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'cxr-api-server-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it.each([
    ['PORT', 'not-a-port'],
    ['UPLOAD_LIMIT', 'huge'],
    ['API_KEYS', 'short'],
  ])('exits 1 when %s is invalid, naming it', async (variable, value) => {
    const proc = startApi({ DATA_DIR: dataDir, [variable]: value });
    expect(await proc.exited).toBe(1);
    expect(proc.stderr).toContain(`Invalid configuration: ${variable}`);
  });

  it('serves, then on SIGTERM finishes the upload in flight, refuses new connections and exits 0', async () => {
    const port = await freePort();
    const proc = startApi({
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: uniquePrefix(import.meta.url),
      LOG_LEVEL: 'info',
    });
    try {
      await waitLive(port, proc);
      const base = `http://127.0.0.1:${port}`;
      let ready = await fetch(`${base}/health/ready`);
      for (let i = 0; i < 30 && ready.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        ready = await fetch(`${base}/health/ready`);
      }
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ redis: true, workers: expect.any(Number), models: { loaded: [] } });
      // The real services are wired: every resource answers.
      expect((await fetch(`${base}/v1/models`)).status).toBe(200);
      expect((await fetch(`${base}/v1/training-jobs`)).status).toBe(200);
      expect((await fetch(`${base}/v1/predict`, { method: 'POST', body: '{"images":["aGVsbG8="]}', headers: { 'content-type': 'application/json' } })).status).toBe(503);
      expect(await (await fetch(`${base}/metrics`)).text()).toContain('cxr_training_jobs{state="queued"} 0');

      // An upload sent in two halves, with SIGTERM in between.
      const archive = await datasetZip({ perClass: 6 });
      const boundary = 'graceful';
      const head = Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\ngraceful\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="g.zip"\r\nContent-Type: application/zip\r\n\r\n`,
      );
      const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
      const body = Buffer.concat([head, archive, tail]);
      const sock = net.connect(port, '127.0.0.1');
      let response = '';
      sock.on('data', (d) => (response += d.toString()));
      const closed = new Promise<void>((r) => sock.on('close', () => r()));
      await new Promise<void>((r) => sock.once('connect', () => r()));
      sock.write(
        `POST /v1/datasets HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
          `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      );
      const half = body.length >> 1;
      sock.write(body.subarray(0, half));
      await new Promise((r) => setTimeout(r, 300));

      proc.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      // New connections are refused once closing has begun.
      await expect(fetch(`http://127.0.0.1:${port}/health/live`)).rejects.toThrow();

      // write, not end: a client half-close makes Node end the socket before the response.
      sock.write(body.subarray(half));
      await closed;
      expect(response, proc.stdout + proc.stderr).toMatch(/^HTTP\/1\.1 201/);
      expect(response).toContain('"name":"graceful"');

      expect(await proc.exited).toBe(0);
      expect(proc.stdout).toContain('"msg":"closed"');
      expect(await readdir(path.join(dataDir, 'uploads'))).toEqual([]);
    } finally {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
    }
  });
});
