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
