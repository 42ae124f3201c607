import { Type, type ArrayOptions, type Static, type TSchema } from '@sinclair/typebox';
import { JOB_ID_PATTERN } from '../../domain/ids.ts';
import { TrainingJobRequestSchema, TrainingParamsSchema } from '../../domain/training-params.ts';
import {
  EXAMPLE_DATASET_ID,
  EXAMPLE_HISTORY,
  EXAMPLE_JOB_ID,
  EXAMPLE_METRICS,
  EXAMPLE_MODEL,
  EXAMPLE_PARAMS,
  EXAMPLE_RUNNING_JOB_ID,
  EXAMPLE_THRESHOLD,
  EXAMPLE_TIMES,
  EXAMPLE_VERSION,
} from '../schemas/examples.ts';
import { DatasetId, ModelName } from '../schemas/ids.ts';
import { withExample } from '../schemas/openapi.ts';

/** Schemas of the training-job routes. The request body schema lives in src/domain/training-params.ts (shared with the CLI and worker). */

export const JobId = Type.String({ pattern: JOB_ID_PATTERN, description: 'Training job id', examples: [EXAMPLE_JOB_ID] });
export const JobParams = Type.Object({ id: JobId });
export type JobParams = Static<typeof JobParams>;

export const JobStatusSchema = Type.Union(
  [Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')],
  { description: 'queued (waiting, or waiting to be retried) | running | completed | failed | cancelled' },
);

export const ListQuery = Type.Object(
  {
    status: Type.Optional(JobStatusSchema),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'At most this many jobs, newest first' })),
  },
  { additionalProperties: false },
);
export type ListQuery = Static<typeof ListQuery>;

/** An array the services hand out read-only: the same JSON Schema, typed `readonly T[]` for the route handlers. */
const ReadonlyArray = <T extends TSchema>(items: T, options?: ArrayOptions) => Type.Unsafe<readonly Static<T>[]>(Type.Array(items, options));

const Nullable = <T extends ReturnType<typeof Type.Number>>(t: T) => Type.Union([t, Type.Null()]);

export const EpochMetricsSchema = Type.Object({
  epoch: Type.Integer({ minimum: 1 }),
  loss: Type.Number(),
  accuracy: Type.Number(),
  valLoss: Type.Number(),
  valAccuracy: Type.Number(),
  seconds: Type.Number(),
  imagesPerSecond: Type.Number(),
});

export const ProgressSchema = Type.Object(
  {
    phase: Type.Union([Type.Literal('loading'), Type.Literal('training'), Type.Literal('evaluating'), Type.Literal('publishing')]),
    epoch: Type.Integer({ minimum: 0, description: '1-based; 0 before the first batch' }),
    epochs: Type.Integer({ minimum: 1 }),
    batch: Type.Integer({ minimum: 0 }),
    batchesPerEpoch: Type.Integer({ minimum: 0 }),
    loss: Nullable(Type.Number({ description: 'Running mean training loss over the epoch so far' })),
    accuracy: Nullable(Type.Number()),
    valLoss: Type.Optional(Type.Number({ description: 'Validation loss of the last finished epoch' })),
    valAccuracy: Type.Optional(Type.Number()),
    imagesPerSecond: Nullable(Type.Number()),
    etaSeconds: Nullable(Type.Number()),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'Latest progress report of the running (or last) attempt' },
);

const Confusion = Type.Object({ tp: Type.Integer(), fp: Type.Integer(), tn: Type.Integer(), fn: Type.Integer() });
export const MetricsSchema = Type.Object({
  count: Type.Integer(),
  auc: Type.Number(),
  accuracy: Type.Number(),
  sensitivity: Type.Number(),
  specificity: Type.Number(),
  precision: Type.Number(),
  f1: Type.Number(),
  threshold: Type.Number(),
  confusion: Confusion,
});

export const ResultSchema = Type.Object(
  {
    model: Type.Object({ name: ModelName, version: Type.Integer({ minimum: 1 }) }),
    metrics: Type.Object({ validation: MetricsSchema, test: MetricsSchema }, { description: 'At the decision threshold chosen on validation' }),
    threshold: Type.Number({ description: "Decision threshold (Youden's J on the validation split)" }),
    bestEpoch: Type.Integer(),
    stoppedEarly: Type.Boolean(),
    history: ReadonlyArray(EpochMetricsSchema),
    seconds: Type.Number(),
  },
  { description: 'The published model version and its metrics (completed jobs)' },
);

const JobErrorSchema = Type.Object({
  code: Type.String({ description: 'e.g. DATASET_TOO_SMALL, WORKER_INTERRUPTED, WORKER_LOST, CANCELLED, TRAINING_FAILED' }),
  message: Type.String(),
});

export const JobView = Type.Object({
  id: JobId,
  status: JobStatusSchema,
  datasetId: DatasetId,
  model: Type.Object({ name: ModelName }),
  params: TrainingParamsSchema,
  progress: Type.Union([ProgressSchema, Type.Null()]),
  history: ReadonlyArray(EpochMetricsSchema, { description: 'Metrics of every finished epoch (the training curves)' }),
  result: Type.Union([ResultSchema, Type.Null()]),
  error: Type.Union([JobErrorSchema, Type.Null()], { description: 'Why it failed or was cancelled' }),
  lastError: Type.Union([JobErrorSchema, Type.Null()], { description: 'Failure of the previous attempt while a retry is pending or running' }),
  attempts: Type.Object({ made: Type.Integer({ minimum: 0 }), max: Type.Integer({ minimum: 1 }) }),
  cancelRequested: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export const JobList = Type.Object({ jobs: Type.Array(JobView) });

type JobViewValue = Static<typeof JobView>;

/** The example job: queued, as POST /v1/training-jobs answers it. */
const queuedJob: JobViewValue = {
  id: EXAMPLE_JOB_ID,
  status: 'queued',
  datasetId: EXAMPLE_DATASET_ID,
  model: { name: EXAMPLE_MODEL },
  params: EXAMPLE_PARAMS,
  progress: null,
  history: [],
  result: null,
  error: null,
  lastError: null,
  attempts: { made: 0, max: 3 },
  cancelRequested: false,
  createdAt: EXAMPLE_TIMES.jobCreated,
  startedAt: null,
  finishedAt: null,
};

/** The same job once it published version 3. */
export const completedJobExample: JobViewValue = {
  ...queuedJob,
  status: 'completed',
  progress: {
    phase: 'publishing',
    epoch: 5,
    epochs: 5,
    batch: 265,
    batchesPerEpoch: 265,
    loss: 0.2327,
    accuracy: 0.9149,
    valLoss: 0.2391,
    valAccuracy: 0.9183,
    imagesPerSecond: 38.21,
    etaSeconds: 0,
    updatedAt: '2025-06-02T08:54:31.402Z',
  },
  history: EXAMPLE_HISTORY,
  result: {
    model: { name: EXAMPLE_MODEL, version: EXAMPLE_VERSION },
    metrics: EXAMPLE_METRICS,
    threshold: EXAMPLE_THRESHOLD,
    bestEpoch: 5,
    stoppedEarly: false,
    history: EXAMPLE_HISTORY,
    seconds: 626.56,
  },
  attempts: { made: 1, max: 3 },
  startedAt: EXAMPLE_TIMES.jobStarted,
  finishedAt: EXAMPLE_TIMES.jobFinished,
};

/** A later 10-epoch job, in its fourth epoch. */
export const runningJobExample: JobViewValue = {
  ...queuedJob,
  id: EXAMPLE_RUNNING_JOB_ID,
  status: 'running',
  params: { ...EXAMPLE_PARAMS, epochs: 10 },
  progress: {
    phase: 'training',
    epoch: 4,
    epochs: 10,
    batch: 187,
    batchesPerEpoch: 265,
    loss: 0.2589,
    accuracy: 0.9047,
    valLoss: 0.2688,
    valAccuracy: 0.9009,
    imagesPerSecond: 38.42,
    etaSeconds: 727,
    updatedAt: EXAMPLE_TIMES.runningUpdated,
  },
  history: EXAMPLE_HISTORY.slice(0, 3),
  attempts: { made: 1, max: 3 },
  createdAt: EXAMPLE_TIMES.runningCreated,
  startedAt: EXAMPLE_TIMES.runningStarted,
};

export const CreateJobBody = withExample(TrainingJobRequestSchema, {
  datasetId: EXAMPLE_DATASET_ID,
  model: { name: EXAMPLE_MODEL, inputSize: 256 },
  epochs: 5,
  batchSize: 16,
  augmentation: { rotation: 10, zoom: 0.1, shift: 0.05 },
  earlyStoppingPatience: 3,
});

export const JobQueued = withExample(
  JobView,
  queuedJob,
  'Queued: the job as it stands, with its URL in Location. Follow it with GET .../{id} or .../{id}/events',
);
export const JobFound = withExample(JobView, runningJobExample, 'The job: status, progress, per-epoch history, and the result or error');
export const JobsListed = withExample(JobList, { jobs: [runningJobExample, completedJobExample] }, 'Jobs, newest first');
export const JobCancelled = withExample(
  JobView,
  {
    ...runningJobExample,
    status: 'cancelled',
    error: { code: 'CANCELLED', message: 'Cancelled by request' },
    finishedAt: '2025-06-03T14:27:41.552Z',
  },
  'Cancelled: it was queued, or it was running and has stopped; nothing was published',
);
export const JobStopping = withExample(
  JobView,
  { ...runningJobExample, cancelRequested: true },
  'Still stopping (cancelRequested is true): it stops within one batch and publishes nothing; poll GET .../{id}',
);

const sseFrame = (event: string, data: unknown, id: number) => `event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`;

/** What GET /v1/training-jobs/{id}/events sends for the example job, from start to end (progress frames thinned). */
export const EVENTS_EXAMPLE = [
  'retry: 2000\n\n',
  sseFrame('status', { ...queuedJob, status: 'running', attempts: { made: 1, max: 3 }, startedAt: EXAMPLE_TIMES.jobStarted }, 1),
  sseFrame(
    'progress',
    {
      jobId: EXAMPLE_JOB_ID,
      phase: 'training',
      epoch: 1,
      epochs: 5,
      batch: 265,
      batchesPerEpoch: 265,
      loss: 0.5213,
      accuracy: 0.7631,
      valLoss: 0.4127,
      valAccuracy: 0.8313,
      imagesPerSecond: 37.3,
      etaSeconds: 471,
      updatedAt: '2025-06-02T08:46:38.716Z',
      epochMetrics: EXAMPLE_HISTORY[0],
    },
    2,
  ),
  ': heartbeat\n\n',
  sseFrame(
    'progress',
    {
      jobId: EXAMPLE_JOB_ID,
      phase: 'training',
      epoch: 2,
      epochs: 5,
      batch: 40,
      batchesPerEpoch: 265,
      loss: 0.3772,
      accuracy: 0.8516,
      valLoss: 0.4127,
      valAccuracy: 0.8313,
      imagesPerSecond: 38.02,
      etaSeconds: 440,
      updatedAt: '2025-06-02T08:46:55.390Z',
    },
    3,
  ),
  sseFrame('completed', completedJobExample, 4),
].join('');
