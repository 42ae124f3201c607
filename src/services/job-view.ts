import type { EpochMetrics } from '../ml/types.ts';
import type { JobRecord } from '../queue/job-records.ts';
import { CANCELLED_REASON, INTERRUPTED_REASON, TRAIN_JOB_NAME, type TrainingJobProgress, type TrainingJobResult } from '../queue/names.ts';
import type { TrainingParams } from '../domain/training-params.ts';

/** How a queue record reads through the API: status, progress, result and errors. */

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'completed', 'failed', 'cancelled'];
export const TERMINAL: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);

export type ProgressView = Omit<TrainingJobProgress, 'history'>;

export interface JobError {
  /** SCREAMING_CASE: an error-catalogue code (DATASET_TOO_SMALL...), or WORKER_INTERRUPTED, WORKER_LOST, CANCELLED, TRAINING_FAILED. */
  readonly code: string;
  readonly message: string;
}

export interface TrainingJobView {
  readonly id: string;
  readonly status: JobStatus;
  readonly datasetId: string;
  readonly model: { readonly name: string };
  readonly params: TrainingParams;
  readonly progress: ProgressView | null;
  readonly history: readonly EpochMetrics[];
  readonly result: TrainingJobResult | null;
  /** Why it failed or was cancelled (final states only). */
  readonly error: JobError | null;
  /** The failure of the previous attempt while a retry is queued or running. */
  readonly lastError: JobError | null;
  readonly attempts: { readonly made: number; readonly max: number };
  /** A cancel was asked for and the running job has not stopped yet. */
  readonly cancelRequested: boolean;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

const iso = (ms: number | null | undefined): string | null => (ms ? new Date(ms).toISOString() : null);

/** Splits a BullMQ failedReason into the code and message the API shows. */
export function parseFailedReason(reason: string): JobError {
  if (reason === CANCELLED_REASON) return { code: 'CANCELLED', message: 'Cancelled by request' };
  if (reason === INTERRUPTED_REASON) {
    return { code: 'WORKER_INTERRUPTED', message: 'The worker running the job shut down; the job is retried while attempts remain' };
  }
  if (reason.includes('stalled more than allowable limit')) {
    return { code: 'WORKER_LOST', message: 'The worker running the job stopped (killed or crashed) more often than allowed' };
  }
  const m = /^([A-Z][A-Z0-9_]{2,}): ([\s\S]*)$/.exec(reason);
  if (m) return { code: m[1]!, message: m[2]! };
  return { code: 'TRAINING_FAILED', message: reason || 'Training failed' };
}

export function statusOf(rec: JobRecord): JobStatus | null {
  switch (rec.state) {
    case 'waiting':
    case 'delayed':
    case 'prioritized':
    case 'waiting-children':
      return 'queued';
    case 'active':
      return 'running';
    case 'completed':
      return 'completed';
    case 'failed':
      return rec.failedReason === CANCELLED_REASON ? 'cancelled' : 'failed';
    default:
      return null;
  }
}

function progressOf(p: TrainingJobProgress | null): ProgressView | null {
  if (!p) return null;
  const { history: _history, ...rest } = p;
  return rest;
}

/** null for jobs that are not training jobs (evaluations share the queue) or in no known state. */
export function toView(rec: JobRecord, cancelRequested = false): TrainingJobView | null {
  if (rec.name !== undefined && rec.name !== TRAIN_JOB_NAME) return null;
  const status = statusOf(rec);
  if (!status) return null;
  const finished = TERMINAL.has(status);
  const failure = rec.failedReason ? parseFailedReason(rec.failedReason) : null;
  const result = status === 'completed' ? rec.result : null;
  return {
    id: rec.id,
    status,
    datasetId: rec.data.datasetId,
    model: { name: result?.model.name ?? rec.data.modelName },
    params: rec.data.params,
    progress: progressOf(rec.progress),
    history: result?.history ?? rec.progress?.history ?? [],
    result,
    error: finished && status !== 'completed' ? failure : null,
    lastError: !finished && rec.attemptsMade > 0 ? failure : null,
    attempts: { made: rec.attemptsMade, max: rec.maxAttempts },
    cancelRequested: status === 'running' && cancelRequested,
    createdAt: iso(rec.createdAt)!,
    startedAt: iso(rec.processedOn),
    finishedAt: finished ? iso(rec.finishedOn) : null,
  };
}

/** A cancelled-while-queued snapshot as stored; null when it does not parse. */
export function parseSnapshot(text: string | null): TrainingJobView | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as TrainingJobView;
  } catch {
    return null;
  }
}

export const byNewest = (a: TrainingJobView, b: TrainingJobView): number =>
  Date.parse(b.createdAt) - Date.parse(a.createdAt) || b.id.localeCompare(a.id);
