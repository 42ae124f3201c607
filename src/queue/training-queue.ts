import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents, type Job, type JobsOptions, type JobType } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  cancelKey,
  cancelledJobsKey,
  TRAIN_JOB_NAME,
  TRAINING_QUEUE,
  type TrainingJobData,
  type TrainingJobProgress,
  type TrainingJobResult,
} from './names.ts';

/**
 * The BullMQ side of training jobs (the services layer stays free of BullMQ): enqueue, read jobs as
 * plain records, remove queued ones, the cancel flag, and wake-ups for job events.
 */

export type QueueState = 'waiting' | 'delayed' | 'prioritized' | 'waiting-children' | 'active' | 'completed' | 'failed' | 'unknown';

export interface JobRecord {
  readonly id: string;
  readonly state: QueueState;
  readonly data: TrainingJobData;
  readonly progress: TrainingJobProgress | null;
  readonly result: TrainingJobResult | null;
  readonly failedReason: string | null;
  readonly attemptsMade: number;
  readonly attemptsStarted: number;
  readonly maxAttempts: number;
  readonly createdAt: number;
  readonly processedOn: number | null;
  readonly finishedOn: number | null;
}

export interface TrainingQueueOptions {
  /** A producer connection (src/queue/connection.ts); the caller owns and closes it. */
  readonly redis: Redis;
  /** Factory for the subscriber connection QueueEvents needs (created on first use). */
  readonly subscriber?: () => Redis;
  readonly prefix: string;
  readonly attempts: number;
  /** First retry delay; doubles per attempt. */
  readonly backoffMs: number;
  /** Finished jobs kept for the API (count and age). */
  readonly keepFinished?: { count: number; ageSeconds: number };
}

export const QUEUED_STATES: readonly JobType[] = ['waiting', 'delayed', 'prioritized', 'waiting-children'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function toRecord(job: Job, state: QueueState): JobRecord {
  const progress = isObject(job.progress) ? (job.progress as unknown as TrainingJobProgress) : null;
  const result = isObject(job.returnvalue) ? (job.returnvalue as unknown as TrainingJobResult) : null;
  return {
    id: job.id!,
    state,
    data: job.data as TrainingJobData,
    progress,
    result,
    failedReason: job.failedReason || null,
    attemptsMade: job.attemptsMade ?? 0,
    attemptsStarted: job.attemptsStarted ?? 0,
    maxAttempts: job.opts.attempts ?? 1,
    createdAt: job.timestamp,
    processedOn: job.processedOn ?? null,
    finishedOn: job.finishedOn ?? null,
  };
}

function normaliseState(s: string): QueueState {
  if (s === 'wait' || s === 'paused') return 'waiting';
  const known: QueueState[] = ['waiting', 'delayed', 'prioritized', 'waiting-children', 'active', 'completed', 'failed'];
  return (known as string[]).includes(s) ? (s as QueueState) : 'unknown';
}

export interface TrainingQueue {
  readonly queue: Queue;
  add(data: TrainingJobData): Promise<JobRecord>;
  get(id: string): Promise<JobRecord | null>;
  /** Jobs of these BullMQ types, newest first, at most `limit` per type. */
  list(types: readonly JobType[], start: number, end: number): Promise<JobRecord[]>;
  counts(): Promise<Record<string, number>>;
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
  /** Calls `wake` whenever something happens to job `id`; returns the unsubscribe function. */
  onJobEvent(id: string, wake: () => void): () => void;
  close(): Promise<void>;
}

const CANCEL_FLAG_TTL_S = 7 * 24 * 3600;
const CANCELLED_KEEP = 1000;

export function createTrainingQueue(opts: TrainingQueueOptions): TrainingQueue {
  const { redis, prefix } = opts;
  const keep = opts.keepFinished ?? { count: 1000, ageSeconds: 30 * 24 * 3600 };
  const jobOptions: JobsOptions = {
    attempts: opts.attempts,
    backoff: { type: 'exponential', delay: opts.backoffMs },
    removeOnComplete: { count: keep.count, age: keep.ageSeconds },
    removeOnFail: { count: keep.count, age: keep.ageSeconds },
  };
  const queue = new Queue(TRAINING_QUEUE, { connection: redis, prefix });
  queue.on('error', () => {}); // connection errors surface as rejected calls, with the caller's timeout

  let events: QueueEvents | undefined;
  let eventsRedis: Redis | undefined;
  const listeners = new Map<string, Set<() => void>>();
  const wake = ({ jobId }: { jobId: string }) => listeners.get(jobId)?.forEach((fn) => fn());
  const startEvents = () => {
    if (events || !opts.subscriber) return;
    eventsRedis = opts.subscriber();
    events = new QueueEvents(TRAINING_QUEUE, { connection: eventsRedis, prefix });
    events.on('error', () => {});
    for (const name of ['progress', 'active', 'completed', 'failed', 'removed', 'waiting', 'delayed', 'stalled'] as const) {
      events.on(name, wake as never);
    }
  };

  return {
    queue,
    async add(data) {
      const job = await queue.add(TRAIN_JOB_NAME, data, { ...jobOptions, jobId: randomUUID() });
      return toRecord(job, 'waiting');
    },
    async get(id) {
      const job = await queue.getJob(id);
      if (!job) return null;
      const state = normaliseState(await job.getState());
      return toRecord(job, state);
    },
    async list(types, start, end) {
      const out: JobRecord[] = [];
      for (const t of types) {
        const jobs = await queue.getJobs([t], start, end, false);
        for (const j of jobs) if (j) out.push(toRecord(j, normaliseState(t)));
      }
      return out;
    },
    async counts() {
      return queue.getJobCounts('waiting', 'delayed', 'prioritized', 'waiting-children', 'active', 'completed', 'failed');
    },
    async failedReasons() {
      const ids = await redis.zrange(queue.keys.failed!, '0', '-1');
      const out = new Map<string, string>();
      if (ids.length === 0) return out;
      const pipe = redis.pipeline();
      for (const id of ids) pipe.hget(queue.toKey(id), 'failedReason');
      const res = (await pipe.exec()) ?? [];
      ids.forEach((id, i) => out.set(id, String(res[i]?.[1] ?? '')));
      return out;
    },
    async remove(id) {
      // 1 = removed; 0 = locked by a worker (it has just become active) or already gone.
      return (await queue.remove(id)) === 1;
    },
    async setCancelFlag(id) {
      await redis.set(cancelKey(prefix, id), '1', 'EX', CANCEL_FLAG_TTL_S);
    },
    async hasCancelFlag(id) {
      return (await redis.exists(cancelKey(prefix, id))) === 1;
    },
    async recordCancelled(id, snapshot) {
      const key = cancelledJobsKey(prefix);
      await redis.hset(key, id, snapshot);
      if ((await redis.hlen(key)) > CANCELLED_KEEP * 1.1) {
        const all = await redis.hgetall(key);
        const byAge = Object.entries(all).sort(([, a], [, b]) => finishedOf(a) - finishedOf(b));
        const drop = byAge.slice(0, byAge.length - CANCELLED_KEEP).map(([k]) => k);
        if (drop.length) await redis.hdel(key, ...drop);
      }
    },
    async forgetCancelled(id) {
      await redis.hdel(cancelledJobsKey(prefix), id);
    },
    async getCancelled(id) {
      return redis.hget(cancelledJobsKey(prefix), id);
    },
    async allCancelled() {
      return new Map(Object.entries(await redis.hgetall(cancelledJobsKey(prefix))));
    },
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
      const closing: Promise<unknown>[] = [queue.close().catch(() => {})];
      if (events) closing.push(events.close().catch(() => {}));
      await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, 2000).unref())]);
      if (eventsRedis) eventsRedis.disconnect();
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
