/**
 * `npm start`: the API (src/server.ts) and one training worker (workers/main.ts) as two child
 * processes with prefixed logs. When no Redis answers at a local REDIS_URL it runs redis-server
 * itself (files under DATA_DIR/redis) and stops it last. Ctrl-C or SIGTERM stops everything and
 * exits 0; a child that dies on its own stops the rest and the exit code is non-zero.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, type Config } from '../src/config.ts';
import { MALLOC_ENV } from '../src/malloc-env.ts';
import { createPrefixer, describeExit, startChild, type Child } from './start/children.ts';
import { waitUntilReady } from './start/ready.ts';
import { findOnPath, HOW_TO_GET_REDIS, isLocalRedis, redisAnswers, redisPort, redisServerArgs } from './start/redis.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** A bit longer than the api (25 s) and the worker (30 s) give themselves before they exit 1. */
const APP_STOP_TIMEOUT_MS = 35_000;
const REDIS_STOP_TIMEOUT_MS = 10_000;
const REDIS_START_TIMEOUT_MS = 15_000;
/** Copies of one Ctrl-C arrive within this; a signal later than that means "force". */
const SIGNAL_ECHO_MS = 1000;

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
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let failureCode = 0;

  const stopAll = (reason: string, stream: 'out' | 'err' = 'out'): Promise<number> => {
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
    void stopped.then(finish);
    return stopped;
  };

  const watch = (child: Child): Child => {
    children.push(child);
    void child.exited.then((exit) => {
      if (stopped) return;
      failureCode = exit.code && exit.code > 0 ? exit.code : 1;
      void stopAll(`${child.name} exited unexpectedly (${describeExit(exit)}); stopping the others`, 'err');
    });
    return child;
  };

  // Under `npm start` one Ctrl-C arrives several times within milliseconds (from the terminal to the
  // whole process group, and relayed by npm and tsx), so only a signal a moment later forces.
  let firstSignalAt: number | undefined;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      const now = Date.now();
      if (firstSignalAt === undefined && !stopped) {
        firstSignalAt = now;
        void stopAll(`${sig}: stopping (${sig === 'SIGINT' ? 'Ctrl-C' : 'signal'} again to kill everything at once)`);
      } else if (firstSignalAt === undefined || now - firstSignalAt > SIGNAL_ECHO_MS) {
        say(`${sig} again: killing everything now`, 'err');
        for (const c of children) c.kill();
      }
    });
  }
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
      const redis = watch(
        startChild('redis', bin, redisServerArgs(redisPort(redisUrl), dir), { cwd: dir, env: process.env, print: prefixer('redis') }),
      );
      redisNote = `started here, files in ${dir}`;
      say(`no Redis answered at ${printable(redisUrl)}: started ${bin} (pid ${redis.pid}), files in ${dir}`);
      const deadline = Date.now() + REDIS_START_TIMEOUT_MS;
      while (!stopped && !(await redisAnswers(redisUrl, 500))) {
        if (Date.now() > deadline) {
          failureCode = 1;
          return stopAll(`redis-server did not answer within ${REDIS_START_TIMEOUT_MS / 1000} s`, 'err');
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  if (stopped) return stopped;

  // The API and one worker, with the faster malloc setting unless the user set their own.
  const env = { ...MALLOC_ENV, ...process.env, DATA_DIR: config.dataDir, REDIS_URL: config.redisUrl };
  let port = config.port === 0 ? undefined : config.port;
  const sniffPort = (line: string) => {
    const m = port === undefined ? /listening (?:at|on) https?:\/\/\S+?:(\d+)/i.exec(line) : null;
    if (m) port = Number(m[1]);
  };
  const api = watch(
    startChild('api', process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT, env, print: prefixer('api'), onLine: sniffPort,
    }),
  );
  const worker = watch(
    startChild('worker', process.execPath, ['--import', 'tsx', 'workers/main.ts'], { cwd: ROOT, env, print: prefixer('worker') }),
  );
  say(`started api (pid ${api.pid}) and worker (pid ${worker.pid}); data in ${config.dataDir}`);

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
  return finished; // once a signal or a child's exit has run stopAll
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`npm start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, 'err');
    process.exit(1);
  },
);
