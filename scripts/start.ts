/**
 * `npm start`: the API (src/server.ts) and one training worker (workers/main.ts) as child processes
 * with prefixed logs. When no Redis answers at a local REDIS_URL it runs redis-server itself
 * (files under DATA_DIR/redis) and stops it last.
 *
 * Supervision: a worker that dies on its own is restarted with exponential backoff (1 s doubling
 * to 30 s, back to 1 s after it stayed up a minute; scripts/start/supervisor.ts) while the API keeps
 * serving; its interrupted job is retried by BullMQ. A dying API, or the Redis this script started,
 * stops everything with a non-zero exit: the API is what the person at the terminal uses, and it
 * dies for reasons a restart does not fix (a port taken, a broken data directory), so hiding that
 * behind a restart loop would leave them with a URL that never answers.
 *
 * Signals follow src/process/shutdown.ts: the first stops the children (API and worker first, Redis
 * last) and exits 0 when all stopped cleanly; a second one later kills everything.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, type Config } from '../src/config.ts';
import { withoutMallocEnv } from '../src/malloc-env.ts';
import { installShutdown } from '../src/process/shutdown.ts';
import { createPrefixer, describeExit, startChild, type Child } from './start/children.ts';
import { waitUntilReady } from './start/ready.ts';
import { createBackoff, waitOrAbort, WORKER_RESTART } from './start/supervisor.ts';
import { findOnPath, HOW_TO_GET_REDIS, isLocalRedis, redisAnswers, redisPort, redisServerArgs } from './start/redis.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** A bit longer than the api (25 s) and the worker (30 s) give themselves before they exit 1. */
const APP_STOP_TIMEOUT_MS = 35_000;
const REDIS_STOP_TIMEOUT_MS = 10_000;
const REDIS_START_TIMEOUT_MS = 15_000;

const prefixer = createPrefixer(Boolean(process.stdout.isTTY) && !process.env.NO_COLOR);
const say = prefixer('start');

function printable(url: URL): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

function publicBase(host: string, port: number): string {
  const h = ['0.0.0.0', '::', '127.0.0.1', '::1', 'localhost'].includes(host) ? 'localhost' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

function probeBase(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === 'localhost' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

async function main(): Promise<number> {
  // A .env next to package.json fills in what the environment does not set (as compose does).
  const envFile = path.join(ROOT, '.env');
  if (fs.existsSync(envFile)) process.loadEnvFile(envFile);

  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    say(err.message, 'err');
    return 1;
  }

  const children: Child[] = [];
  let stopped: Promise<number> | undefined;
  let failureCode = 0;
  const restarts = new AbortController();
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });

  const stopAll = (reason: string, stream: 'out' | 'err' = 'out'): Promise<number> => {
    restarts.abort();
    stopped ??= (async () => {
      say(reason, stream);
      let clean = failureCode === 0;
      const report = ({ exit, killed }: Awaited<ReturnType<Child['stop']>>, child: Child) => {
        const timeout = child.name === 'redis' ? REDIS_STOP_TIMEOUT_MS : APP_STOP_TIMEOUT_MS;
        if (killed) say(`${child.name} did not stop within ${timeout / 1000} s: killed`, 'err');
        else if (exit.code !== 0 && exit.signal !== 'SIGTERM') say(`${child.name} stopped with ${describeExit(exit)}`, 'err');
        else return;
        clean = false;
      };
      // The API and the worker first (they still talk to Redis while they close), Redis last.
      const apps = children.filter((c) => c.name !== 'redis' && !c.exit());
      await Promise.all(apps.map(async (c) => report(await c.stop(APP_STOP_TIMEOUT_MS), c)));
      for (const c of children.filter((c) => c.name === 'redis' && !c.exit())) report(await c.stop(REDIS_STOP_TIMEOUT_MS), c);
      if (failureCode) return failureCode;
      say(clean ? 'stopped cleanly' : 'stopped, not cleanly (see above)');
      return clean ? 0 : 1;
    })();
    return stopped;
  };

  /** A child whose death ends `npm start` (the API, the Redis started here). */
  const critical = (child: Child): Child => {
    children.push(child);
    void child.exited.then((exit) => {
      if (stopped) return;
      failureCode = exit.code && exit.code > 0 ? exit.code : 1;
      void stopAll(`${child.name} exited unexpectedly (${describeExit(exit)}); stopping the others`, 'err').then(finish);
    });
    return child;
  };

  /** A child restarted with backoff whenever it dies on its own (the worker). */
  const supervised = (start: () => Child): void => {
    const backoff = createBackoff(WORKER_RESTART);
    const run = () => {
      const child = start();
      const startedAt = Date.now();
      children.push(child);
      void child.exited.then(async (exit) => {
        children.splice(children.indexOf(child), 1);
        if (stopped) return;
        const delay = backoff.next(Date.now() - startedAt);
        say(`${child.name} exited unexpectedly (${describeExit(exit)}); restarting it in ${delay / 1000} s (the API keeps serving)`, 'err');
        if (await waitOrAbort(delay, restarts.signal)) {
          if (!stopped) run();
        }
      });
    };
    run();
  };

  installShutdown({
    log: { info: () => undefined, warn: (_o, msg) => say(msg ?? '', 'err'), error: (_o, msg) => say(msg ?? '', 'err') },
    timeoutMs: APP_STOP_TIMEOUT_MS + REDIS_STOP_TIMEOUT_MS + 5000,
    close: async (signal) => {
      const code = await stopAll(`${signal}: stopping (${signal === 'SIGINT' ? 'Ctrl-C' : 'signal'} again to kill everything at once)`);
      if (code !== 0) throw new Error(`stopped with code ${code}`);
    },
    onForce: () => children.forEach((c) => c.kill()),
  });
  process.on('exit', () => children.forEach((c) => c.kill()));

  // Redis: use the one that answers; else start one for a local URL; else say how to get one.
  const redisUrl = new URL(config.redisUrl);
  fs.mkdirSync(config.dataDir, { recursive: true });
  let redisNote = 'already running';
  if (!(await redisAnswers(redisUrl))) {
    if (!isLocalRedis(redisUrl)) {
      redisNote = 'not answering yet';
      say(`no Redis answers at ${printable(redisUrl)}; starting anyway (the API is not ready until it does)`, 'err');
    } else {
      const bin = findOnPath('redis-server');
      if (!bin) {
        say(`No Redis answers at ${printable(redisUrl)} and redis-server is not installed.\n${HOW_TO_GET_REDIS}`, 'err');
        return 1;
      }
      const dir = path.join(config.dataDir, 'redis');
      fs.mkdirSync(dir, { recursive: true });
      const redis = critical(
        startChild('redis', bin, redisServerArgs(redisPort(redisUrl), dir), { cwd: dir, env: process.env, print: prefixer('redis') }),
      );
      redisNote = `started here, files in ${dir}`;
      say(`no Redis answered at ${printable(redisUrl)}: started ${bin} (pid ${redis.pid}), files in ${dir}`);
      const deadline = Date.now() + REDIS_START_TIMEOUT_MS;
      while (!stopped && !(await redisAnswers(redisUrl, 500))) {
        if (Date.now() > deadline) {
          failureCode = 1;
          return await stopAll(`redis-server did not answer within ${REDIS_START_TIMEOUT_MS / 1000} s`, 'err');
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  if (stopped) return stopped;

  // The API and one worker, without the trainer's malloc setting: the worker gives it to its
  // training child itself, and the API would never return freed memory to the system with it.
  const env = { ...withoutMallocEnv(process.env), DATA_DIR: config.dataDir, REDIS_URL: config.redisUrl };
  let port = config.port === 0 ? undefined : config.port;
  const sniffPort = (line: string) => {
    const m = port === undefined ? /listening (?:at|on) https?:\/\/\S+?:(\d+)/i.exec(line) : null;
    if (m) port = Number(m[1]);
  };
  const api = critical(
    startChild('api', process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT, env, print: prefixer('api'), onLine: sniffPort,
    }),
  );
  let workerPid = 0;
  supervised(() => {
    const worker = startChild('worker', process.execPath, ['--import', 'tsx', 'workers/main.ts'], { cwd: ROOT, env, print: prefixer('worker') });
    if (workerPid !== 0) say(`restarted worker (pid ${worker.pid})`);
    workerPid = worker.pid;
    return worker;
  });
  say(`started api (pid ${api.pid}) and worker (pid ${workerPid}); data in ${config.dataDir}`);

  const ready = await waitUntilReady(() => (port === undefined ? undefined : probeBase(config.host, port)), () => Boolean(stopped));
  if (ready && port !== undefined) {
    const base = publicBase(config.host, port);
    say(
      [
        `ready: API at ${base}  (docs: ${base}/docs)`,
        `engine: ${ready.engine ?? 'unknown (see GET /health/ready)'}`,
        `workers connected: ${ready.workers ?? 'unknown'}; Redis ${printable(redisUrl)} (${redisNote})`,
        'Ctrl-C stops everything.',
      ].join('\n'),
    );
  }
  return finished; // once the API or Redis died and stopAll ran (a signal exits through installShutdown)
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`npm start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, 'err');
    process.exit(1);
  },
);
