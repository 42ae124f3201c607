import fs from 'node:fs';
import path from 'node:path';
import { probeRedis } from '../../src/queue/redis-probe.ts';

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** Where to get a Redis when none answers and redis-server is not installed. */
export const HOW_TO_GET_REDIS = [
  'Install one and run npm start again:',
  '  Debian/Ubuntu:  sudo apt-get install redis-server',
  '  macOS:          brew install redis',
  '  Docker:         docker compose up -d redis   (from this folder; it listens on 127.0.0.1:6379)',
  'or point REDIS_URL at a Redis you already have.',
].join('\n');

/** True when the URL names this machine over plain TCP, so npm start may run a Redis for it. */
export function isLocalRedis(url: URL): boolean {
  return url.protocol === 'redis:' && LOCAL_HOSTS.has(url.hostname);
}

export function redisPort(url: URL): number {
  return Number(url.port || 6379);
}

/**
 * True when something speaking Redis answers a PING at the URL's host and port. Any reply counts
 * (`-NOAUTH` from a password-protected Redis too): it is a Redis, just not ours to start.
 */
export async function redisAnswers(url: URL, timeoutMs = 1000): Promise<boolean> {
  return (await probeRedis(url, timeoutMs)) !== 'none';
}

/** The absolute path of an executable on PATH, like `command -v`. */
export function findOnPath(command: string, searchPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * A foreground redis-server for local development: AOF on (job state survives a restart) with its
 * files in `dir`, no RDB snapshots, noeviction (BullMQ must never lose keys), loopback only.
 */
export function redisServerArgs(port: number, dir: string): string[] {
  return [
    '--port', String(port),
    '--bind', '127.0.0.1', '-::1', // "-" = bind ::1 only where IPv6 exists
    '--dir', dir,
    '--daemonize', 'no',
    '--save', '',
    '--appendonly', 'yes',
    '--maxmemory-policy', 'noeviction',
  ];
}
