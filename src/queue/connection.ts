import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../domain/logger.ts';
import { withTimeout } from '../domain/with-timeout.ts';

/**
 * Redis connections, one kind per purpose:
 * - producer (the API: submit, read, cancel): fails fast when Redis is down (no offline queue, one
 *   retry, short connect and command timeouts) so an HTTP request answers 503 at once; it keeps
 *   reconnecting in the background so the API recovers when Redis returns.
 * - worker / subscriber (BullMQ workers, QueueEvents, pub/sub): `maxRetriesPerRequest: null` as
 *   BullMQ requires, offline queue on, reconnect forever.
 */
export type RedisPurpose = 'producer' | 'worker' | 'subscriber';
export type RedisFactory = (purpose: RedisPurpose) => Redis;

const reconnect = (times: number): number => Math.min(200 * 2 ** Math.min(times, 5), 2000);

export function redisOptions(purpose: RedisPurpose): RedisOptions {
  const common: RedisOptions = {
    connectTimeout: 2000,
    retryStrategy: reconnect,
    // 'ready' waits until INFO says Redis has finished loading its data set, so a Redis that is
    // replaying its append-only file after a restart is not sent commands it would answer LOADING.
    enableReadyCheck: true,
    connectionName: `cxr-${purpose}-${process.pid}`,
  };
  if (purpose === 'producer') {
    return { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 3000 };
  }
  return { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null };
}

/**
 * Logs a connection's errors without flooding: the first error of an outage at warn, the repeats
 * of every failed reconnect at debug, and 'ready' again at info. Attach to ioredis connections and
 * to BullMQ objects (which re-emit their connection's errors).
 */
export function logConnectionErrors(
  emitter: { on(event: 'error', fn: (err: Error) => void): unknown; on(event: 'ready', fn: () => void): unknown },
  log: Pick<Logger, 'debug' | 'info' | 'warn'>,
  what: string,
): void {
  let down = false;
  emitter.on('error', (err: Error) => {
    if (down) {
      log.debug({ what, err: err.message }, 'Redis still unavailable');
      return;
    }
    down = true;
    log.warn({ what, err: err.message }, 'Redis connection error');
  });
  emitter.on('ready', () => {
    if (down) log.info({ what }, 'Redis connection ready again');
    down = false;
  });
}

export function createRedis(url: string, purpose: RedisPurpose, log?: Pick<Logger, 'debug' | 'info' | 'warn'>): Redis {
  const redis = new Redis(url, redisOptions(purpose));
  // Without an 'error' listener ioredis prints every failed reconnect as an unhandled event; a
  // caller without a logger (tests, one-shot tools) sees the failures as rejected commands.
  if (log) logConnectionErrors(redis, log, `${purpose} connection`);
  else redis.on('error', () => undefined);
  return redis;
}

export function redisFactory(url: string, log?: Pick<Logger, 'debug' | 'info' | 'warn'>): RedisFactory {
  return (purpose) => createRedis(url, purpose, log);
}

/** Closes a connection politely, or drops it when Redis does not answer. */
export async function closeRedis(redis: Redis, ms = 1000): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  try {
    await withTimeout(redis.quit(), ms, () => new Error('quit timed out'));
  } catch {
    // QUIT unanswered: the connection is dropped instead, which is all closing needs.
    redis.disconnect();
  }
}
