import { Type, type Static } from '@sinclair/typebox';
import {
  EXAMPLE_DATASET_ID,
  EXAMPLE_HISTORY,
  EXAMPLE_JOB_ID,
  EXAMPLE_METRICS,
  EXAMPLE_MODEL,
  EXAMPLE_PARAMS,
  EXAMPLE_THRESHOLD,
  EXAMPLE_TIMES,
  EXAMPLE_VERSION,
} from '../schemas/examples.ts';
import { AliasName, ModelName, VersionNumber } from '../schemas/ids.ts';
import { withExample } from '../schemas/openapi.ts';

export const ModelParams = Type.Object({ name: ModelName });
export const VersionParams = Type.Object({ name: ModelName, version: VersionNumber });
export const AliasParams = Type.Object({ name: ModelName, alias: AliasName });
export type ModelParams = Static<typeof ModelParams>;
export type VersionParams = Static<typeof VersionParams>;
export type AliasParams = Static<typeof AliasParams>;

const NullableVersion = Type.Union([VersionNumber, Type.Null()]);
const AliasMap = Type.Record(Type.String(), Type.Integer(), {
  description: 'Alias -> version, e.g. {"production": 3}',
});

export const ModelSummary = Type.Object({
  name: ModelName,
  latestVersion: NullableVersion,
  versionCount: Type.Integer({ minimum: 0 }),
  aliases: AliasMap,
  updatedAt: Type.String({ format: 'date-time' }),
});

export const ModelVersion = Type.Object({
  name: ModelName,
  version: VersionNumber,
  createdAt: Type.String({ format: 'date-time' }),
  aliases: Type.Array(Type.String(), { description: 'Aliases pointing at this version' }),
  metadata: Type.Record(Type.String(), Type.Unknown(), {
    description: 'What training recorded: dataset, parameters, test metrics, decision threshold, input size',
  }),
});

export const ModelList = Type.Object({
  defaultModel: Type.String({ description: 'The model POST /v1/predict serves' }),
  models: Type.Array(ModelSummary),
});

export const ModelDetail = Type.Object({
  name: ModelName,
  aliases: AliasMap,
  versions: Type.Array(ModelVersion),
});

export const SetAliasBody = Type.Object(
  {
    version: VersionNumber,
    force: Type.Optional(
      Type.Boolean({
        description:
          'Move `production` even when the version scored worse than the current one on a dataset both were evaluated on ' +
          '(409 PROMOTION_WORSE otherwise). The alias history records that the move was forced.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type SetAliasBody = Static<typeof SetAliasBody>;

export const AliasMoved = Type.Object({
  alias: AliasName,
  version: VersionNumber,
  previous: Type.Union([VersionNumber, Type.Null()], { description: 'Where the alias pointed before; null if it is new' }),
});

export const NoContent = Type.Null({ description: 'Done; no body' });

export const AliasHistoryQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: 'Most entries to return (newest first)' })) },
  { additionalProperties: false },
);

const AliasHistoryEntry = Type.Object({
  at: Type.String({ format: 'date-time' }),
  alias: AliasName,
  action: Type.Union([Type.Literal('set'), Type.Literal('move'), Type.Literal('delete')], {
    description: 'set: the alias is new; move: it pointed at another version; delete: it was removed',
  }),
  from: Type.Union([VersionNumber, Type.Null()]),
  to: Type.Union([VersionNumber, Type.Null()]),
  by: Type.Object(
    {
      name: Type.String({ description: "'anonymous' when auth is off, else 'key#N': the N-th key of API_KEYS (never the key itself)" }),
      role: Type.Union([Type.Literal('admin'), Type.Literal('predict'), Type.Null()]),
    },
    { description: 'Who moved it' },
  ),
  forced: Type.Boolean({ description: 'The request asked to override the promotion guard (`force: true`)' }),
  guard: Type.Optional(
    Type.Object(
      {
        outcome: Type.Union([Type.Literal('not-applicable'), Type.Literal('no-common-dataset'), Type.Literal('passed'), Type.Literal('overridden')]),
        datasets: Type.Optional(Type.Array(Type.String(), { description: 'Datasets compared on (the worse ones when overridden)' })),
      },
      { description: 'What the promotion guard found (moves of production only)' },
    ),
  ),
});

export const AliasHistory = Type.Object({
  name: ModelName,
  entries: Type.Array(AliasHistoryEntry, { description: 'Newest first' }),
});

/** ROC points of a version's metrics (metadata only; shortened here). */
const roc = (points: readonly [number, number, number][]) => points.map(([threshold, fpr, tpr]) => ({ threshold, fpr, tpr }));

/** Version 3 as the registry keeps it: what training recorded (metadata.json). */
const version3: Static<typeof ModelVersion> = {
  name: EXAMPLE_MODEL,
  version: EXAMPLE_VERSION,
  createdAt: EXAMPLE_TIMES.versionCreated,
  aliases: ['production'],
  metadata: {
    name: EXAMPLE_MODEL,
    version: EXAMPLE_VERSION,
    createdAt: EXAMPLE_TIMES.versionCreated,
    kind: 'ChestXRayNet',
    dataset: {
      id: EXAMPLE_DATASET_ID,
      name: 'kermany-2018',
      contentHash: '6b1f0c9e27d84a3f95c2e8b7a41d0f63c58e92b4a7d13f06e2c9b85a4f71d3e0',
      images: 5856,
      byClass: { NORMAL: 1583, PNEUMONIA: 4273 },
      cacheSize: 256,
    },
    params: EXAMPLE_PARAMS,
    modelOptions: { inputSize: 256, filterMultiplier: 1, dropoutRate: 0.6, batchNorm: false },
    parameterCount: 1256417,
    classNames: ['NORMAL', 'PNEUMONIA'],
    positiveClass: 'PNEUMONIA',
    labels: { '0': 'NORMAL', '1': 'PNEUMONIA' },
    threshold: EXAMPLE_THRESHOLD,
    thresholdMethod: 'youden-j-on-validation',
    bestEpoch: 5,
    bestValLoss: 0.2391,
    stoppedEarly: false,
    metrics: {
      validation: { ...EXAMPLE_METRICS.validation, roc: roc([[1.5, 0, 0], [0.9113, 0.0149, 0.6202], [EXAMPLE_THRESHOLD, 0.1287, 0.9394], [0.0021, 1, 1]]) },
      test: { ...EXAMPLE_METRICS.test, roc: roc([[1.5, 0, 0], [0.9207, 0.0210, 0.5975], [EXAMPLE_THRESHOLD, 0.1471, 0.9345], [0.0017, 1, 1]]) },
    },
    history: EXAMPLE_HISTORY,
    split: {
      method: 'seeded-stratified-by-content-hash',
      seed: 42,
      train: 4230,
      validation: 747,
      test: 879,
      byClass: {
        train: { NORMAL: 1143, PNEUMONIA: 3087 },
        validation: { NORMAL: 202, PNEUMONIA: 545 },
        test: { NORMAL: 238, PNEUMONIA: 641 },
      },
    },
    preprocessing: {
      formats: ['png', 'jpeg'],
      orientation: 'exif',
      alpha: 'flatten-on-black',
      colour: 'grey',
      resize: 'fill',
      kernel: 'lanczos3',
      pixels: 'uint8',
      standardisation: 'per-image',
      decoder: 'sharp 0.35.5 / libvips 8.18.7',
      inputSize: 256,
    },
    engine: { name: 'tensorflow', description: 'tfjs-node 4.22.0 on libtensorflow (native)', backend: 'tensorflow' },
    timings: { loadSeconds: 41.37, trainSeconds: 556.68, secondsPerEpoch: EXAMPLE_HISTORY.map((h) => h.seconds), evaluationSeconds: 27.93, totalSeconds: 626.12 },
    jobId: EXAMPLE_JOB_ID,
    trainedAt: '2025-06-02T08:54:31.803Z',
  },
};

/** Versions 1 and 2, shown with part of their metadata. */
const version1: Static<typeof ModelVersion> = {
  name: EXAMPLE_MODEL,
  version: 1,
  createdAt: '2025-05-27T15:40:52.118Z',
  aliases: [],
  metadata: {
    name: EXAMPLE_MODEL,
    version: 1,
    createdAt: '2025-05-27T15:40:52.118Z',
    kind: 'ChestXRayNet',
    dataset: { id: 'ds_m5xw2ct7ja4kq6ne', name: 'rsna-subset', images: 1200 },
    threshold: 0.4912,
    metrics: { test: { count: 200, auc: 0.8736, accuracy: 0.805, sensitivity: 0.83, specificity: 0.78, precision: 0.7905, f1: 0.8098, threshold: 0.4912 } },
  },
};
const version2: Static<typeof ModelVersion> = {
  name: EXAMPLE_MODEL,
  version: 2,
  createdAt: '2025-05-29T10:12:08.644Z',
  aliases: [],
  metadata: {
    name: EXAMPLE_MODEL,
    version: 2,
    createdAt: '2025-05-29T10:12:08.644Z',
    kind: 'ChestXRayNet',
    dataset: { id: 'ds_m5xw2ct7ja4kq6ne', name: 'rsna-subset', images: 1200 },
    threshold: 0.5537,
    metrics: { test: { count: 200, auc: 0.9124, accuracy: 0.855, sensitivity: 0.87, specificity: 0.84, precision: 0.8447, f1: 0.8571, threshold: 0.5537 } },
  },
};

export const ModelsListed = withExample(
  ModelList,
  {
    defaultModel: EXAMPLE_MODEL,
    models: [{ name: EXAMPLE_MODEL, latestVersion: EXAMPLE_VERSION, versionCount: 3, aliases: { production: EXAMPLE_VERSION }, updatedAt: EXAMPLE_TIMES.aliasMoved }],
  },
  'Every model, and the one POST /v1/predict serves',
);
export const ModelFound = withExample(
  ModelDetail,
  { name: EXAMPLE_MODEL, aliases: { production: EXAMPLE_VERSION }, versions: [version1, version2, version3] },
  'The model, its aliases and every version with its metadata (oldest first)',
);
export const VersionFound = withExample(ModelVersion, version3, 'The version: what training recorded, and the aliases pointing at it');
export const SetAliasRequest = withExample(SetAliasBody, { version: EXAMPLE_VERSION });
export const AliasHistoryFound = withExample(
  AliasHistory,
  {
    name: EXAMPLE_MODEL,
    entries: [
      {
        at: EXAMPLE_TIMES.aliasMoved,
        alias: 'production',
        action: 'move',
        from: 2,
        to: EXAMPLE_VERSION,
        by: { name: 'key#1', role: 'admin' },
        forced: false,
        guard: { outcome: 'passed', datasets: ['ds_m5xw2ct7ja4kq6ne'] },
      },
      { at: '2025-05-29T10:30:12.004Z', alias: 'production', action: 'move', from: 1, to: 2, by: { name: 'key#1', role: 'admin' }, forced: false, guard: { outcome: 'no-common-dataset' } },
      { at: '2025-05-28T09:02:44.871Z', alias: 'staging', action: 'delete', from: 1, to: null, by: { name: 'key#2', role: 'admin' }, forced: false },
      { at: '2025-05-27T16:01:05.390Z', alias: 'production', action: 'set', from: null, to: 1, by: { name: 'key#1', role: 'admin' }, forced: false, guard: { outcome: 'not-applicable' } },
    ],
  },
  'Alias moves of the model, newest first',
);
export const AliasMovedResponse = withExample(
  AliasMoved,
  { alias: 'production', version: EXAMPLE_VERSION, previous: 2 },
  'The alias now points at `version`; every API replica loads and warms it, then switches',
);
