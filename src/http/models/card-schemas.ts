import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { EvaluationRecord } from '../../services/evaluation-types.ts';
import { buildModelCard, type ModelCard } from '../../services/model-card.ts';
import { renderModelCardMarkdown } from '../../services/model-card-markdown.ts';
import { EXAMPLE_DATASET_ID, EXAMPLE_JOB_ID, EXAMPLE_MODEL, EXAMPLE_PARAMS, EXAMPLE_THRESHOLD, EXAMPLE_TIMES, EXAMPLE_VERSION } from '../schemas/examples.ts';
import { ModelName, VersionNumber } from '../schemas/ids.ts';

/** The JSON model card (src/services/model-card.ts ModelCard); the type check below keeps the two equal. */

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const NullableNumber = Nullable(Type.Number());
const NullableCount = Nullable(Type.Integer({ minimum: 0 }));
const NullableString = Nullable(Type.String());

const Interval = Type.Object({
  value: Type.Number(),
  low: Type.Union([Type.Number(), Type.Null()], { description: 'Lower end of the 95% interval; null when the version did not record one' }),
  high: NullableNumber,
});
const Rate = Type.Object({
  value: Type.Number(),
  low: NullableNumber,
  high: NullableNumber,
  successes: NullableCount,
  trials: NullableCount,
});
const ClassCount = Type.Object({ className: Type.String(), images: Type.Integer({ minimum: 0 }) });
const SplitCounts = Type.Object({ train: Type.Integer({ minimum: 0 }), validation: Type.Integer({ minimum: 0 }), test: Type.Integer({ minimum: 0 }) });
const Quality = Type.Object({ ece: Type.Number(), brier: Type.Number() });
const Setting = Type.Object({ name: Type.String(), value: Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]) });

const CardEvaluation = Type.Object({
  images: NullableCount,
  positives: NullableCount,
  negatives: NullableCount,
  threshold: NullableNumber,
  auc: Type.Union([Interval, Type.Null()], { description: 'ROC AUC with its 95% DeLong interval' }),
  accuracy: Nullable(Rate),
  sensitivity: Type.Union([Rate, Type.Null()], { description: 'With its 95% Wilson interval (as are the other rates)' }),
  specificity: Nullable(Rate),
  ppv: Nullable(Rate),
  npv: Nullable(Rate),
  f1: NullableNumber,
  calibration: Nullable(Quality),
  intervals: Type.Union([Type.Literal('recorded'), Type.Literal('computed-from-confusion'), Type.Literal('not-recorded')], {
    description: "computed-from-confusion: an older version's rates with Wilson intervals from its confusion matrix (no AUC interval)",
  }),
});

const ExternalEvaluation = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')]),
  dataset: Type.Object({ id: Type.String(), name: Type.String(), contentHash: Type.String() }),
  createdAt: Type.String({ format: 'date-time' }),
  finishedAt: NullableString,
  images: NullableCount,
  patients: NullableCount,
  calibrated: Nullable(Type.Boolean()),
  metrics: Nullable(CardEvaluation),
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
});

export const ModelCardSchema = Type.Object({
  model: Type.Object({
    name: ModelName,
    version: VersionNumber,
    createdAt: Type.String({ format: 'date-time' }),
    trainedAt: NullableString,
    kind: NullableString,
    aliases: Type.Array(Type.String()),
    jobId: NullableString,
  }),
  intendedUse: Type.Object({ use: Type.String(), notFor: Type.String(), localValidation: Type.String(), internalEstimate: Type.String() }),
  trainingData: Type.Object({
    dataset: Type.Object({
      id: NullableString,
      name: NullableString,
      contentHash: NullableString,
      images: NullableCount,
      classBalance: Nullable(Type.Array(ClassCount)),
    }),
    classes: Type.Object({ names: Nullable(Type.Array(Type.String())), positive: NullableString }),
    split: Type.Object({
      level: Type.Union([Type.Literal('patient'), Type.Literal('image'), Type.Null()]),
      description: Type.String({ description: 'Patient-level with its pattern, or "image-level split: the estimate may be optimistic"' }),
      method: NullableString,
      seed: NullableNumber,
      groupPattern: NullableString,
      unmatchedImages: NullableCount,
      images: Nullable(SplitCounts),
      patients: Type.Union([SplitCounts, Type.Null()], { description: 'Distinct patients per split (patient-level splits only)' }),
      classBalance: Nullable(Type.Object({ train: Type.Array(ClassCount), validation: Type.Array(ClassCount), test: Type.Array(ClassCount) })),
    }),
  }),
  parameters: Type.Object({
    training: Nullable(Type.Array(Setting)),
    model: Nullable(Type.Array(Setting)),
    parameterCount: NullableCount,
    inputSize: NullableCount,
    epochsRun: NullableCount,
    bestEpoch: NullableCount,
    stoppedEarly: Nullable(Type.Boolean()),
  }),
  internalEvaluation: Type.Object({ note: Type.String(), validation: Nullable(CardEvaluation), test: Nullable(CardEvaluation) }),
  externalEvaluations: Type.Array(ExternalEvaluation, { description: 'Every evaluation of the version, newest first' }),
  operatingPoint: Type.Object({
    policy: NullableString,
    threshold: NullableNumber,
    calibratedThreshold: NullableNumber,
    validationSensitivity: NullableNumber,
    validationSpecificity: NullableNumber,
    targetMet: Nullable(Type.Boolean()),
  }),
  calibration: Type.Object({
    method: NullableString,
    fittedOn: NullableString,
    slope: NullableNumber,
    intercept: NullableNumber,
    temperature: NullableNumber,
    validation: Type.Object({ before: Nullable(Quality), after: Nullable(Quality) }),
    test: Type.Object({ before: Nullable(Quality), after: Nullable(Quality) }),
  }),
  limitations: Type.Array(Type.String()),
  software: Type.Object({
    engine: Nullable(Type.Object({ name: NullableString, description: NullableString, backend: NullableString, fallbackReason: NullableString })),
    libraries: Nullable(Type.Array(Setting)),
    preprocessing: Nullable(Type.Array(Setting)),
  }),
  warnings: Type.Array(Type.String()),
  notRecorded: Type.Array(Type.String(), { description: 'Card fields this (older) version did not record' }),
});

// The schema and the service's type describe the same object, both ways.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const cardTypesAgree: Same<Static<typeof ModelCardSchema>, ModelCard> = true;
void cardTypesAgree;

// ---------------------------------------------------------------------------------------------
// The example: version 3 of the story (src/http/schemas/examples.ts) as training records it now,
// and one external evaluation on another hospital's images. The card is built and rendered by the
// service's own code, so the examples cannot drift from what the route answers.

const proportion = (successes: number, trials: number, low: number, high: number) => ({ value: successes / trials, successes, trials, low, high });
const evaluationOf = (
  count: number,
  auc: [number, number, number],
  tp: number,
  fp: number,
  tn: number,
  fn: number,
  ci: Record<'sensitivity' | 'specificity' | 'ppv' | 'npv' | 'accuracy', [number, number]>,
  quality: { ece: number; brier: number },
) => ({
  count,
  positives: tp + fn,
  negatives: tn + fp,
  threshold: EXAMPLE_THRESHOLD,
  auc: { value: auc[0], low: auc[1], high: auc[2], standardError: 0.006, method: 'delong-logit' as const },
  accuracy: proportion(tp + tn, count, ...ci.accuracy),
  sensitivity: proportion(tp, tp + fn, ...ci.sensitivity),
  specificity: proportion(tn, tn + fp, ...ci.specificity),
  ppv: proportion(tp, tp + fp, ...ci.ppv),
  npv: proportion(tn, tn + fn, ...ci.npv),
  f1: (2 * tp) / (2 * tp + fp + fn),
  logLoss: 0.24,
  confusion: { tp, fp, tn, fn },
  roc: [],
  calibration: { ...quality, bins: [] },
});

const EXAMPLE_CARD_METADATA = {
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
  params: { ...EXAMPLE_PARAMS, groupPattern: '(?:^|/)((?:NORMAL2-)?IM-\\d+|person\\d+)[-_][^/]*$', thresholdPolicy: 'youden', calibration: 'platt' },
  modelOptions: { inputSize: 256, filterMultiplier: 1, dropoutRate: 0.6, batchNorm: false, seed: 42 },
  parameterCount: 54627,
  classNames: ['NORMAL', 'PNEUMONIA'],
  positiveClass: 'PNEUMONIA',
  threshold: EXAMPLE_THRESHOLD,
  operatingPoint: { policy: 'youden', threshold: EXAMPLE_THRESHOLD, sensitivity: 0.9394, specificity: 0.8713, targetMet: true, fittedOn: 'validation', scale: 'model', calibratedThreshold: 0.7021 },
  calibration: {
    method: 'platt',
    slope: 0.8123,
    intercept: -0.4311,
    fittedOn: 'validation',
    validation: { before: { ece: 0.0612, brier: 0.0731 }, after: { ece: 0.0218, brier: 0.0664 } },
    test: { before: { ece: 0.0655, brier: 0.0768 }, after: { ece: 0.0297, brier: 0.0702 } },
  },
  bestEpoch: 5,
  stoppedEarly: false,
  evaluation: {
    validation: evaluationOf(747, [0.9681, 0.9534, 0.9783], 512, 26, 176, 33, {
      sensitivity: [0.9184, 0.9548], specificity: [0.8183, 0.9105], ppv: [0.9305, 0.9672], npv: [0.7801, 0.8883], accuracy: [0.8998, 0.9381],
    }, { ece: 0.0612, brier: 0.0731 }),
    test: evaluationOf(879, [0.9617, 0.9462, 0.9727], 599, 35, 203, 42, {
      sensitivity: [0.9142, 0.9505], specificity: [0.8024, 0.8917], ppv: [0.9241, 0.9608], npv: [0.7749, 0.8785], accuracy: [0.8922, 0.9291],
    }, { ece: 0.0655, brier: 0.0768 }),
  },
  warnings: [],
  history: [1, 2, 3, 4, 5].map((epoch) => ({ epoch })),
  split: {
    method: 'archive-folders-then-seeded',
    level: 'patient',
    groups: { pattern: '(?:^|/)((?:NORMAL2-)?IM-\\d+|person\\d+)[-_][^/]*$', matched: 5856, unmatched: 0, unmatchedAs: 'own-group', patients: { train: 2112, validation: 371, test: 624 } },
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
  preprocessing: { formats: ['png', 'jpeg'], colour: 'grey', resize: 'fill', pixels: 'uint8', standardisation: 'per-image', decoder: 'sharp', inputSize: 256 },
  engine: { name: 'tensorflow', description: 'tfjs-node 4.22.0 on libtensorflow (native)', backend: 'tensorflow' },
  libraries: { node: 'v20.19.2', 'tfjs-core': '4.22.0', 'tfjs-node': '4.22.0' },
  jobId: EXAMPLE_JOB_ID,
  trainedAt: '2025-06-02T08:54:31.803Z',
};

export const EXAMPLE_EXTERNAL_EVALUATION: EvaluationRecord = {
  id: 'ev_d4k2p7vx3mq6ne5a',
  model: EXAMPLE_MODEL,
  version: EXAMPLE_VERSION,
  dataset: { id: 'ds_m5xw2ct7ja4kq6ne', name: 'rsna-subset', contentHash: '0c7e5a93d21b48f6a3e9c0d7b5f14a28e6c39d0b7a152f84c6e0d9b3a7f25e1c' },
  status: 'completed',
  createdAt: '2025-06-04T10:15:02.441Z',
  startedAt: '2025-06-04T10:15:03.010Z',
  finishedAt: '2025-06-04T10:16:40.922Z',
  result: {
    images: 1200,
    patients: 1200,
    threshold: EXAMPLE_THRESHOLD,
    calibrated: true,
    metrics: evaluationOf(1200, [0.8236, 0.7991, 0.8457], 418, 191, 409, 182, {
      sensitivity: [0.6578, 0.7327], specificity: [0.6434, 0.7190], ppv: [0.6486, 0.7239], npv: [0.6523, 0.7281], accuracy: [0.6631, 0.7158],
    }, { ece: 0.1184, brier: 0.2013 }),
  },
};

const EXAMPLE_CARD = buildModelCard(
  { name: EXAMPLE_MODEL, version: EXAMPLE_VERSION, createdAt: EXAMPLE_TIMES.versionCreated, aliases: ['production'], metadata: EXAMPLE_CARD_METADATA },
  [EXAMPLE_EXTERNAL_EVALUATION],
);
export const EXAMPLE_CARD_JSON: Static<typeof ModelCardSchema> = EXAMPLE_CARD;
export const EXAMPLE_CARD_MARKDOWN = renderModelCardMarkdown(EXAMPLE_CARD);
