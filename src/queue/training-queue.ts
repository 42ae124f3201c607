import { Queue, QueueEvents, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { silentLogger, type Logger } from '../domain/logger.ts';
import { withTimeout } from '../domain/with-timeout.ts';
import { closeRedis, type RedisFactory } from './connection.ts';
import { createJobRecordReader, newJobId, type JobRecord, type ListableState } from './job-records.ts';
import { cancelKey, cancelledJobsKey, EVALUATION_JOB_ID_PREFIX, TRAIN_JOB_NAME, TRAINING_QUEUE, type TrainingJobData } from './names.ts';
import { createRedisGuard, isConnectionError } from './redis-guard.ts';

/**
 * The BullMQ side of training jobs, behind a small interface the services layer takes: enqueue
 * (with ids this service issues), read jobs as plain records (atomically), remove queued ones, the
 * cancel flag and cancelled snapshots, worker count, and wake-ups for job events. It owns its Redis
 * connections; every call is bounded in time and fails as QUEUE_UNAVAILABLE only when Redis is
 * unreachable (src/queue/redis-guard.ts).
 */

export type { JobRecord, ListableState, QueueState } from './job-records.ts';
export { QUEUED_STATES } from './job-records.ts';

export interface TrainingQueueOptions {
  /** Opens the producer connection (at once) and the subscriber QueueEvents needs (on first use). */
  readonly redis: RedisFactory;
  readonly prefix: string;
  readonly attempts: number;
  /** First retry delay; doubles per attempt. */
  readonly backoffMs: number;
  /** Every Redis round trip is bounded by this (default 1000 ms): past it, QUEUE_UNAVAILABLE. */
  readonly timeoutMs?: number;
  /** Finished jobs kept for the API (count and age). */
  readonly keepFinished?: { count: number; ageSeconds: number };
  readonly logger?: Logger;
}

export interface TrainingQueue {
  add(data: TrainingJobData): Promise<JobRecord>;
  /** Any job of the queue (evaluation jobs too: their records carry name 'evaluate'). */
  get(id: string): Promise<JobRecord | null>;
  /** Jobs in one state, newest first, positions start..end (inclusive; -1 = the last). */
  list(state: ListableState, start: number, end: number): Promise<JobRecord[]>;
  /** Training jobs per state (the evaluation jobs sharing the queue are not counted). */
  counts(): Promise<Record<ListableState, number>>;
  /** failedReason of every failed job (for telling cancelled from failed without loading them). */
  failedReasons(): Promise<Map<string, string>>;
  /** Removes a job that is not running; false when it is locked by a worker (it just started). */
  remove(id: string): Promise<boolean>;
  setCancelFlag(id: string): Promise<void>;
  hasCancelFlag(id: string): Promise<boolean>;
  recordCancelled(id: string, snapshot: string): Promise<void>;
  forgetCancelled(id: string): Promise<void>;
  getCancelled(id: string): Promise<string | null>;
  allCancelled(): Promise<Map<string, string>>;
  /** Training workers connected to the queue. */
  workers(): Promise<number>;
  /** Calls `wake` whenever something happens to job `id`; returns the unsubscribe function. */
  onJobEvent(id: string, wake: () => void): () => void;
  close(): Promise<void>;
}

// KEYS: state lists and sorted sets. ARGV[1]: an id prefix. Returns how many ids in each start with it.
const COUNT_PREFIXED = `
local prefix = ARGV[1]
local out = {}
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key).ok
  local ids = {}
  if kind == 'list' then ids = redis.call('LRANGE', key, 0, -1)
  elseif kind == 'zset' then ids = redis.call('ZRANGE', key, 0, -1) end
  local n = 0
  for _, id in ipairs(ids) do
    if string.sub(id, 1, #prefix) == prefix then n = n + 1 end
  end
  out[i] = n
end
return out
`;

/** Where evaluation jobs can be counted, per listable state. */
const EVALUATION_COUNT_KEYS: ReadonlyArray<[ListableState, string]> = [
  ['waiting', 'wait'],
  ['delayed', 'delayed'],
  ['prioritized', 'prioritized'],
  ['waiting-children', 'waiting-children'],
  ['active', 'active'],
  ['completed', 'completed'],
  ['failed', 'failed'],
];

const CANCEL_FLAG_TTL_S = 7 * 24 * 3600;
const CANCELLED_KEEP = 1000;
const CLOSE_TIMEOUT_MS = 2000;

export function createTrainingQueue(opts: TrainingQueueOptions): TrainingQueue {
  const { prefix } = opts;
  const log = opts.logger ?? silentLogger;
  const redis: Redis = opts.redis('producer');
  const guard = createRedisGuard(redis, { timeoutMs: opts.timeoutMs ?? 1000, log });
  const keep = opts.keepFinished ?? { count: 1000, ageSeconds: 30 * 24 * 3600 };
  const jobOptions: JobsOptions = {
    attempts: opts.attempts,
    backoff: { type: 'exponential', delay: opts.backoffMs },
    removeOnComplete: { count: keep.count, age: keep.ageSeconds },
    removeOnFail: { count: keep.count, age: keep.ageSeconds },
  };
  const queue = new Queue(TRAINING_QUEUE, { connection: redis, prefix });
  // BullMQ re-emits its connection's errors (already logged by the connection); log the rest.
  const onBullError = (what: string, conn: () => Redis | undefined) => (err: Error) => {
    const c = conn();
    if (c && isConnectionError(err, c)) log.debug({ what, err: err.message }, 'queue connection error');
    else log.warn({ what, err: err.message }, 'queue error');
  };
  queue.on('error', onBullError('training queue', () => redis));
  const records = createJobRecordReader(redis, queue);

  let events: QueueEvents | undefined;
  let eventsRedis: Redis | undefined;
  const listeners = new Map<string, Set<() => void>>();
  const wake = ({ jobId }: { jobId: string }) => listeners.get(jobId)?.forEach((fn) => fn());
  const startEvents = () => {
    if (events) return;
    eventsRedis = opts.redis('subscriber');
    events = new QueueEvents(TRAINING_QUEUE, { connection: eventsRedis, prefix });
    events.on('error', onBullError('training queue events', () => eventsRedis));
    for (const name of ['progress', 'active', 'completed', 'failed', 'removed', 'waiting', 'delayed', 'stalled'] as const) {
      events.on(name, wake as never);
    }
  };

  const cancelled = cancelledJobsKey(prefix);
  const run = <T>(op: string, fn: () => Promise<T>): Promise<T> => guard.run(op, fn);

  return {
    add: (data) =>
      run('add job', async () => {
        const job = await queue.add(TRAIN_JOB_NAME, data, { ...jobOptions, jobId: newJobId() });
        return {
          id: job.id!,
          name: TRAIN_JOB_NAME,
          state: 'waiting',
          data,
          progress: null,
          result: null,
          failedReason: null,
          attemptsMade: 0,
          attemptsStarted: 0,
          maxAttempts: opts.attempts,
          createdAt: job.timestamp,
          processedOn: null,
          finishedOn: null,
        } satisfies JobRecord;
      }),
    get: (id) => run('read job', () => records.get(id)),
    list: (state, start, end) => run('list jobs', () => records.list(state, start, end)),
    counts: () =>
      run('count jobs', async () => {
        const all = (await queue.getJobCounts('waiting', 'delayed', 'prioritized', 'waiting-children', 'active', 'completed', 'failed')) as Record<
          ListableState,
          number
        >;
        const keys = EVALUATION_COUNT_KEYS.map(([, key]) => queue.keys[key]!);
        const evaluations = (await redis.eval(COUNT_PREFIXED, keys.length, ...keys, EVALUATION_JOB_ID_PREFIX)) as number[];
        const out = { ...all };
        EVALUATION_COUNT_KEYS.forEach(([state], i) => {
          out[state] = Math.max(0, (out[state] ?? 0) - (evaluations[i] ?? 0));
        });
        return out;
      }),
    failedReasons: () =>
      run('read failure reasons', async () => {
        const ids = await redis.zrange(queue.keys.failed!, '0', '-1');
        const out = new Map<string, string>();
        if (ids.length === 0) return out;
        const pipe = redis.pipeline();
        for (const id of ids) pipe.hget(queue.toKey(id), 'failedReason');
        const res = (await pipe.exec()) ?? [];
        ids.forEach((id, i) => out.set(id, String(res[i]?.[1] ?? '')));
        return out;
      }),
    // 1 = removed; 0 = locked by a worker (it has just become active) or already gone.
    remove: (id) => run('remove job', async () => (await queue.remove(id)) === 1),
    setCancelFlag: (id) =>
      run('set cancel flag', async () => {
        await redis.set(cancelKey(prefix, id), '1', 'EX', CANCEL_FLAG_TTL_S);
      }),
    hasCancelFlag: (id) => run('read cancel flag', async () => (await redis.exists(cancelKey(prefix, id))) === 1),
    recordCancelled: (id, snapshot) =>
      run('record cancelled job', async () => {
        await redis.hset(cancelled, id, snapshot);
        if ((await redis.hlen(cancelled)) > CANCELLED_KEEP * 1.1) {
          const all = await redis.hgetall(cancelled);
          const byAge = Object.entries(all).sort(([, a], [, b]) => finishedOf(a) - finishedOf(b));
          const drop = byAge.slice(0, byAge.length - CANCELLED_KEEP).map(([k]) => k);
          if (drop.length) await redis.hdel(cancelled, ...drop);
        }
      }),
    forgetCancelled: (id) =>
      run('forget cancelled job', async () => {
        await redis.hdel(cancelled, id);
      }),
    getCancelled: (id) => run('read cancelled job', () => redis.hget(cancelled, id)),
    allCancelled: () => run('read cancelled jobs', async () => new Map(Object.entries(await redis.hgetall(cancelled)))),
    workers: () => run('count workers', () => queue.getWorkersCount()),
    onJobEvent(id, fn) {
      startEvents();
      let set = listeners.get(id);
      if (!set) listeners.set(id, (set = new Set()));
      set.add(fn);
      return () => {
        set.delete(fn);
        if (set.size === 0) listeners.delete(id);
      };
    },
    async close() {
      guard.close();
      const closing: Promise<unknown>[] = [
        queue.close().catch((err: unknown) => log.warn({ err }, 'closing the training queue failed')),
      ];
      if (events) closing.push(events.close().catch((err: unknown) => log.warn({ err }, 'closing the queue events failed')));
      await withTimeout(Promise.all(closing), CLOSE_TIMEOUT_MS).catch(() =>
        log.warn({ timeoutMs: CLOSE_TIMEOUT_MS }, 'the training queue did not close in time; dropping its connections'),
      );
      if (eventsRedis) eventsRedis.disconnect();
      await closeRedis(redis);
    },
  };
}

function finishedOf(snapshot: string): number {
  try {
    const v = JSON.parse(snapshot) as { finishedAt?: string };
    return v.finishedAt ? Date.parse(v.finishedAt) : 0;
  } catch {
    return 0;
  }
}
