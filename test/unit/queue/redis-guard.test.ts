import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createRedisGuard, isConnectionError } from '../../../src/queue/redis-guard.ts';

const replyError = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });

describe('isConnectionError', () => {
  const ready = { status: 'ready' } as Pick<Redis, 'status'>;
  it.each([
    ['Connection is closed.', true],
    ["Stream isn't writeable and enableOfflineQueue options is false", true],
    ['Command timed out', true],
    ['Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.', true],
  ])('%s -> %s', (message, expected) => {
    expect(isConnectionError(new Error(message), ready)).toBe(expected);
  });

  it('socket errors count; reply errors from a Redis that is up never do', () => {
    expect(isConnectionError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), ready)).toBe(true);
    expect(isConnectionError(replyError('WRONGTYPE Operation against a key holding the wrong kind of value'), ready)).toBe(false);
    expect(isConnectionError(replyError('OOM command not allowed'), { status: 'reconnecting' } as Pick<Redis, 'status'>)).toBe(false);
    expect(isConnectionError(new Error('Missing key for job 1'), ready)).toBe(false);
  });
});

describe('createRedisGuard', () => {
  const fakeRedis = (status: string) => Object.assign(new EventEmitter(), { status }) as unknown as Redis;
  const log = () => {
    const lines: object[] = [];
    return { lines, error: (o: object) => lines.push(o) };
  };

  it('turns a connection failure into QUEUE_UNAVAILABLE (503)', async () => {
    const guard = createRedisGuard(fakeRedis('ready'), { timeoutMs: 1000, log: log() });
    await expect(guard.run('read job', () => Promise.reject(new Error('Connection is closed.')))).rejects.toMatchObject({
      code: 'QUEUE_UNAVAILABLE',
      status: 503,
    });
  });

  it('passes a reply error on unchanged and logs it with the operation', async () => {
    const l = log();
    const guard = createRedisGuard(fakeRedis('ready'), { timeoutMs: 1000, log: l });
    const err = replyError('WRONGTYPE Operation against a key holding the wrong kind of value');
    await expect(guard.run('read job', () => Promise.reject(err))).rejects.toBe(err);
    expect(l.lines).toEqual([{ op: 'read job', err: err.message }]);
  });

  it('a call that never answers becomes QUEUE_UNAVAILABLE after the timeout', async () => {
    const guard = createRedisGuard(fakeRedis('ready'), { timeoutMs: 50, log: log() });
    await expect(guard.run('read job', () => new Promise(() => undefined))).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
  });

  it('refuses at once while the connection is known to be down', async () => {
    const redis = fakeRedis('reconnecting');
    const guard = createRedisGuard(redis, { timeoutMs: 1000, log: log() });
    redis.emit('error', new Error('connect ECONNREFUSED'));
    let called = false;
    await expect(
      guard.run('read job', async () => {
        called = true;
      }),
    ).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
    expect(called).toBe(false);
  });
});
