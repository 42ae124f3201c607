import { probeRedis } from '../../src/queue/redis-probe.ts';

export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** True when a Redis answers PING with PONG at the URL. */
export async function redisAnswers(url = TEST_REDIS_URL, timeoutMs = 1000): Promise<boolean> {
  return (await probeRedis(url, timeoutMs)) === 'pong';
}

/** A BullMQ prefix no other test file uses, so files never see each other's jobs. */
export function uniquePrefix(file: string): string {
  const base = file.split('/').pop()?.replace(/\W+/g, '-') ?? 'test';
  return `test-${base}-${process.pid}-${Date.now().toString(36)}`;
}
