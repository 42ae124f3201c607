import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { silentLogger, type Logger } from '../domain/logger.ts';
import { withTimeout } from '../domain/with-timeout.ts';
import { closeRedis, type RedisFactory } from './connection.ts';
import { createJobRecordReader, type QueueState } from './job-records.ts';
import { EVALUATE_JOB_NAME, TRAINING_QUEUE, type EvaluationJobData } from './names.ts';
import { createRedisGuard, isConnectionError } from './redis-guard.ts';

/**
 * Evaluation jobs on the training queue (a second job kind, so the one worker takes training and
 * evaluations one at a time, in its sandboxed child). The BullMQ job id is the evaluation id. The
 * record beside the model version is the evaluation's truth, written by the worker, so finished
 * jobs are removed from Redis at once; the API asks the queue only whether a job that its record
 * calls queued or running still exists. Every call is bounded in time and fails as
 * QUEUE_UNAVAILABLE only when Redis is unreachable (src/queue/redis-guard.ts).
 */

export interface EvaluationJobState {
  readonly state: QueueState;
  readonly attemptsMade: number;
  readonly failedReason: string | null;
}

export interface EvaluationQueue {
  /** Queues the job under data.evaluationId. */
  add(data: EvaluationJobData): Promise<void>;
  /** The job's state, or null when no job has that id (finished, or lost). */
  state(id: string): Promise<EvaluationJobState | null>;
  /** Removes a job that is not running; false when it is locked by a worker or gone. */
  remove(id: string): Promise<boolean>;
  close(): Promise<void>;
}

export interface EvaluationQueueOptions {
  readonly redis: RedisFactory;
  readonly prefix: string;
  readonly attempts: number;
  /** First retry delay; doubles per attempt. */
  readonly backoffMs: number;
  /** Every Redis round trip is bounded by this (default 1000 ms): past it, QUEUE_UNAVAILABLE. */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
}

const CLOSE_TIMEOUT_MS = 2000;

export function createEvaluationQueue(opts: EvaluationQueueOptions): EvaluationQueue {
  const log = opts.logger ?? silentLogger;
  const redis: Redis = opts.redis('producer');
  const guard = createRedisGuard(redis, { timeoutMs: opts.timeoutMs ?? 1000, log });
  const jobOptions: JobsOptions = {
    attempts: opts.attempts,
    backoff: { type: 'exponential', delay: opts.backoffMs },
    // The worker writes the outcome beside the model version before the job ends.
    removeOnComplete: true,
    removeOnFail: true,
  };
  const queue = new Queue(TRAINING_QUEUE, { connection: redis, prefix: opts.prefix });
  queue.on('error', (err: Error) => {
    if (isConnectionError(err, redis)) log.debug({ what: 'evaluation queue', err: err.message }, 'queue connection error');
    else log.warn({ what: 'evaluation queue', err: err.message }, 'queue error');
  });
  const records = createJobRecordReader(redis, queue);
  const run = <T>(op: string, fn: () => Promise<T>): Promise<T> => guard.run(op, fn);

  return {
    add: (data) =>
      run('add evaluation job', async () => {
        await queue.add(EVALUATE_JOB_NAME, data, { ...jobOptions, jobId: data.evaluationId });
      }),
    state: (id) =>
      run('read evaluation job', async () => {
        const rec = await records.get(id);
        return rec ? { state: rec.state, attemptsMade: rec.attemptsMade, failedReason: rec.failedReason } : null;
      }),
    remove: (id) => run('remove evaluation job', async () => (await queue.remove(id)) === 1),
    async close() {
      guard.close();
      await withTimeout(
        queue.close().catch((err: unknown) => log.warn({ err }, 'closing the evaluation queue failed')),
        CLOSE_TIMEOUT_MS,
      ).catch(() => log.warn({ timeoutMs: CLOSE_TIMEOUT_MS }, 'the evaluation queue did not close in time; dropping its connection'));
      await closeRedis(redis);
    },
  };
}
