import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { withTimeout as boundedBy } from '../../src/domain/with-timeout.ts';
import { redisAnswers, uniquePrefix } from '../helpers/redis.ts';
import { freePort } from '../helpers/service-process.ts';

// `npm start` (scripts/start.ts) end to end: it must start its own redis-server when none answers,
// bring up the API and a worker, and leave nothing behind when stopped.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Run {
  readonly pid: number;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  signal(sig: NodeJS.Signals): void;
}

const runs: Run[] = [];
const pidsToReap: number[] = [];
const tmpDirs: string[] = [];


function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The environment a process started with (NUL-separated /proc entries). */
function environOf(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
}

function startScript(env: NodeJS.ProcessEnv): Run {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const run: Run = { pid: proc.pid!, output: () => out, exited, signal: (sig) => proc.kill(sig) };
  runs.push(run);
  return run;
}

async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  boundedBy(p, ms, () => new Error(`timed out after ${ms} ms waiting for ${what}`));

/** Environment for one run: a free API port, a fresh DATA_DIR, and a Redis port nobody serves. */
async function freshEnv(extra: NodeJS.ProcessEnv = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'start-script-'));
  tmpDirs.push(dataDir);
  const port = await freePort();
  const redisUrl = `redis://127.0.0.1:${await freePort()}`;
  expect(await redisAnswers(redisUrl)).toBe(false);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: uniquePrefix(import.meta.url),
    LOG_LEVEL: 'warn',
    ...extra,
  };
  return { env, port, redisUrl, dataDir };
}

/** Starts npm start's script and waits until the API is ready; returns the three pids it printed. */
async function startAndWaitReady(env: NodeJS.ProcessEnv, port: number) {
  const run = startScript(env);
  await waitFor('GET /health/ready to answer 200', 120_000, async () => {
    const done = await Promise.race([run.exited, new Promise((r) => setTimeout(r, 0, undefined))]);
    if (done) throw new Error(`npm start exited early: ${JSON.stringify(done)}\n${run.output()}`);
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined);
    return res?.status === 200 ? true : undefined;
  });
  const out = await waitFor('the ready banner', 60_000, () => (/ready: API at/.test(run.output()) ? run.output() : undefined));
  const redisPid = Number(/started \S*redis-server \(pid (\d+)\)/.exec(out)?.[1]);
  const [, apiPid, workerPid] = /started api \(pid (\d+)\) and worker \(pid (\d+)\)/.exec(out)?.map(Number) ?? [];
  const pids = { redis: redisPid, api: apiPid!, worker: workerPid! };
  for (const pid of Object.values(pids)) {
    expect(pid).toBeGreaterThan(0);
    pidsToReap.push(pid);
  }
  return { run, pids, out };
}

afterEach(async () => {
  for (const run of runs.splice(0)) {
    run.signal('SIGKILL');
    await run.exited;
  }
  for (const pid of pidsToReap.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone, as it should be
    }
  }
  for (const dir of tmpDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('npm start (scripts/start.ts)', () => {
  it('starts redis-server, the API and a worker with prefixed logs, and Ctrl-C stops all three with exit 0', async () => {
    const { env, port, redisUrl, dataDir } = await freshEnv();
    const { run, pids, out } = await startAndWaitReady(env, port);

    expect(out).toMatch(/^redis {2}\| /m);
    expect(out).toMatch(/^start {2}\| ready: API at http:\/\/localhost:\d+ {2}\(docs: http:\/\/localhost:\d+\/docs\)/m);
    expect(out).toMatch(/^start {2}\| engine: (tfjs-node|tfjs).*/m);
    expect(await redisAnswers(redisUrl)).toBe(true);
    expect(fs.existsSync(path.join(dataDir, 'redis', 'appendonlydir'))).toBe(true);

    run.signal('SIGINT');
    const exit = await withTimeout(run.exited, 60_000, 'npm start to exit after SIGINT');
    expect({ exit, tail: run.output().slice(-3000) }).toMatchObject({ exit: { code: 0, signal: null } });
    expect(run.output()).toMatch(/stopped cleanly/);
    for (const [name, pid] of Object.entries(pids)) expect({ name, alive: alive(pid) }).toEqual({ name, alive: false });
    expect(await redisAnswers(redisUrl)).toBe(false);
  }, 240_000);

  it('restarts a worker killed with SIGKILL while the API keeps serving; the malloc setting reaches neither', async () => {
    const { env, port } = await freshEnv();
    const { run, pids } = await startAndWaitReady(env, port);
    // vitest runs with the trainer's malloc setting in its environment: npm start must not pass it on.
    for (const pid of [pids.api, pids.worker]) expect({ pid, environ: environOf(pid).filter((v) => v.startsWith('MALLOC_')) }).toEqual({ pid, environ: [] });

    process.kill(pids.worker, 'SIGKILL');
    const out = await waitFor('the worker to be restarted', 60_000, () => {
      const m = /restarted worker \(pid (\d+)\)/.exec(run.output());
      return m ? { pid: Number(m[1]), text: run.output() } : undefined;
    });
    pidsToReap.push(out.pid);
    expect(out.text).toMatch(/worker exited unexpectedly \(signal SIGKILL\); restarting it in 1 s \(the API keeps serving\)/);
    expect(out.pid).not.toBe(pids.worker);
    expect(alive(pids.api)).toBe(true);
    // the API answered throughout, and sees the new worker once it has connected
    expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
    await waitFor('the new worker to connect', 60_000, async () => {
      const res = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined);
      const body = res ? ((await res.json().catch(() => ({}))) as { workers?: number }) : {};
      return res?.status === 200 && body.workers === 1 ? true : undefined;
    });

    run.signal('SIGINT');
    const exit = await withTimeout(run.exited, 60_000, 'npm start to exit after SIGINT');
    expect({ exit, tail: run.output().slice(-3000) }).toMatchObject({ exit: { code: 0, signal: null } });
    for (const [name, pid] of Object.entries({ ...pids, worker: out.pid })) expect({ name, alive: alive(pid) }).toEqual({ name, alive: false });
  }, 240_000);

  it('when the API dies, stops the worker and its redis-server and exits non-zero', async () => {
    const { env, port, redisUrl } = await freshEnv();
    const { run, pids } = await startAndWaitReady(env, port);

    process.kill(pids.api, 'SIGKILL');
    const exit = await withTimeout(run.exited, 60_000, 'npm start to exit after its API died');
    expect(exit.code).not.toBe(0);
    expect(run.output()).toMatch(/api exited unexpectedly \(signal SIGKILL\); stopping the others/);
    for (const [name, pid] of Object.entries(pids)) expect({ name, alive: alive(pid) }).toEqual({ name, alive: false });
    expect(await redisAnswers(redisUrl)).toBe(false);
  }, 240_000);

  it('without redis-server on PATH and no Redis answering, exits 1 and says how to get one', async () => {
    const emptyBin = fs.mkdtempSync(path.join(os.tmpdir(), 'start-script-path-'));
    tmpDirs.push(emptyBin);
    const { env } = await freshEnv({ PATH: emptyBin });
    const run = startScript(env);
    const exit = await withTimeout(run.exited, 30_000, 'npm start to give up');
    const out = run.output();
    expect(exit).toEqual({ code: 1, signal: null });
    expect(out).toMatch(/No Redis answers at redis:\/\/127\.0\.0\.1:\d+\/? and redis-server is not installed/);
    expect(out).toContain('apt-get install redis-server');
    expect(out).toContain('brew install redis');
    expect(out).toContain('docker compose up -d redis');
    expect(out).not.toMatch(/started api/);
  });

  it('refuses an invalid configuration before starting anything, naming the variable', async () => {
    const { env } = await freshEnv({ LOG_LEVEL: 'loud' });
    const run = startScript(env);
    const exit = await withTimeout(run.exited, 30_000, 'npm start to refuse the configuration');
    expect(exit.code).toBe(1);
    expect(run.output()).toMatch(/Invalid configuration: LOG_LEVEL/);
    expect(run.output()).not.toMatch(/started/);
  });
});
