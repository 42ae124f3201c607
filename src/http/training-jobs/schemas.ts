import { Type, type Static } from '@sinclair/typebox';
import { TrainingJobRequestSchema, TrainingParamsSchema } from '../../queue/params.ts';
import { DatasetId, ModelName } from '../schemas/ids.ts';

/** Schemas of the training-job routes. The request body schema lives in src/queue/params.ts (shared with the CLI and worker). */

export const JobId = Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$', description: 'Training job id' });
export const JobParams = Type.Object({ id: JobId });
export type JobParams = Static<typeof JobParams>;

export const JobStatusSchema = Type.Union(
  [Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')],
  { description: 'queued (waiting, or waiting to be retried) | running | completed | failed | cancelled' },
);

export const ListQuery = Type.Object({
  status: Type.Optional(JobStatusSchema),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'At most this many jobs, newest first' })),
});
export type ListQuery = Static<typeof ListQuery>;

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
    history: Type.Array(EpochMetricsSchema),
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
  history: Type.Array(EpochMetricsSchema, { description: 'Metrics of every finished epoch (the training curves)' }),
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

export { TrainingJobRequestSchema as CreateJobBody };
