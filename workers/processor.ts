/**
 * The sandboxed processor of the training queue: training jobs here, evaluation jobs (the queue's
 * second kind, job name 'evaluate') in workers/evaluation-processor.ts. BullMQ forks a child process that imports this file (see
 * workers/worker.ts), so the CPU-bound training never blocks the parent's event loop, which keeps
 * renewing the job lock. One child serves one job at a time and is reused for the next job (the
 * engine is initialised once per child).
 *
 * Outcomes:
 * - success: a new model version, a 'version-published' model event, the job's return value.
 * - cancelled (the API set the cancel flag): stops within one batch, nothing published, the job
 *   fails with reason 'cancelled' (UnrecoverableError: no retry). The API shows it as cancelled.
 * - interrupted (the worker is shutting down: the parent's cancelAllJobs, or SIGTERM/SIGINT here):
 *   stops within one batch, fails with 'interrupted: worker shut down', retried by BullMQ with
 *   backoff while attempts remain (another worker, or this one after its restart, picks it up).
 * - bad data (unknown dataset, too few images, one class, invalid payload): UnrecoverableError
 *   with "CODE: message", never retried.
 * - anything else (disk, Redis, engine): a plain error, retried with exponential backoff.
 * - the parent dies (SIGKILL): the IPC channel closes, this child aborts and exits without
 *   publishing; the stalled job is retried by another worker.
 */
import type { SandboxedJob } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig, type Config } from '../src/config.ts';
import { isAppError } from '../src/errors.ts';
import { initEngine } from '../src/ml/engine.ts';
import { withTimeout } from '../src/domain/with-timeout.ts';
import { closeRedis, createRedis } from '../src/queue/connection.ts';
import { publishModelEvent } from '../src/queue/model-events.ts';
import {
  cancelKey,
  CANCELLED_REASON,
  EVALUATE_JOB_NAME,
  INTERRUPTED_REASON,
  type EvaluationJobData,
  type TrainingJobData,
  type TrainingJobProgress,
  type TrainingJobResult,
  type MetricsSummary,
} from '../src/queue/names.ts';
import { exceedsMemoryBudget } from '../src/domain/training-memory.ts';
import { checkTrainingParams } from '../src/domain/training-params.ts';
import type { EvaluationRunDeps } from '../src/services/evaluation-run.ts';
import { isBadDataError, runTraining, type TrainingDeps } from '../src/services/training.ts';
import { createDatasetStore } from '../src/storage/dataset-store.ts';
import { createEvaluationStore } from '../src/storage/evaluation-store.ts';
import { createModelRegistry } from '../src/storage/model-registry.ts';
import type { BinaryMetrics } from '../src/ml/types.ts';
import type { EvaluationRecord } from '../src/services/evaluation-types.ts';
import { processEvaluation, type EvaluationJobResult } from './evaluation-processor.ts';

/** Progress goes to Redis at most this often (epoch ends and phase changes always). */
const PROGRESS_EVERY_MS = 250;
/** The cancel flag is read at most this often (so a cancel lands within one batch + this). */
const CANCEL_CHECK_EVERY_MS = 500;
const PARENT_GONE_REASON = 'the worker process that owned this job is gone';

interface ChildState {
  config: Config;
  log: pino.Logger;
  deps: TrainingDeps & EvaluationRunDeps;
  redis: Redis;
}

let state: ChildState | undefined;
let current: AbortController | undefined;

function init(): ChildState {
  if (state) return state;
  const config = loadConfig(process.env);
  const log = pino({ level: config.logLevel, base: { proc: 'trainer', pid: process.pid } });
  state = {
    config,
    log,
    deps: {
      datasets: createDatasetStore({ dataDir: config.dataDir }),
      registry: createModelRegistry({ dataDir: config.dataDir, defaultModel: config.defaultModelName }),
      store: createEvaluationStore<EvaluationRecord>({ dataDir: config.dataDir }),
    },
    redis: createRedis(config.redisUrl, 'worker', log),
  };
  // The worker shutting down (Ctrl-C reaches the whole process group) or the parent dying: stop the
  // current training within one batch instead of finishing it.
  const interrupt = () => current?.abort(INTERRUPTED_REASON);
  process.on('SIGTERM', interrupt);
  process.on('SIGINT', interrupt);
  process.on('disconnect', () => {
    log.warn('worker process gone: aborting the current training and exiting');
    if (!current) process.exit(1);
    current.abort(PARENT_GONE_REASON);
    setTimeout(() => process.exit(1), 10_000).unref();
  });
  return state;
}

const summary = ({ roc: _roc, ...rest }: BinaryMetrics): MetricsSummary => rest;

function checkPayload(data: unknown, config: Config): TrainingJobData {
  const d = data as Partial<TrainingJobData> | null;
  if (!d || d.v !== 1 || typeof d.datasetId !== 'string' || typeof d.modelName !== 'string') {
    throw new UnrecoverableError('VALIDATION_FAILED: the job payload is not a version-1 training job');
  }
  checkTrainingParams(d.params);
  // This machine's budget: the API that queued the job may run on a bigger one.
  const tooLarge = exceedsMemoryBudget(d.params!, config.worker.memoryBudgetBytes);
  if (tooLarge) throw new UnrecoverableError(`TRAINING_TOO_LARGE: ${tooLarge.message}`);
  return d as TrainingJobData;
}

/** What the job fails with, decided from why training stopped. */
function failure(err: unknown, controller: AbortController): Error {
  if (controller.signal.aborted) {
    const reason = controller.signal.reason as unknown;
    if (reason === CANCELLED_REASON) return new UnrecoverableError(CANCELLED_REASON);
    if (reason === PARENT_GONE_REASON) return new Error(PARENT_GONE_REASON);
    return new Error(INTERRUPTED_REASON);
  }
  if (err instanceof UnrecoverableError) return err;
  if (isBadDataError(err) && isAppError(err)) return new UnrecoverableError(`${err.code}: ${err.message}`);
  if (err instanceof RangeError) return new UnrecoverableError(`VALIDATION_FAILED: ${err.message}`);
  const message = err instanceof Error ? err.message : String(err);
  return new Error(isAppError(err) ? `${err.code}: ${message}` : message);
}

export default async function trainingProcessor(
  job: SandboxedJob<TrainingJobData, TrainingJobResult>,
  _token?: string,
  signal?: AbortSignal,
): Promise<TrainingJobResult | EvaluationJobResult> {
  const { config, log, deps, redis } = init();
  const controller = new AbortController();
  current = controller;
  const jobLog = log.child({ jobId: job.id, attempt: job.attemptsMade + 1 });
  const onParentAbort = () => controller.abort(typeof signal?.reason === 'string' ? signal.reason : INTERRUPTED_REASON);
  if (signal?.aborted) onParentAbort();
  signal?.addEventListener('abort', onParentAbort, { once: true });

  if (job.name === EVALUATE_JOB_NAME) {
    try {
      await initEngine();
      return await processEvaluation(job as unknown as SandboxedJob<EvaluationJobData, EvaluationJobResult>, { deps, log, signal: controller.signal });
    } finally {
      signal?.removeEventListener('abort', onParentAbort);
      current = undefined;
      if (!process.connected) {
        await closeRedis(redis);
        process.exit(1);
      }
    }
  }

  const flag = cancelKey(config.queuePrefix, job.id);
  let cancelCheckFailing = false;
  const cancelRequested = async (): Promise<boolean> => {
    try {
      const yes = (await withTimeout(redis.exists(flag), 1000, () => new Error('cancel check timed out'))) === 1;
      cancelCheckFailing = false;
      return yes;
    } catch (err) {
      // Redis unreachable: keep training; the next check may get through (logged once per run of failures).
      if (!cancelCheckFailing) jobLog.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not check the cancel flag; training on');
      cancelCheckFailing = true;
      return false;
    }
  };
  let lastCancelCheck = 0;
  let checking = false;
  const maybeCheckCancel = () => {
    const t = Date.now();
    if (checking || t - lastCancelCheck < CANCEL_CHECK_EVERY_MS) return;
    lastCancelCheck = t;
    checking = true;
    void cancelRequested()
      .then((yes) => {
        if (yes) controller.abort(CANCELLED_REASON);
      })
      .finally(() => (checking = false));
  };

  let lastProgress = 0;
  let progressSend: Promise<void> = Promise.resolve();
  const onProgress = (p: TrainingJobProgress, milestone: boolean) => {
    maybeCheckCancel();
    const t = Date.now();
    if (!milestone && t - lastProgress < PROGRESS_EVERY_MS) return;
    lastProgress = t;
    // One update in flight at a time; training goes on while it travels to Redis.
    progressSend = progressSend
      .then(() => job.updateProgress(p as unknown as object))
      .catch((err: unknown) => jobLog.warn({ err: err instanceof Error ? err.message : String(err), epoch: p.epoch }, 'could not report progress'));
  };

  try {
    const data = checkPayload(job.data, config);
    if (await cancelRequested()) throw new UnrecoverableError(CANCELLED_REASON);
    const engine = await initEngine();
    jobLog.info({ datasetId: data.datasetId, model: data.modelName, params: data.params, engine: engine.name }, 'job started');
    const outcome = await runTraining(
      deps,
      { datasetId: data.datasetId, modelName: data.modelName, params: data.params },
      {
        onProgress,
        signal: controller.signal,
        log: jobLog,
        jobId: job.id,
        beforePublish: async () => {
          if (!process.connected) controller.abort(PARENT_GONE_REASON);
          else if (await cancelRequested()) controller.abort(CANCELLED_REASON);
        },
      },
    );
    await progressSend;
    await publishModelEvent(redis, config.queuePrefix, { type: 'version-published', name: outcome.name, version: outcome.version }, jobLog);
    jobLog.info({ version: outcome.version, seconds: Math.round(outcome.seconds) }, 'job completed');
    return {
      model: { name: outcome.name, version: outcome.version },
      metrics: { validation: summary(outcome.metrics.validation), test: summary(outcome.metrics.test) },
      threshold: outcome.threshold,
      bestEpoch: outcome.bestEpoch,
      stoppedEarly: outcome.stoppedEarly,
      history: outcome.history,
      seconds: outcome.seconds,
    };
  } catch (err) {
    await progressSend;
    const out = failure(err, controller);
    const level = controller.signal.aborted ? 'info' : out instanceof UnrecoverableError ? 'warn' : 'error';
    jobLog[level]({ reason: out.message, ...(controller.signal.aborted ? {} : { err }) }, 'job stopped');
    throw out;
  } finally {
    signal?.removeEventListener('abort', onParentAbort);
    current = undefined;
    if (!process.connected) {
      await closeRedis(redis);
      process.exit(1);
    }
  }
}
