import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { AppError } from '../errors.ts';
import type { AugmentationOptions } from '../ml/types.ts';
import { parseThresholdPolicy, THRESHOLD_POLICY_PATTERN } from '../ml/operating-point.ts';
import { compileGroupPattern, GROUP_PATTERN_MAX_LENGTH } from './group-pattern.ts';
import { DATASET_ID_PATTERN, MODEL_NAME_PATTERN } from './ids.ts';

/**
 * The training parameters: one schema (JSON Schema via TypeBox) shared by the HTTP route (strict
 * validation and OpenAPI), the CLI and the worker (which re-checks what it dequeues), with the
 * defaults of DESIGN.md. Every field is optional in a request; `resolveTrainingRequest` fills the
 * defaults and returns the fully specified parameters a job carries.
 */

export const TRAINING_LIMITS = Object.freeze({
  epochs: { min: 1, max: 200, default: 10 },
  batchSize: { min: 1, max: 256, default: 16 },
  learningRate: { exclusiveMin: 0, exclusiveMax: 1, default: 1e-3 },
  dropoutRate: { min: 0, max: 0.95, default: 0.6 },
  seed: { min: 0, max: 4_294_967_295, default: 42 },
  validationSplit: { exclusiveMin: 0, max: 0.5, default: 0.15 },
  testSplit: { exclusiveMin: 0, max: 0.5, default: 0.15 },
  earlyStoppingPatience: { min: 0, max: 100, default: 0 },
  /** Applied when the request leaves `epochs` to its default: the default recipe fits 15 minutes on any CPU. */
  timeBudgetMinutes: { min: 0, max: 10_080, default: 13 },
  rotation: { min: 0, max: 45 },
  zoom: { min: 0, max: 0.5 },
  shift: { min: 0, max: 0.5 },
  inputSize: { min: 64, max: 512, multipleOf: 64, default: 256 },
  filterMultiplier: { exclusiveMin: 0, max: 8, default: 1 },
});


const L = TRAINING_LIMITS;

export const AugmentationSchema = Type.Object(
  {
    rotation: Type.Optional(
      Type.Number({ minimum: L.rotation.min, maximum: L.rotation.max, default: 0, description: 'Max rotation in degrees (+-)' }),
    ),
    zoom: Type.Optional(Type.Number({ minimum: L.zoom.min, maximum: L.zoom.max, default: 0, description: 'Max zoom fraction (+-)' })),
    shift: Type.Optional(
      Type.Number({ minimum: L.shift.min, maximum: L.shift.max, default: 0, description: 'Max shift as a fraction of the side (+-)' }),
    ),
    horizontalFlip: Type.Optional(Type.Boolean({ default: false })),
    brightness: Type.Optional(
      Type.Number({ minimum: 0, maximum: 0.5, default: 0, description: 'Max brightness shift as a fraction of full scale (+-)' }),
    ),
    contrast: Type.Optional(Type.Number({ minimum: 0, maximum: 0.5, default: 0, description: 'Max contrast change (factor uniform in 1 +- contrast)' })),
    gamma: Type.Optional(
      Type.Number({ minimum: 0, maximum: 0.5, default: 0, description: 'Max gamma change (exponent log-uniform in [1/(1+gamma), 1+gamma])' }),
    ),
  },
  { additionalProperties: false, description: 'On-the-fly augmentation of training images; off by default' },
);

export const ModelRequestSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ pattern: MODEL_NAME_PATTERN, description: 'Registry name; the configured default model name when absent' })),
    inputSize: Type.Optional(
      Type.Integer({
        minimum: L.inputSize.min,
        maximum: L.inputSize.max,
        multipleOf: L.inputSize.multipleOf,
        default: L.inputSize.default,
        description: 'Side of the square grey input in pixels (a multiple of 64)',
      }),
    ),
    filterMultiplier: Type.Optional(
      Type.Number({
        exclusiveMinimum: L.filterMultiplier.exclusiveMin,
        maximum: L.filterMultiplier.max,
        default: L.filterMultiplier.default,
        description: 'Multiplies every convolution filter count (2 doubles them)',
      }),
    ),
    batchNorm: Type.Optional(Type.Boolean({ default: true, description: 'Batch normalisation after each convolution (on by default: docs/experiments.md)' })),
  },
  { additionalProperties: false, description: 'Which model to train and its architecture options' },
);

/** Body of POST /v1/training-jobs. */
export const TrainingJobRequestSchema = Type.Object(
  {
    datasetId: Type.String({ pattern: DATASET_ID_PATTERN, description: 'Id of an uploaded dataset' }),
    model: Type.Optional(ModelRequestSchema),
    epochs: Type.Optional(Type.Integer({ minimum: L.epochs.min, maximum: L.epochs.max, default: L.epochs.default })),
    batchSize: Type.Optional(Type.Integer({ minimum: L.batchSize.min, maximum: L.batchSize.max, default: L.batchSize.default })),
    learningRate: Type.Optional(
      Type.Number({
        exclusiveMinimum: L.learningRate.exclusiveMin,
        exclusiveMaximum: L.learningRate.exclusiveMax,
        default: L.learningRate.default,
        description: 'Adam learning rate, in (0, 1)',
      }),
    ),
    dropoutRate: Type.Optional(Type.Number({ minimum: L.dropoutRate.min, maximum: L.dropoutRate.max, default: L.dropoutRate.default })),
    seed: Type.Optional(Type.Integer({ minimum: L.seed.min, maximum: L.seed.max, default: L.seed.default })),
    validationSplit: Type.Optional(
      Type.Number({
        exclusiveMinimum: L.validationSplit.exclusiveMin,
        maximum: L.validationSplit.max,
        default: L.validationSplit.default,
        description: 'Fraction of the training images held out for validation (when the archive has no val/ split)',
      }),
    ),
    testSplit: Type.Optional(
      Type.Number({
        exclusiveMinimum: L.testSplit.exclusiveMin,
        maximum: L.testSplit.max,
        default: L.testSplit.default,
        description: 'Fraction of all images held out for test (when the archive has no test/ split)',
      }),
    ),
    augmentation: Type.Optional(AugmentationSchema),
    classWeighting: Type.Optional(Type.Union([Type.Literal('balanced'), Type.Literal('none')], { default: 'balanced' })),
    timeBudgetMinutes: Type.Optional(
      Type.Number({
        minimum: L.timeBudgetMinutes.min,
        maximum: L.timeBudgetMinutes.max,
        description:
          'Wall-clock minutes the fit may take (validation included); after the first epoch the plan shrinks to the epochs that fit, ' +
          'the learning-rate schedule runs to its end and the best epoch is kept. 0 = no limit. ' +
          `Default: ${L.timeBudgetMinutes.default} when epochs is left to its default, else 0`,
      }),
    ),
    learningRateSchedule: Type.Optional(
      Type.Union([Type.Literal('constant'), Type.Literal('cosine')], {
        default: 'cosine',
        description: 'constant: learningRate throughout; cosine: decays per batch from learningRate to 1% of it at the last epoch',
      }),
    ),
    earlyStoppingPatience: Type.Optional(
      Type.Integer({
        minimum: L.earlyStoppingPatience.min,
        maximum: L.earlyStoppingPatience.max,
        default: L.earlyStoppingPatience.default,
        description: 'Stop after this many epochs without validation-loss improvement; 0 = never',
      }),
    ),
    groupPattern: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: GROUP_PATTERN_MAX_LENGTH,
        description:
          'Regular expression with exactly one capture group, applied to each image path in the dataset, whose capture is the ' +
          'patient: no patient is ever in two of train/validation/test. Paths it does not match are their own group. ' +
          'For the Kermany names: (?:^|/)((?:NORMAL2-)?IM-\\d+|person\\d+)[-_][^/]*$. Without it the split is by image',
      }),
    ),
    thresholdPolicy: Type.Optional(
      Type.String({
        pattern: THRESHOLD_POLICY_PATTERN,
        default: 'sensitivity:0.95',
        description:
          'How the decision threshold is chosen on validation: youden, sensitivity:T or specificity:T (0 < T < 1). ' +
          'The default, sensitivity:0.95, is the highest threshold that keeps 95% of validation positives: on images of ' +
          'another acquisition batch it kept the most specificity (docs/experiments.md)',
      }),
    ),
    calibration: Type.Optional(
      Type.Union([Type.Literal('platt'), Type.Literal('temperature'), Type.Literal('none')], {
        default: 'platt',
        description: 'Probability calibration fitted on validation and applied when serving',
      }),
    ),
  },
  { additionalProperties: false },
);

export type TrainingJobRequest = Static<typeof TrainingJobRequestSchema>;

/** Fully specified parameters (defaults filled): what a job carries and what metadata records. */
export interface TrainingParams {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly dropoutRate: number;
  readonly seed: number;
  readonly validationSplit: number;
  readonly testSplit: number;
  readonly augmentation: AugmentationOptions;
  readonly classWeighting: 'balanced' | 'none';
  readonly learningRateSchedule?: 'constant' | 'cosine';
  readonly timeBudgetMinutes?: number;
  readonly earlyStoppingPatience: number;
  readonly inputSize: number;
  readonly filterMultiplier: number;
  readonly batchNorm: boolean;
  /** Absent: image-level split. */
  readonly groupPattern?: string;
  /** Absent (jobs queued before it existed): 'youden'. */
  readonly thresholdPolicy?: string;
  /** Absent (jobs queued before it existed): 'none'. */
  readonly calibration?: 'platt' | 'temperature' | 'none';
}

export interface ResolvedTrainingRequest {
  readonly datasetId: string;
  readonly modelName: string;
  readonly params: TrainingParams;
}

export const DEFAULT_TRAINING_PARAMS: TrainingParams = Object.freeze({
  epochs: L.epochs.default,
  batchSize: L.batchSize.default,
  learningRate: L.learningRate.default,
  dropoutRate: L.dropoutRate.default,
  seed: L.seed.default,
  validationSplit: L.validationSplit.default,
  testSplit: L.testSplit.default,
  augmentation: Object.freeze({ rotation: 0, zoom: 0, shift: 0, horizontalFlip: false }),
  classWeighting: 'balanced',
  learningRateSchedule: 'cosine',
  timeBudgetMinutes: L.timeBudgetMinutes.default,
  earlyStoppingPatience: L.earlyStoppingPatience.default,
  inputSize: L.inputSize.default,
  filterMultiplier: L.filterMultiplier.default,
  batchNorm: true,
  thresholdPolicy: 'sensitivity:0.95',
  calibration: 'platt',
});

/** The fully specified parameters as a schema (job payloads, job views, metadata). */
export const TrainingParamsSchema = Type.Object({
  epochs: Type.Integer(),
  batchSize: Type.Integer(),
  learningRate: Type.Number(),
  dropoutRate: Type.Number(),
  seed: Type.Integer(),
  validationSplit: Type.Number(),
  testSplit: Type.Number(),
  augmentation: Type.Object({
    rotation: Type.Number(),
    zoom: Type.Number(),
    shift: Type.Number(),
    horizontalFlip: Type.Boolean(),
    brightness: Type.Optional(Type.Number()),
    contrast: Type.Optional(Type.Number()),
    gamma: Type.Optional(Type.Number()),
  }),
  classWeighting: Type.Union([Type.Literal('balanced'), Type.Literal('none')]),
  learningRateSchedule: Type.Optional(Type.Union([Type.Literal('constant'), Type.Literal('cosine')])),
  timeBudgetMinutes: Type.Optional(Type.Number()),
  earlyStoppingPatience: Type.Integer(),
  inputSize: Type.Integer(),
  filterMultiplier: Type.Number(),
  batchNorm: Type.Boolean(),
  groupPattern: Type.Optional(Type.String()),
  thresholdPolicy: Type.Optional(Type.String()),
  calibration: Type.Optional(Type.Union([Type.Literal('platt'), Type.Literal('temperature'), Type.Literal('none')])),
});

const compiled = new Map<TSchema, TypeCheck<TSchema>>();
function checker<T extends TSchema>(schema: T): TypeCheck<T> {
  let c = compiled.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    compiled.set(schema, c);
  }
  return c as TypeCheck<T>;
}

/** Human-readable problems with `value` against `schema` ("/epochs: must be <= 200"); empty when valid. */
export function schemaErrors(schema: TSchema, value: unknown, max = 10): string[] {
  const c = checker(schema);
  if (c.Check(value)) return [];
  const out: string[] = [];
  const seen = new Set<string>();
  for (const e of c.Errors(value)) {
    const where = e.path === '' ? 'body' : e.path;
    // Unions report one error per member; keep the first per path.
    if (seen.has(where)) continue;
    seen.add(where);
    out.push(`${where}: ${describeSchemaError(e.schema, e.message, e.value)}`);
    if (out.length >= max) break;
  }
  return out.length ? out : ['body: invalid'];
}

/** Longest part of a client string quoted in a message. */
const PREVIEW_CHARS = 40;

/**
 * A short, bounded description of a client value for an error message: numbers, booleans and
 * null as written, strings quoted and cut at 40 characters, arrays and objects by kind only. A
 * client value is never serialised whole into a message (it may be megabytes, or nested 10,000
 * levels deep).
 */
export function previewValue(value: unknown): string {
  if (typeof value === 'string') {
    const cut = value.length > PREVIEW_CHARS ? `${value.slice(0, PREVIEW_CHARS)}...` : value;
    return `${JSON.stringify(cut)}${value.length > PREVIEW_CHARS ? ` (${value.length} characters)` : ''}`;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** One schema problem in words ("must be an integer >= 1 and <= 200 (got 500)"), quoting the value only through previewValue. */
export function describeSchemaError(schema: TSchema, fallback: string, value: unknown): string {
  const s = schema as Record<string, unknown>;
  const range: string[] = [];
  if (typeof s.minimum === 'number') range.push(`>= ${s.minimum}`);
  if (typeof s.exclusiveMinimum === 'number') range.push(`> ${s.exclusiveMinimum}`);
  if (typeof s.maximum === 'number') range.push(`<= ${s.maximum}`);
  if (typeof s.exclusiveMaximum === 'number') range.push(`< ${s.exclusiveMaximum}`);
  if (typeof s.multipleOf === 'number') range.push(`a multiple of ${s.multipleOf}`);
  if (value === undefined && fallback.toLowerCase().includes('required')) return 'is required';
  const got = `(got ${previewValue(value)})`;
  if ((s.type === 'number' || s.type === 'integer') && range.length > 0) {
    return `must be ${s.type === 'integer' ? 'an integer' : 'a number'} ${range.join(' and ')} ${got}`;
  }
  if (Array.isArray(s.anyOf)) {
    const options = (s.anyOf as Record<string, unknown>[]).map((o) => JSON.stringify(o.const));
    return `must be one of ${options.join(', ')} ${got}`;
  }
  if (typeof s.pattern === 'string') return `must match ${s.pattern} ${got}`;
  return fallback.charAt(0).toLowerCase() + fallback.slice(1);
}

/**
 * Validates a request strictly (types, ranges, unknown fields) and fills the defaults.
 * Throws AppError VALIDATION_FAILED naming every problem.
 */
export function resolveTrainingRequest(body: unknown, defaults: { modelName: string }): ResolvedTrainingRequest {
  const errors = schemaErrors(TrainingJobRequestSchema, body);
  if (errors.length > 0) {
    throw new AppError('VALIDATION_FAILED', `Invalid training job: ${errors.join('; ')}`, { errors });
  }
  const req = body as TrainingJobRequest;
  const d = DEFAULT_TRAINING_PARAMS;
  const params: TrainingParams = {
    epochs: req.epochs ?? d.epochs,
    batchSize: req.batchSize ?? d.batchSize,
    learningRate: req.learningRate ?? d.learningRate,
    dropoutRate: req.dropoutRate ?? d.dropoutRate,
    seed: req.seed ?? d.seed,
    validationSplit: req.validationSplit ?? d.validationSplit,
    testSplit: req.testSplit ?? d.testSplit,
    augmentation: { ...d.augmentation, ...req.augmentation },
    classWeighting: req.classWeighting ?? d.classWeighting,
    learningRateSchedule: req.learningRateSchedule ?? d.learningRateSchedule ?? 'constant',
    timeBudgetMinutes: req.timeBudgetMinutes ?? (req.epochs === undefined ? L.timeBudgetMinutes.default : 0),
    earlyStoppingPatience: req.earlyStoppingPatience ?? d.earlyStoppingPatience,
    inputSize: req.model?.inputSize ?? d.inputSize,
    filterMultiplier: req.model?.filterMultiplier ?? d.filterMultiplier,
    batchNorm: req.model?.batchNorm ?? d.batchNorm,
    ...(req.groupPattern !== undefined ? { groupPattern: req.groupPattern } : {}),
    thresholdPolicy: req.thresholdPolicy ?? d.thresholdPolicy!,
    calibration: req.calibration ?? d.calibration!,
  };
  if (req.groupPattern !== undefined) compileGroupPattern(req.groupPattern);
  try {
    parseThresholdPolicy(params.thresholdPolicy!);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new AppError('VALIDATION_FAILED', `Invalid training job: /thresholdPolicy: ${message}`, { errors: [`/thresholdPolicy: ${message}`] });
  }
  return { datasetId: req.datasetId, modelName: req.model?.name ?? defaults.modelName, params };
}

/** Re-checks fully specified parameters (a dequeued payload, the CLI): throws VALIDATION_FAILED. */
export function checkTrainingParams(params: unknown): TrainingParams {
  const errors = schemaErrors(TrainingParamsSchema, params);
  if (errors.length > 0) throw new AppError('VALIDATION_FAILED', `Invalid training parameters: ${errors.join('; ')}`, { errors });
  const p = params as TrainingParams;
  // Ranges live on the request schema; re-run them through it.
  const { inputSize, filterMultiplier, batchNorm, ...rest } = p;
  resolveTrainingRequest({ datasetId: 'ds_aaaaaaaaaaaaaaaa', model: { inputSize, filterMultiplier, batchNorm }, ...rest }, { modelName: 'x' });
  return p;
}
