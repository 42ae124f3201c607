import { Type, type ArrayOptions, type Static, type TSchema } from '@sinclair/typebox';
import { GROUP_PATTERN_MAX_LENGTH, KERMANY_GROUP_PATTERN } from '../../domain/group-pattern.ts';
import { EVALUATION_ID_PATTERN } from '../../domain/ids.ts';
import { EXAMPLE_DATASET_ID, EXAMPLE_MODEL, EXAMPLE_VERSION } from '../schemas/examples.ts';
import { DatasetId, ModelName, VersionNumber } from '../schemas/ids.ts';
import { withExample } from '../schemas/openapi.ts';

/**
 * Schemas of the evaluation routes: the record of src/services/evaluation-types.ts and the report
 * of src/ml/metrics.ts (evaluateBinary), field for field.
 */

export const EXAMPLE_EVALUATION_ID = 'ev_r4kq7n2xw5bt3mhe';
export const EXAMPLE_RUNNING_EVALUATION_ID = 'ev_d6jz3p7yq2vwk5ca';

export const EvaluationId = Type.String({ pattern: EVALUATION_ID_PATTERN, description: 'Evaluation id', examples: [EXAMPLE_EVALUATION_ID] });
export const EvaluationsParams = Type.Object({ name: ModelName, version: VersionNumber });
export const EvaluationParams = Type.Object({ name: ModelName, version: VersionNumber, id: EvaluationId });

export const EvaluationBody = Type.Object(
  {
    datasetId: DatasetId,
    groupPattern: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: GROUP_PATTERN_MAX_LENGTH,
        description:
          'A regular expression with exactly one capture group naming the patient in each image path (as for training); ' +
          'the result then counts distinct patients. Unsafe patterns are refused (400 INVALID_GROUP_PATTERN).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type EvaluationBody = Static<typeof EvaluationBody>;

export const EvaluationListQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'At most this many evaluations, newest first (default 20)' })) },
  { additionalProperties: false },
);

/** An array the services hand out read-only: the same JSON Schema, typed `readonly T[]`. */
const ReadonlyArray = <T extends TSchema>(items: T, options?: ArrayOptions) => Type.Unsafe<readonly Static<T>[]>(Type.Array(items, options));

const Interval = { low: Type.Number(), high: Type.Number() };
const ProportionSchema = Type.Object(
  { value: Type.Number(), successes: Type.Integer({ minimum: 0 }), trials: Type.Integer({ minimum: 0 }), ...Interval },
  { description: 'successes / trials with its 95% Wilson score interval [low, high]' },
);
const AucSchema = Type.Object(
  { value: Type.Number(), ...Interval, standardError: Type.Number(), method: Type.Literal('delong-logit') },
  { description: 'ROC AUC with a 95% interval from the DeLong variance, on the logit scale' },
);
const ConfusionSchema = Type.Object({ tp: Type.Integer(), fp: Type.Integer(), tn: Type.Integer(), fn: Type.Integer() });
const RocPointSchema = Type.Object({ threshold: Type.Number(), fpr: Type.Number(), tpr: Type.Number() });
const ReliabilityBinSchema = Type.Object({
  low: Type.Number(),
  high: Type.Number(),
  count: Type.Integer({ minimum: 0 }),
  meanPredicted: Type.Number(),
  fractionPositive: Type.Number(),
});

export const BinaryEvaluationSchema = Type.Object(
  {
    count: Type.Integer({ minimum: 0 }),
    positives: Type.Integer({ minimum: 0 }),
    negatives: Type.Integer({ minimum: 0 }),
    threshold: Type.Number({ description: 'The decision threshold on the calibrated scale (what POST /v1/predict reports)' }),
    auc: AucSchema,
    accuracy: ProportionSchema,
    sensitivity: ProportionSchema,
    specificity: ProportionSchema,
    ppv: Type.Object(ProportionSchema.properties, { description: 'Positive predictive value (precision), Wilson interval' }),
    npv: Type.Object(ProportionSchema.properties, { description: 'Negative predictive value, Wilson interval' }),
    f1: Type.Number(),
    logLoss: Type.Number(),
    confusion: ConfusionSchema,
    roc: ReadonlyArray(RocPointSchema, { description: 'ROC points from (0,0) to (1,1), at most 200' }),
    calibration: Type.Object(
      {
        ece: Type.Number({ description: 'Expected calibration error over the bins' }),
        brier: Type.Number(),
        bins: ReadonlyArray(ReliabilityBinSchema, { description: 'Ten equal-width reliability bins' }),
      },
      { description: 'Of the calibrated probabilities' },
    ),
  },
  {
    description:
      'src/ml/metrics.ts evaluateBinary: AUC, ROC and calibration on the calibrated probabilities clients receive; the ' +
      'decisions (confusion and the rates) are the labels clients receive (model probability >= the stored threshold)',
  },
);

const StatusSchema = Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')], {
  description: 'queued (waiting for the worker, or for a retry) | running | completed | failed | cancelled',
});

export const EvaluationSchema = Type.Object({
  id: EvaluationId,
  model: ModelName,
  version: VersionNumber,
  dataset: Type.Object({ id: DatasetId, name: Type.String(), contentHash: Type.String({ description: 'sha256 of the dataset (image, label) pairs' }) }),
  status: StatusSchema,
  groupPattern: Type.Optional(Type.String({ description: 'The pattern naming patients, when the request gave one' })),
  runner: Type.Optional(Type.Literal('cli', { description: 'Present when `npm run evaluate` ran it in its own process (not queued)' })),
  createdAt: Type.String({ format: 'date-time' }),
  startedAt: Type.Optional(Type.String({ format: 'date-time' })),
  finishedAt: Type.Optional(Type.String({ format: 'date-time' })),
  progress: Type.Optional(
    Type.Object({ done: Type.Integer({ minimum: 0 }), total: Type.Integer({ minimum: 0 }) }, { description: 'Images scored so far, of all the images of the dataset' }),
  ),
  result: Type.Optional(
    Type.Object(
      {
        images: Type.Integer({ minimum: 0 }),
        patients: Type.Optional(Type.Integer({ minimum: 0, description: 'Distinct patients (with a groupPattern; unmatched images count one each)' })),
        threshold: Type.Number({ description: 'The decision threshold of the version on the scale of the probabilities (calibrated when the version is)' }),
        calibrated: Type.Boolean({ description: 'Whether the calibration of the version was applied, as serving does' }),
        metrics: BinaryEvaluationSchema,
        grouping: Type.Optional(
          Type.Object({ pattern: Type.String(), matched: Type.Integer({ minimum: 0 }), unmatched: Type.Integer({ minimum: 0 }) }),
        ),
      },
      { description: 'Every image of the dataset at the operating point of the version (completed evaluations)' },
    ),
  ),
  error: Type.Optional(
    Type.Object(
      {
        code: Type.String({ description: 'An error-catalogue code (DATASET_NOT_FOUND, DATASET_CLASSES_MISMATCH, INTERNAL...), or WORKER_INTERRUPTED / WORKER_LOST' }),
        message: Type.String(),
      },
      { description: 'Why it failed (failed evaluations)' },
    ),
  ),
});
type EvaluationValue = Static<typeof EvaluationSchema>;

export const EvaluationListSchema = Type.Object({ evaluations: Type.Array(EvaluationSchema) });

const EXAMPLE_CREATED = '2025-06-02T09:10:44.281Z';

const queued: EvaluationValue = {
  id: EXAMPLE_EVALUATION_ID,
  model: EXAMPLE_MODEL,
  version: EXAMPLE_VERSION,
  dataset: { id: 'ds_h2mcw6q4zt7xkr3e', name: 'hospital-b-2024', contentHash: '0c4d9e7a51f2b83c6e0a9d17f45b28c3e6a1d9f07b54c2e8a3f61d0b97c4e5a2' },
  status: 'queued',
  groupPattern: KERMANY_GROUP_PATTERN,
  createdAt: EXAMPLE_CREATED,
  progress: { done: 0, total: 624 },
};

const p = (successes: number, trials: number, low: number, high: number) => ({ value: Math.round((successes / trials) * 1e4) / 1e4, successes, trials, low, high });

/** The same evaluation once it finished: made with evaluateBinary (ROC thinned to six points here). */
export const completedEvaluationExample: EvaluationValue = {
  ...queued,
  status: 'completed',
  startedAt: '2025-06-02T09:10:45.903Z',
  finishedAt: '2025-06-02T09:11:02.517Z',
  progress: { done: 624, total: 624 },
  result: {
    images: 624,
    patients: 581,
    threshold: 0.6363,
    calibrated: true,
    metrics: {
      count: 624,
      positives: 390,
      negatives: 234,
      threshold: 0.6363,
      auc: { value: 0.9538, low: 0.9352, high: 0.9672, standardError: 0.008, method: 'delong-logit' },
      accuracy: p(542, 624, 0.8398, 0.8929),
      sensitivity: p(332, 390, 0.8125, 0.8832),
      specificity: p(210, 234, 0.8519, 0.9301),
      ppv: p(332, 356, 0.9017, 0.9543),
      npv: p(210, 268, 0.7305, 0.8287),
      f1: 0.8901,
      logLoss: 0.3025,
      confusion: { tp: 332, fp: 24, tn: 210, fn: 58 },
      roc: [
        { threshold: 1.9919, fpr: 0, tpr: 0 },
        { threshold: 0.9196, fpr: 0, tpr: 0.3205 },
        { threshold: 0.819, fpr: 0.0256, tpr: 0.6256 },
        { threshold: 0.6013, fpr: 0.1154, tpr: 0.8897 },
        { threshold: 0.2438, fpr: 0.4744, tpr: 0.9949 },
        { threshold: 0.0042, fpr: 1, tpr: 1 },
      ],
      calibration: {
        ece: 0.0919,
        brier: 0.0875,
        bins: [
          { low: 0, high: 0.1, count: 52, meanPredicted: 0.0592, fractionPositive: 0.0192 },
          { low: 0.1, high: 0.2, count: 51, meanPredicted: 0.1533, fractionPositive: 0 },
          { low: 0.2, high: 0.3, count: 50, meanPredicted: 0.2505, fractionPositive: 0.06 },
          { low: 0.3, high: 0.4, count: 28, meanPredicted: 0.3428, fractionPositive: 0.25 },
          { low: 0.4, high: 0.5, count: 32, meanPredicted: 0.4568, fractionPositive: 0.3125 },
          { low: 0.5, high: 0.6, count: 36, meanPredicted: 0.5501, fractionPositive: 0.6111 },
          { low: 0.6, high: 0.7, count: 46, meanPredicted: 0.6476, fractionPositive: 0.8261 },
          { low: 0.7, high: 0.8, count: 60, meanPredicted: 0.7476, fractionPositive: 0.8 },
          { low: 0.8, high: 0.9, count: 113, meanPredicted: 0.8531, fractionPositive: 0.9469 },
          { low: 0.9, high: 1, count: 156, meanPredicted: 0.9452, fractionPositive: 0.9872 },
        ],
      },
    },
    grouping: { pattern: KERMANY_GROUP_PATTERN, matched: 624, unmatched: 0 },
  },
};

/** A later evaluation of the same version on the uploaded training dataset, still scoring. */
const running: EvaluationValue = {
  id: EXAMPLE_RUNNING_EVALUATION_ID,
  model: EXAMPLE_MODEL,
  version: EXAMPLE_VERSION,
  dataset: { id: EXAMPLE_DATASET_ID, name: 'kermany-2018', contentHash: '6b1f0c9e27d84a3f95c2e8b7a41d0f63c58e92b4a7d13f06e2c9b85a4f71d3e0' },
  status: 'running',
  createdAt: '2025-06-02T09:14:20.006Z',
  startedAt: '2025-06-02T09:14:21.377Z',
  progress: { done: 2144, total: 5856 },
};

export const EvaluationRequest = withExample(EvaluationBody, { datasetId: 'ds_h2mcw6q4zt7xkr3e', groupPattern: KERMANY_GROUP_PATTERN });
export const EvaluationQueued = withExample(
  EvaluationSchema,
  queued,
  'Queued: the worker scores every image of the dataset with the version (poll the Location, or list the evaluations of the version)',
);
export const EvaluationFound = withExample(EvaluationSchema, completedEvaluationExample, 'The evaluation: its status, progress, and once completed the metrics with their intervals');
export const EvaluationsListed = withExample(EvaluationListSchema, { evaluations: [running, completedEvaluationExample] }, 'The evaluations of the version, newest first');
