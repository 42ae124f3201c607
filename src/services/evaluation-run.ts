import { labelling } from '../domain/labelling.ts';
import type { Logger } from '../domain/logger.ts';
import { isAppError } from '../errors.ts';
import { evaluateModel } from '../ml/evaluate.ts';
import { modelInputSize } from '../ml/predict.ts';
import { modelFromArtifacts } from '../ml/serialize.ts';
import type { DatasetStore } from '../storage/dataset-store.ts';
import type { EvaluationStore } from '../storage/evaluation-store.ts';
import type { ModelRegistry } from '../storage/model-registry.ts';
import { checkEvaluationClasses, countPatients, scoreEvaluation } from './evaluation-scoring.ts';
import type { EvaluationRecord } from './evaluation-types.ts';
import { isBadDataError } from './training.ts';

/**
 * THE evaluation use-case (the worker's sandboxed child and the command line both call it): the
 * version's weights, its input size read from their graph (as serving does) -> the dataset's
 * images from its cache at that size (the one preprocessing path) -> model probabilities in
 * batches (src/ml/evaluate.ts, progress per batch) -> scored as serving answers
 * (./evaluation-scoring.ts) -> the record beside the version, written at every step: running with
 * progress, then completed with the result, or failed with the error (or queued again when the
 * attempt is to be retried). The model and the dataset images are released in every case.
 */

export interface EvaluationRunDeps {
  readonly registry: Pick<ModelRegistry, 'getVersion' | 'loadArtifacts'>;
  readonly datasets: Pick<DatasetStore, 'openImages'>;
  readonly store: EvaluationStore<EvaluationRecord>;
}

export interface EvaluationRunRequest {
  readonly evaluationId: string;
  readonly modelName: string;
  readonly version: number;
  readonly datasetId: string;
  readonly groupPattern?: string;
  /** When the evaluation was asked for (the record's createdAt when the worker has to write the first one). */
  readonly submittedAt: string;
}

export interface EvaluationRunContext {
  /** Aborting stops between batches; the rejection is an Error named 'AbortError'. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
  readonly log?: Pick<Logger, 'info' | 'warn'>;
  /**
   * False when the caller will retry a failure that is not the data's fault (a queue attempt with
   * attempts left): the record then goes back to queued instead of failed. Default true.
   */
  readonly finalAttempt?: boolean;
  /** Progress is written to the record at most this often (default 500 ms; the end always). */
  readonly progressEveryMs?: number;
}

/** Images per forward pass. Tests that recompute an evaluation use the same, for the same sums. */
export const EVALUATION_BATCH_SIZE = 16;

/** What a failed record says: the error's catalogue code, or what the queue reports for lost workers. */
export function evaluationError(err: unknown): { code: string; message: string } {
  if (isAppError(err)) return { code: err.code, message: err.message };
  if (err instanceof Error && err.name === 'AbortError') {
    return { code: 'WORKER_INTERRUPTED', message: 'The worker running the evaluation shut down before it finished' };
  }
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** Whether retrying could help: not for bad data, a missing version or dataset, or a mismatch. */
export const isRetryableEvaluationError = (err: unknown): boolean => !isBadDataError(err);

export async function runEvaluation(deps: EvaluationRunDeps, req: EvaluationRunRequest, ctx: EvaluationRunContext = {}): Promise<EvaluationRecord> {
  const { store } = deps;
  const { modelName: name, version } = req;
  const everyMs = ctx.progressEveryMs ?? 500;
  let record: EvaluationRecord | null = null;
  // Every write of the record goes through this chain, so a late progress write can never land after the last one.
  let writes: Promise<void> = Promise.resolve();
  const save = (next: EvaluationRecord): Promise<void> => {
    record = next;
    writes = writes.then(() => store.write(name, version, next));
    return writes;
  };

  let model: Awaited<ReturnType<typeof modelFromArtifacts>> | undefined;
  let dataset: Awaited<ReturnType<EvaluationRunDeps['datasets']['openImages']>> | undefined;
  try {
    // The record the API wrote (null when the version is gone, or the worker got here first).
    record = await store.get(name, version, req.evaluationId);
    const info = await deps.registry.getVersion(name, version); // MODEL_NOT_FOUND / VERSION_NOT_FOUND
    const served = labelling(info.metadata);
    model = await modelFromArtifacts(await deps.registry.loadArtifacts(name, version));
    const inputSize = modelInputSize(model);
    dataset = await deps.datasets.openImages(req.datasetId, inputSize); // DATASET_NOT_FOUND
    const { manifest } = dataset;
    const total = dataset.count;
    const base: EvaluationRecord = (record as EvaluationRecord | null) ?? {
      id: req.evaluationId,
      model: name,
      version,
      dataset: { id: manifest.id, name: manifest.name, contentHash: manifest.contentHash },
      status: 'queued',
      ...(req.groupPattern !== undefined ? { groupPattern: req.groupPattern } : {}),
      createdAt: req.submittedAt,
    };
    record = base;
    checkEvaluationClasses(manifest, served.classNames);
    const grouping = req.groupPattern === undefined ? undefined : countPatients(manifest.images.map((img) => img.source), req.groupPattern);

    const startedAt = new Date().toISOString();
    const running = (done: number): EvaluationRecord => {
      const { error: _error, finishedAt: _finished, result: _result, ...rest } = base;
      return { ...rest, status: 'running', startedAt, progress: { done, total } };
    };
    await save(running(0));
    ctx.onProgress?.(0, total);
    ctx.log?.info({ evaluationId: req.evaluationId, model: name, version, datasetId: req.datasetId, images: total, inputSize }, 'evaluation started');

    let lastWrite = Date.now();
    const onBatch = (done: number) => {
      ctx.onProgress?.(done, total);
      const t = Date.now();
      if (done < total && t - lastWrite >= everyMs) {
        lastWrite = t;
        // Scoring goes on while the record is written; a failed progress write is only logged.
        void save(running(done)).catch((err: unknown) => ctx.log?.warn({ err: errorText(err) }, 'could not write evaluation progress'));
      }
    };
    const all = Array.from({ length: total }, (_, i) => i);
    const { probs, labels } = await evaluateModel(model, dataset, all, EVALUATION_BATCH_SIZE, ctx.signal, onBatch);
    const scored = scoreEvaluation(probs, labels, served);
    await writes.catch(() => undefined);
    const completed: EvaluationRecord = {
      ...running(total),
      status: 'completed',
      finishedAt: new Date().toISOString(),
      result: {
        images: total,
        ...(grouping ? { patients: grouping.patients } : {}),
        threshold: scored.threshold,
        calibrated: scored.calibrated,
        metrics: scored.metrics,
        ...(grouping ? { grouping: { pattern: req.groupPattern!, matched: grouping.matched, unmatched: grouping.unmatched } } : {}),
      },
    };
    await save(completed);
    ctx.log?.info({ evaluationId: req.evaluationId, auc: scored.metrics.auc.value, images: total }, 'evaluation completed');
    return completed;
  } catch (err) {
    await writes.catch(() => undefined);
    const current = record as EvaluationRecord | null;
    if (current) {
      const retry = ctx.finalAttempt === false && isRetryableEvaluationError(err);
      const { progress, startedAt: _s, ...rest } = current;
      const next: EvaluationRecord = retry
        ? { ...rest, status: 'queued', ...(progress ? { progress: { done: 0, total: progress.total } } : {}) }
        : { ...current, status: 'failed', finishedAt: new Date().toISOString(), error: evaluationError(err) };
      // The version may be gone (deleted while evaluating): then there is nowhere to write, and nothing to tell.
      await save(next).catch((writeErr: unknown) => ctx.log?.warn({ err: errorText(writeErr) }, 'could not record the evaluation outcome'));
    }
    throw err;
  } finally {
    model?.dispose();
    await dataset?.close();
  }
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
