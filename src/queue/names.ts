import type { BinaryMetrics, EpochMetrics } from '../ml/types.ts';
import type { TrainingParams } from '../domain/training-params.ts';

/**
 * Names and payloads of the training queue. Payloads carry ids and parameters only: never pixels,
 * file names of images or anything about patients (DESIGN.md, Conventions).
 */
export const TRAINING_QUEUE = 'training';
export const TRAIN_JOB_NAME = 'train';
/**
 * External evaluations share the training queue as a second job kind: the same worker takes them
 * one at a time, in its sandboxed child, in submission order with training jobs. Their BullMQ job
 * id is the evaluation id (`ev_...`), and the record beside the model version is their truth.
 */
export const EVALUATE_JOB_NAME = 'evaluate';
export const EVALUATION_JOB_ID_PREFIX = 'ev_';

/** An evaluation job's data in Redis: ids only. */
export interface EvaluationJobData {
  readonly v: 1;
  readonly evaluationId: string;
  readonly modelName: string;
  readonly version: number;
  readonly datasetId: string;
  /** Names the patient in each image path (src/domain/group-pattern.ts), for the patient count. */
  readonly groupPattern?: string;
  readonly submittedAt: string;
}

/** The job's data in Redis. */
export interface TrainingJobData {
  /** Payload schema version, so a worker can refuse payloads it does not understand. */
  readonly v: 1;
  readonly datasetId: string;
  readonly modelName: string;
  readonly params: TrainingParams;
  readonly submittedAt: string;
}

export type TrainingPhase = 'loading' | 'training' | 'evaluating' | 'publishing';

/** What the processor reports through job.updateProgress (and what the job view shows). */
export interface TrainingJobProgress {
  readonly phase: TrainingPhase;
  readonly epoch: number;
  readonly epochs: number;
  readonly batch: number;
  readonly batchesPerEpoch: number;
  readonly loss: number | null;
  readonly accuracy: number | null;
  /** Validation loss/accuracy of the last finished epoch. */
  readonly valLoss?: number;
  readonly valAccuracy?: number;
  readonly imagesPerSecond: number | null;
  readonly etaSeconds: number | null;
  /** Every finished epoch so far (the curves). */
  readonly history: readonly EpochMetrics[];
  readonly updatedAt: string;
}

/** Metrics without the ROC points (the job result keeps them short; metadata has everything). */
export type MetricsSummary = Omit<BinaryMetrics, 'roc'>;

/** The job's return value. */
export interface TrainingJobResult {
  readonly model: { readonly name: string; readonly version: number };
  readonly metrics: { readonly validation: MetricsSummary; readonly test: MetricsSummary };
  readonly threshold: number;
  readonly bestEpoch: number;
  readonly stoppedEarly: boolean;
  readonly history: readonly EpochMetrics[];
  readonly seconds: number;
}

/** failedReason of a job a user cancelled (it ends "failed" in BullMQ; the API shows "cancelled"). */
export const CANCELLED_REASON = 'cancelled';
/** failedReason of a job a worker gave up because it was shutting down (retried when attempts remain). */
export const INTERRUPTED_REASON = 'interrupted: worker shut down';

/** Redis key the API sets to ask the worker running job `id` to stop. */
export const cancelKey = (prefix: string, id: string): string => `${prefix}:${TRAINING_QUEUE}:cancel:${id}`;
/** Hash of jobs cancelled while queued (removed from BullMQ): id -> JSON snapshot of the view. */
export const cancelledJobsKey = (prefix: string): string => `${prefix}:${TRAINING_QUEUE}:cancelled`;
