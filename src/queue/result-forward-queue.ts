/**
 * The queue that stores every DICOM SR to the PACS named by RESULTS_DICOMWEB_URL: a BullMQ queue
 * whose jobs hold the result id and nothing else (no UID, no patient data ever reaches Redis); the
 * worker regenerates the SR from the encrypted result at send time. Attempts with exponential
 * backoff capped at 15 minutes, so a PACS outage of up to a day (at the defaults) loses nothing;
 * refusals the PACS will repeat (permanent errors) end the job at once. The worker runs in the api
 * process (any replica: results are on the shared DATA_DIR), concurrency 2.
 */
import os from 'node:os';
import { Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { isResultId } from '../domain/ids.ts';
import { silentLogger, type Logger } from '../domain/logger.ts';
import { withTimeout } from '../domain/with-timeout.ts';
import { closeRedis, type RedisFactory } from './connection.ts';
import { createRedisGuard, isConnectionError } from './redis-guard.ts';

export const RESULT_FORWARD_QUEUE = 'results-forward';
const JOB_NAME = 'store-sr';
const BACKOFF_TYPE = 'capped-exponential';
export const MAX_BACKOFF_MS = 15 * 60_000;
const CLOSE_TIMEOUT_MS = 5000;

/** The job's data in Redis: the result id only. */
export interface ResultForwardJobData {
  readonly v: 1;
  readonly resultId: string;
}

export interface ResultForwardOptions {
  readonly redis: RedisFactory;
  readonly prefix: string;
  readonly attempts: number;
  /** First retry delay; doubles per attempt up to MAX_BACKOFF_MS. */
  readonly backoffMs: number;
  /** Every enqueue is bounded by this (default 1000 ms): past it, QUEUE_UNAVAILABLE. */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
}

export interface ResultForwarder {
  /** Queues the result's SR for the PACS (idempotent per result). QUEUE_UNAVAILABLE when Redis is down. */
  enqueue(resultId: string): Promise<void>;
  /**
   * Starts the worker: `send` stores one result's SR; `permanent` tells errors retrying cannot fix.
   */
  startWorker(send: (resultId: string) => Promise<void>, permanent: (err: unknown) => boolean): void;
  /** Jobs per state (for tests and operations). */
  counts(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

export const forwardDelay = (attemptsMade: number, backoffMs: number): number =>
  Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** Math.max(0, attemptsMade - 1));

export function createResultForwarder(opts: ResultForwardOptions): ResultForwarder {
  const log = opts.logger ?? silentLogger;
  const redis: Redis = opts.redis('producer');
  const guard = createRedisGuard(redis, { timeoutMs: opts.timeoutMs ?? 1000, log });
  const queue = new Queue<ResultForwardJobData>(RESULT_FORWARD_QUEUE, { connection: redis, prefix: opts.prefix });
  const onError = (what: string, conn: () => Redis | undefined) => (err: Error) => {
    const c = conn();
    if (c && isConnectionError(err, c)) log.debug({ what, err: err.message }, 'queue connection error');
    else log.warn({ what, err: err.message }, 'queue error');
  };
  queue.on('error', onError('results-forward queue', () => redis));
  const jobOptions: JobsOptions = {
    attempts: opts.attempts,
    backoff: { type: BACKOFF_TYPE },
    removeOnComplete: { count: 1000, age: 7 * 24 * 3600 },
    removeOnFail: { count: 5000, age: 30 * 24 * 3600 },
  };
  let worker: Worker<ResultForwardJobData> | undefined;
  let workerRedis: Redis | undefined;

  return {
    async enqueue(resultId) {
      if (!isResultId(resultId)) throw new Error('result forwarder: not a result id');
      await guard.run('queue SR for the PACS', () =>
        queue.add(JOB_NAME, { v: 1, resultId }, { ...jobOptions, jobId: `fwd-${resultId}` }),
      );
    },

    startWorker(send, permanent) {
      if (worker) return;
      workerRedis = opts.redis('worker');
      const info = (job: Job<ResultForwardJobData> | undefined) =>
        job ? { jobId: job.id, resultId: job.data.resultId, attempt: job.attemptsMade, of: job.opts.attempts ?? 1 } : {};
      worker = new Worker<ResultForwardJobData>(
        RESULT_FORWARD_QUEUE,
        async (job) => {
          const { v, resultId } = job.data;
          if (v !== 1 || !isResultId(resultId)) throw new UnrecoverableError('unknown job payload');
          try {
            await send(resultId);
          } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            if (permanent(err)) throw new UnrecoverableError(message);
            throw err instanceof Error ? err : new Error(message);
          }
        },
        {
          connection: workerRedis,
          prefix: opts.prefix,
          name: `${os.hostname()}:${process.pid}:results-forward`,
          concurrency: 2,
          settings: { backoffStrategy: (attemptsMade: number) => forwardDelay(attemptsMade, opts.backoffMs) },
        },
      );
      worker.on('completed', (job) => log.info(info(job), 'SR stored to the PACS'));
      worker.on('failed', (job, err) => {
        const willRetry = job !== undefined && !(err instanceof UnrecoverableError) && job.attemptsMade < (job.opts.attempts ?? 1);
        log.warn({ ...info(job), reason: err.message, willRetry }, willRetry ? 'storing an SR to the PACS failed; will retry' : 'storing an SR to the PACS failed for good');
      });
      worker.on('error', onError('results-forward worker', () => workerRedis));
    },

    counts: () =>
      guard.run('count forward jobs', () => queue.getJobCounts('waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized')),

    async close() {
      guard.close();
      const closing: Promise<unknown>[] = [queue.close().catch((err: unknown) => log.warn({ err }, 'closing the results-forward queue failed'))];
      if (worker) closing.push(worker.close().catch((err: unknown) => log.warn({ err }, 'closing the results-forward worker failed')));
      await withTimeout(Promise.all(closing), CLOSE_TIMEOUT_MS).catch(() =>
        log.warn({ timeoutMs: CLOSE_TIMEOUT_MS }, 'the results-forward queue did not close in time; dropping its connections'),
      );
      if (workerRedis) await closeRedis(workerRedis);
      await closeRedis(redis);
    },
  };
}
