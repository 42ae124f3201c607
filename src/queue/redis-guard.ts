import type { Redis } from 'ioredis';
import type { Logger } from '../domain/logger.ts';
import { withTimeout } from '../domain/with-timeout.ts';
import { AppError } from '../errors.ts';

/**
 * Runs the API's Redis round trips on a fail-fast producer connection: each one bounded in time,
 * refused at once while the connection is known to be down. Only a connection failure (not
 * connected, closed, no answer in time) becomes QUEUE_UNAVAILABLE (503). Any other failure (a
 * reply error such as WRONGTYPE or OOM from a Redis that is up, a malformed job) is logged with the
 * operation's name and passed on unchanged: it is not an outage, and the caller decides.
 */
export interface RedisGuard {
  run<T>(op: string, fn: () => Promise<T>): Promise<T>;
  close(): void;
}

export const queueUnavailable = (cause?: unknown): AppError =>
  new AppError('QUEUE_UNAVAILABLE', 'The job queue (Redis) is unavailable; try again shortly', undefined, { cause });

const CONNECTION_MESSAGES = /Connection is closed|Stream isn't writeable|enableOfflineQueue|Command timed out|max retries per request|connect ETIMEDOUT/i;
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH']);

/**
 * True for the failures of a connection that is down or going down: ioredis's own connection
 * errors, socket errors, or anything while the connection is not ready. ioredis names the server's
 * error replies 'ReplyError'; those come from a Redis that is up and never count.
 */
export function isConnectionError(err: unknown, redis: Pick<Redis, 'status'>): boolean {
  if (!(err instanceof Error) || err.name === 'ReplyError') return false;
  const code = (err as NodeJS.ErrnoException).code;
  return redis.status !== 'ready' || CONNECTION_MESSAGES.test(err.message) || (code !== undefined && CONNECTION_CODES.has(code));
}

export function createRedisGuard(redis: Redis, opts: { timeoutMs: number; log: Pick<Logger, 'error'> }): RedisGuard {
  const { timeoutMs, log } = opts;
  let closed = false;
  // Once a connection attempt failed, requests fail at once until Redis is back (no waiting).
  let downSinceLastReady = false;
  const onReady = () => (downSinceLastReady = false);
  const onDown = () => (downSinceLastReady = true);
  redis.on('ready', onReady);
  redis.on('close', onDown);
  redis.on('error', onDown);

  /** Waits briefly for the connection (a fresh process is still connecting); 503 when Redis is down. */
  async function ensureConnected(): Promise<void> {
    if (closed) throw queueUnavailable();
    if (redis.status === 'ready') return;
    if (redis.status === 'end' || downSinceLastReady) throw queueUnavailable();
    const ok = await new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        redis.off('ready', ready);
        resolve(v);
      };
      const ready = () => done(true);
      const timer = setTimeout(() => done(false), Math.min(timeoutMs, 500));
      redis.on('ready', ready);
    });
    if (!ok) throw queueUnavailable();
  }

  return {
    async run(op, fn) {
      await ensureConnected();
      try {
        return await withTimeout(fn(), timeoutMs, () => queueUnavailable(new Error(`Redis did not answer ${op} within ${timeoutMs} ms`)));
      } catch (err) {
        if (err instanceof AppError) throw err;
        if (isConnectionError(err, redis)) throw queueUnavailable(err);
        log.error({ op, err: err instanceof Error ? err.message : String(err) }, 'a queue operation failed with Redis up');
        throw err;
      }
    },
    close() {
      closed = true;
      redis.off('ready', onReady);
      redis.off('close', onDown);
      redis.off('error', onDown);
    },
  };
}
