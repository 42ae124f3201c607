/**
 * Evaluation jobs in the sandboxed child (workers/processor.ts hands them here by job name): the
 * version scores every image of the dataset (src/services/evaluation-run.ts), and the record
 * beside the version says how it went before the job ends, so the job itself keeps nothing.
 *
 * Outcomes, as for training jobs:
 * - success: the completed record; the job's return value is a short summary.
 * - bad data (version or dataset gone, classes that differ, an invalid payload): the record says
 *   failed, UnrecoverableError "CODE: message", never retried.
 * - interrupted (the worker is shutting down) or anything else (disk, engine): retried with
 *   backoff while attempts remain (the record goes back to queued), failed on the last attempt.
 */
import { UnrecoverableError, type SandboxedJob } from 'bullmq';
import { isEvaluationId, isModelName, isVersionNumber, isDatasetId } from '../src/domain/ids.ts';
import type { Logger } from '../src/domain/logger.ts';
import { isAppError } from '../src/errors.ts';
import { INTERRUPTED_REASON, type EvaluationJobData } from '../src/queue/names.ts';
import { isRetryableEvaluationError, runEvaluation, type EvaluationRunDeps } from '../src/services/evaluation-run.ts';

/** The job's return value (removed from Redis at once; the record has everything). */
export interface EvaluationJobResult {
  readonly evaluationId: string;
  readonly images: number;
  readonly auc: number;
}

export function checkEvaluationPayload(data: unknown): EvaluationJobData {
  const d = data as Partial<EvaluationJobData> | null;
  const ok =
    d !== null &&
    typeof d === 'object' &&
    d.v === 1 &&
    isEvaluationId(d.evaluationId) &&
    isModelName(d.modelName) &&
    isVersionNumber(d.version) &&
    isDatasetId(d.datasetId) &&
    typeof d.submittedAt === 'string' &&
    (d.groupPattern === undefined || typeof d.groupPattern === 'string');
  if (!ok) throw new UnrecoverableError('VALIDATION_FAILED: the job payload is not a version-1 evaluation job');
  return d as EvaluationJobData;
}

export async function processEvaluation(
  job: SandboxedJob<EvaluationJobData, EvaluationJobResult>,
  ctx: { readonly deps: EvaluationRunDeps; readonly log: Logger & { child(b: object): Logger }; readonly signal: AbortSignal },
): Promise<EvaluationJobResult> {
  const jobLog = ctx.log.child({ evaluationId: job.id, attempt: job.attemptsMade + 1 });
  const data = checkEvaluationPayload(job.data);
  const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  try {
    const rec = await runEvaluation(
      ctx.deps,
      {
        evaluationId: data.evaluationId,
        modelName: data.modelName,
        version: data.version,
        datasetId: data.datasetId,
        ...(data.groupPattern !== undefined ? { groupPattern: data.groupPattern } : {}),
        submittedAt: data.submittedAt,
      },
      { signal: ctx.signal, log: jobLog, finalAttempt },
    );
    return { evaluationId: rec.id, images: rec.result?.images ?? 0, auc: rec.result?.metrics.auc.value ?? 0 };
  } catch (err) {
    if (ctx.signal.aborted) {
      jobLog.info({ reason: String(ctx.signal.reason) }, 'evaluation interrupted');
      throw new Error(typeof ctx.signal.reason === 'string' ? ctx.signal.reason : INTERRUPTED_REASON);
    }
    const message = err instanceof Error ? err.message : String(err);
    const reason = isAppError(err) ? `${err.code}: ${message}` : message;
    if (!isRetryableEvaluationError(err)) {
      jobLog.warn({ reason }, 'evaluation failed');
      throw new UnrecoverableError(reason);
    }
    jobLog.error({ err, finalAttempt }, 'evaluation attempt failed');
    throw new Error(reason);
  }
}
