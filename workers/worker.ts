import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../src/config.ts';
import { MALLOC_ENV } from '../src/malloc-env.ts';
import type { Logger } from '../src/domain/logger.ts';
import { closeRedis, createRedis } from '../src/queue/connection.ts';
import { EVALUATE_JOB_NAME, INTERRUPTED_REASON, TRAINING_QUEUE } from '../src/queue/names.ts';

/**
 * The training worker: a BullMQ Worker on the 'training' queue (training jobs and evaluation
 * jobs, the queue's two kinds), one job at a time, with a
 * SANDBOXED processor (workers/processor.ts in a forked child process). The parent only moves
 * jobs and renews their locks, so hours of CPU-bound training never starve lock renewal.
 *
 * The child is forked with:
 * - `--import <tsx loader>`: the processor is TypeScript, and a fork does not inherit the
 *   on-the-fly transform of its parent (vitest's in particular), so the loader is named
 *   explicitly; the same works under `npm run worker` (tsx) and under vitest.
 * - the malloc setting (MALLOC_ENV) in its environment: glibc reads it at process start only, and
 *   only the trainer benefits (the parent would never return freed memory to the system).
 * - the config's essentials as environment variables, so the child's loadConfig() sees the same
 *   data dir, Redis and queue prefix even when the parent's config did not come from process.env.
 */

export interface TrainingWorker {
  readonly worker: Worker;
  /** Aborts the running job within one batch (it fails as interrupted and is retried), then closes. */
  shutdown(): Promise<void>;
}

const require = createRequire(import.meta.url);
export const PROCESSOR_FILE = fileURLToPath(new URL('./processor.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(require.resolve('tsx')).href;

/** Environment of the forked processor. */
export function childEnv(config: Config, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    ...MALLOC_ENV,
    DATA_DIR: config.dataDir,
    REDIS_URL: config.redisUrl,
    QUEUE_PREFIX: config.queuePrefix,
    LOG_LEVEL: config.logLevel,
    ENGINE: config.engine,
    DEFAULT_MODEL_NAME: config.defaultModelName,
    TRAINING_MEMORY_BUDGET: String(config.worker.memoryBudgetBytes),
    // The child never serves HTTP; keys in its environment would only be a liability.
    API_KEYS: '',
  };
}

export function startTrainingWorker(opts: { config: Config; logger: Logger; name?: string }): TrainingWorker {
  const { config, logger } = opts;
  const connection: Redis = createRedis(config.redisUrl, 'worker', logger);
  const worker = new Worker(TRAINING_QUEUE, PROCESSOR_FILE, {
    connection,
    prefix: config.queuePrefix,
    name: opts.name ?? `${os.hostname()}:${process.pid}`,
    concurrency: 1,
    lockDuration: config.worker.lockDurationMs,
    stalledInterval: config.worker.stalledIntervalMs,
    maxStalledCount: 1,
    useWorkerThreads: false,
    workerForkOptions: {
      execArgv: ['--import', TSX_LOADER],
      env: childEnv(config),
    },
  });
  // attemptsMade counts finished attempts: the running one is attemptsMade + 1.
  // kind: 'train' or 'evaluate' (evaluations share the queue, the worker and its sandboxed child).
  const jobInfo = (job: Job | undefined, finished: boolean) =>
    job ? { jobId: job.id, kind: job.name, attempt: job.attemptsMade + (finished ? 0 : 1), of: job.opts.attempts ?? 1 } : {};
  const kind = (job: Job | undefined) => (job?.name === EVALUATE_JOB_NAME ? 'evaluation' : 'training');
  worker.on('active', (job) => logger.info(jobInfo(job, false), `${kind(job)} job active`));
  worker.on('completed', (job) => logger.info(jobInfo(job, true), `${kind(job)} job completed`));
  worker.on('failed', (job, err) => logger.warn({ ...jobInfo(job, true), reason: err.message }, `${kind(job)} job failed`));
  worker.on('stalled', (jobId) => logger.warn({ jobId }, 'stalled job moved back to the queue'));
  worker.on('error', (err) => logger.error({ err: err.message }, 'worker error'));

  let closing: Promise<void> | undefined;
  return {
    worker,
    shutdown() {
      closing ??= (async () => {
        worker.cancelAllJobs(INTERRUPTED_REASON);
        await worker.close();
        await closeRedis(connection);
      })();
      return closing;
    },
  };
}
