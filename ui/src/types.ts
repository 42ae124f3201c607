/** Shapes of the public API's answers (openapi.yaml), as far as the dashboard reads them. */

export interface ApiErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export interface Readiness {
  status: 'ready' | 'not-ready';
  redis: boolean;
  engine: { name: string; description: string; tfjsVersion: string; fallbackReason?: string };
  models: { loaded: { name: string; version: number }[] };
  workers: number | null;
  uptimeSeconds: number;
}

export type Split = 'train' | 'validation' | 'test';

export interface SkippedEntry {
  source: string;
  code: string;
  reason: string;
}

export interface Dataset {
  id: string;
  name: string;
  createdAt: string;
  size: number;
  classNames: [string, string];
  positiveClass: string;
  counts: {
    images: number;
    byClass: Record<string, number>;
    bySplit: Partial<Record<Split, number>>;
    skipped: number;
    duplicates: number;
  };
  contentHash: string;
  source: { kind: 'zip' | 'directory'; bytes: number; filename?: string };
  skipped?: SkippedEntry[];
}

export interface EpochMetrics {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  seconds: number;
  imagesPerSecond: number;
}

export interface Progress {
  phase: 'loading' | 'training' | 'evaluating' | 'publishing';
  epoch: number;
  epochs: number;
  batch: number;
  batchesPerEpoch: number;
  loss: number | null;
  accuracy: number | null;
  valLoss?: number;
  valAccuracy?: number;
  imagesPerSecond: number | null;
  etaSeconds: number | null;
  updatedAt: string;
}

/** A `progress` event of the job's event stream. */
export interface ProgressEvent extends Progress {
  jobId: string;
  epochMetrics?: EpochMetrics;
}

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface RocPoint {
  threshold: number;
  fpr: number;
  tpr: number;
}

export interface SplitMetrics {
  count: number;
  auc: number;
  accuracy: number;
  sensitivity: number;
  specificity: number;
  precision: number;
  f1: number;
  threshold: number;
  confusion: Confusion;
  /** Recorded in version metadata (not in the job view's schema). */
  roc?: RocPoint[];
}

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface JobError {
  code: string;
  message: string;
}

export interface TrainingParams {
  epochs: number;
  batchSize: number;
  learningRate: number;
  dropoutRate: number;
  seed: number;
  validationSplit: number;
  testSplit: number;
  augmentation: { rotation: number; zoom: number; shift: number; horizontalFlip: boolean };
  classWeighting: 'balanced' | 'none';
  earlyStoppingPatience: number;
  inputSize: number;
  filterMultiplier: number;
  batchNorm: boolean;
}

export interface Job {
  id: string;
  status: JobStatus;
  datasetId: string;
  model: { name: string };
  params: TrainingParams;
  progress: Progress | null;
  history: EpochMetrics[];
  result: {
    model: { name: string; version: number };
    metrics: { validation: SplitMetrics; test: SplitMetrics };
    threshold: number;
    bestEpoch: number;
    stoppedEarly: boolean;
    history: EpochMetrics[];
    seconds: number;
  } | null;
  error: JobError | null;
  lastError: JobError | null;
  attempts: { made: number; max: number };
  cancelRequested: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ModelSummary {
  name: string;
  latestVersion: number | null;
  versionCount: number;
  aliases: Record<string, number>;
  updatedAt: string;
}

/** What training records in a version's metadata.json; every field is read defensively. */
export interface VersionMetadata {
  dataset?: { id?: string; name?: string; images?: number; byClass?: Record<string, number> };
  params?: Partial<TrainingParams>;
  classNames?: string[];
  positiveClass?: string;
  threshold?: number;
  bestEpoch?: number;
  stoppedEarly?: boolean;
  metrics?: { validation?: SplitMetrics; test?: SplitMetrics };
  history?: EpochMetrics[];
  split?: { method?: string; train?: number; validation?: number; test?: number; byClass?: Record<string, Record<string, number>> };
  parameterCount?: number;
  engine?: { name?: string; description?: string };
  timings?: { totalSeconds?: number; trainSeconds?: number };
  jobId?: string;
  [key: string]: unknown;
}

export interface ModelVersion {
  name: string;
  version: number;
  createdAt: string;
  aliases: string[];
  metadata: VersionMetadata;
}

export interface ModelDetail {
  name: string;
  aliases: Record<string, number>;
  versions: ModelVersion[];
}

export interface Prediction {
  probability: number;
  label: string;
  threshold: number;
}

export interface PredictResponse {
  model: { name: string; version: number };
  predictions: Prediction[];
}

export interface ExplainResponse extends Prediction {
  model: { name: string; version: number };
  heatmap: string;
}

/** An interval-bearing value of the model card (null ends: the version did not record one). */
export interface CardValue {
  value: number;
  low: number | null;
  high: number | null;
}

/** The card's evaluation of one split or dataset (GET .../card, ModelCardSchema). */
export interface CardEvaluation {
  images: number | null;
  positives: number | null;
  negatives: number | null;
  threshold: number | null;
  auc: CardValue | null;
  accuracy: CardValue | null;
  sensitivity: CardValue | null;
  specificity: CardValue | null;
  ppv: CardValue | null;
  npv: CardValue | null;
  f1: number | null;
  calibration: { ece: number; brier: number } | null;
  intervals: 'recorded' | 'computed-from-confusion' | 'not-recorded';
}

export interface CardSetting {
  name: string;
  value: string | number | boolean | null;
}

/** GET /v1/models/{name}/versions/{version}/card (JSON), as far as the dashboard reads it. */
export interface ModelCard {
  model: { name: string; version: number; createdAt: string; trainedAt: string | null; kind: string | null; aliases: string[] };
  intendedUse: { use: string; notFor: string; localValidation: string; internalEstimate: string };
  trainingData: {
    dataset: { id: string | null; name: string | null; contentHash: string | null; images: number | null };
    classes: { names: string[] | null; positive: string | null };
    split: { level: 'patient' | 'image' | null; description: string };
  };
  internalEvaluation: { note: string; validation: CardEvaluation | null; test: CardEvaluation | null };
  operatingPoint: {
    policy: string | null;
    threshold: number | null;
    calibratedThreshold: number | null;
    validationSensitivity: number | null;
    validationSpecificity: number | null;
    targetMet: boolean | null;
  };
  calibration: { method: string | null; fittedOn: string | null };
  limitations: string[];
  software: { libraries: CardSetting[] | null; preprocessing: CardSetting[] | null };
  warnings: string[];
  notRecorded: string[];
}

export interface Proportion {
  value: number;
  successes: number;
  trials: number;
  low: number;
  high: number;
}

/** An external evaluation (GET/POST /v1/models/{name}/versions/{version}/evaluations). */
export interface Evaluation {
  id: string;
  model: string;
  version: number;
  dataset: { id: string; name: string; contentHash: string };
  status: JobStatus;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  progress?: { done: number; total: number };
  result?: {
    images: number;
    patients?: number;
    threshold: number;
    calibrated: boolean;
    metrics: {
      count: number;
      auc: { value: number; low: number; high: number };
      accuracy: Proportion;
      sensitivity: Proportion;
      specificity: Proportion;
      f1: number;
      calibration: { ece: number; brier: number };
    };
  };
  error?: { code: string; message: string };
}

/** One alias move (GET /v1/models/{name}/aliases/history). */
export interface AliasHistoryEntry {
  at: string;
  alias: string;
  action: 'set' | 'move' | 'delete';
  from: number | null;
  to: number | null;
  by: { name: string; role: 'admin' | 'predict' | null };
  forced: boolean;
  guard?: { outcome: 'not-applicable' | 'no-common-dataset' | 'passed' | 'overridden'; datasets?: string[] };
}
