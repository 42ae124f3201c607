import { Redis, type RedisOptions } from 'ioredis';

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
    // BullMQ calls INFO on its own; the default ready check only adds latency on reconnects.
    enableReadyCheck: true,
    connectionName: `cxr-${purpose}-${process.pid}`,
  };
  if (purpose === 'producer') {
    return { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 3000 };
  }
  return { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null };
}

export function createRedis(url: string, purpose: RedisPurpose): Redis {
  const redis = new Redis(url, redisOptions(purpose));
  // Without a listener ioredis prints every failed reconnect as an unhandled 'error' event.
  redis.on('error', () => {});
  return redis;
}

export function redisFactory(url: string): RedisFactory {
  return (purpose) => createRedis(url, purpose);
}

/** Rejects with `onTimeout()` unless `p` settles within `ms` (so no caller waits on a dead Redis). */
export function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref?.();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Closes a connection politely, or drops it when Redis does not answer. */
export async function closeRedis(redis: Redis, ms = 1000): Promise<void> {
  if (redis.status === 'end') return;
  try {
    if (redis.status === 'ready') await withTimeout(redis.quit(), ms, () => new Error('quit timed out'));
    else redis.disconnect();
  } catch {
    redis.disconnect();
  }
}
