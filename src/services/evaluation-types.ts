import type { BinaryEvaluation } from '../ml/metrics.ts';

/**
 * An external evaluation of one model version on one labelled dataset, as stored beside the version
 * and answered by `GET /v1/models/{name}/versions/{v}/evaluations[/{id}]`. The same metrics
 * implementation (src/ml/metrics.ts evaluateBinary) makes training's test split and these.
 */
export type EvaluationStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface EvaluationRecord {
  /** `ev_` + 16 base32 characters (src/domain/ids.ts EVALUATION_ID_PATTERN). */
  readonly id: string;
  readonly model: string;
  readonly version: number;
  readonly dataset: { readonly id: string; readonly name: string; readonly contentHash: string };
  readonly status: EvaluationStatus;
  /** The request's pattern naming the patient in each image path, when one was given (for `result.patients`). */
  readonly groupPattern?: string;
  /** 'cli': run in-process by `npm run evaluate` (no queue job behind it); absent: queued to the workers. */
  readonly runner?: 'cli';
  readonly createdAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** Images scored so far / in all (while queued or running). */
  readonly progress?: { readonly done: number; readonly total: number };
  /** Present once completed: every image of the dataset at the version's stored threshold, calibrated probabilities. */
  readonly result?: {
    readonly images: number;
    /** Distinct patients when the dataset's group key is known, else absent. */
    readonly patients?: number;
    readonly threshold: number;
    readonly calibrated: boolean;
    readonly metrics: BinaryEvaluation;
    /** With a groupPattern: images whose path named a patient, and those that did not (each its own patient). */
    readonly grouping?: { readonly pattern: string; readonly matched: number; readonly unmatched: number };
  };
  /** Present when failed: a catalogue code and message. */
  readonly error?: { readonly code: string; readonly message: string };
}

/** Reads a version's evaluations, newest first (the model card and the promotion guard use this). */
export interface EvaluationLister {
  /** MODEL_NOT_FOUND / VERSION_NOT_FOUND when the version does not exist. */
  listEvaluations(model: string, version: number): Promise<EvaluationRecord[]>;
}
