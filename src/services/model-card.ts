import { proportion } from '../ml/metrics.ts';
import type { ModelVersionInfo } from '../storage/model-registry.ts';
import type { EvaluationLister, EvaluationRecord } from './evaluation-types.ts';
import { IMAGE_LEVEL_SPLIT_WARNING } from '../domain/group-pattern.ts';

/**
 * The model card of one version: what it is for, what it was trained on and how, how it scored
 * (internally, with 95% intervals, and on every external evaluation), and what it cannot do.
 * Built from the version's metadata (what runTraining recorded) and its evaluations. Versions
 * trained before a field existed still get a card: the field is null here, "not recorded" in the
 * Markdown, and named in `notRecorded`. Class names are lists of {className, images}, never keys.
 */

export interface CardInterval {
  readonly value: number;
  /** Null when the version did not record an interval. */
  readonly low: number | null;
  readonly high: number | null;
}
export interface CardRate extends CardInterval {
  readonly successes: number | null;
  readonly trials: number | null;
}
export interface ClassCount {
  readonly className: string;
  readonly images: number;
}
export interface SplitCounts {
  readonly train: number;
  readonly validation: number;
  readonly test: number;
}
export interface Quality {
  readonly ece: number;
  readonly brier: number;
}
export interface CardEvaluation {
  readonly images: number | null;
  readonly positives: number | null;
  readonly negatives: number | null;
  readonly threshold: number | null;
  /** AUC with its 95% DeLong interval. */
  readonly auc: CardInterval | null;
  /** Rates with 95% Wilson intervals. */
  readonly accuracy: CardRate | null;
  readonly sensitivity: CardRate | null;
  readonly specificity: CardRate | null;
  readonly ppv: CardRate | null;
  readonly npv: CardRate | null;
  readonly f1: number | null;
  readonly calibration: Quality | null;
  /** recorded: as evaluated; computed-from-confusion: Wilson intervals of an older version's confusion matrix (no AUC interval). */
  readonly intervals: 'recorded' | 'computed-from-confusion' | 'not-recorded';
}
export interface CardExternalEvaluation {
  readonly id: string;
  readonly status: EvaluationRecord['status'];
  readonly dataset: { readonly id: string; readonly name: string; readonly contentHash: string };
  readonly createdAt: string;
  readonly finishedAt: string | null;
  readonly images: number | null;
  readonly patients: number | null;
  readonly calibrated: boolean | null;
  readonly metrics: CardEvaluation | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}
export interface CardSetting {
  readonly name: string;
  readonly value: string | number | boolean | null;
}

export interface ModelCard {
  readonly model: {
    readonly name: string;
    readonly version: number;
    readonly createdAt: string;
    readonly trainedAt: string | null;
    readonly kind: string | null;
    readonly aliases: string[];
    readonly jobId: string | null;
  };
  readonly intendedUse: {
    readonly use: string;
    readonly notFor: string;
    readonly localValidation: string;
    readonly internalEstimate: string;
  };
  readonly trainingData: {
    readonly dataset: {
      readonly id: string | null;
      readonly name: string | null;
      readonly contentHash: string | null;
      readonly images: number | null;
      readonly classBalance: ClassCount[] | null;
    };
    readonly classes: { readonly names: string[] | null; readonly positive: string | null };
    readonly split: {
      readonly level: 'patient' | 'image' | null;
      /** In words: patient-level with its pattern, or the image-level warning. */
      readonly description: string;
      readonly method: string | null;
      readonly seed: number | null;
      readonly groupPattern: string | null;
      readonly unmatchedImages: number | null;
      readonly images: SplitCounts | null;
      readonly patients: SplitCounts | null;
      readonly classBalance: { readonly train: ClassCount[]; readonly validation: ClassCount[]; readonly test: ClassCount[] } | null;
    };
  };
  readonly parameters: {
    readonly training: CardSetting[] | null;
    readonly model: CardSetting[] | null;
    readonly parameterCount: number | null;
    readonly inputSize: number | null;
    readonly epochsRun: number | null;
    readonly bestEpoch: number | null;
    readonly stoppedEarly: boolean | null;
  };
  readonly internalEvaluation: {
    readonly note: string;
    readonly validation: CardEvaluation | null;
    readonly test: CardEvaluation | null;
  };
  /** Newest first. */
  readonly externalEvaluations: CardExternalEvaluation[];
  readonly operatingPoint: {
    readonly policy: string | null;
    readonly threshold: number | null;
    readonly calibratedThreshold: number | null;
    readonly validationSensitivity: number | null;
    readonly validationSpecificity: number | null;
    readonly targetMet: boolean | null;
  };
  readonly calibration: {
    readonly method: string | null;
    readonly fittedOn: string | null;
    readonly slope: number | null;
    readonly intercept: number | null;
    readonly temperature: number | null;
    readonly validation: { readonly before: Quality | null; readonly after: Quality | null };
    readonly test: { readonly before: Quality | null; readonly after: Quality | null };
  };
  readonly limitations: string[];
  readonly software: {
    readonly engine: { readonly name: string | null; readonly description: string | null; readonly backend: string | null; readonly fallbackReason: string | null } | null;
    readonly libraries: CardSetting[] | null;
    readonly preprocessing: CardSetting[] | null;
  };
  readonly warnings: string[];
  /** Card fields the version's metadata does not have (older versions). */
  readonly notRecorded: string[];
}

export const INTENDED_USE = Object.freeze({
  use: 'Research only. This model is not a medical device and has not been validated clinically.',
  notFor: 'Not for diagnosis, treatment, triage or any other decision about a patient.',
  localValidation:
    "Before any use, validate it locally on the site's own patients (its scanners, population, labelling and prevalence), " +
    'for example as an external evaluation on a labelled dataset from that site.',
  internalEstimate:
    'The internal estimate (validation and test below) comes from splits of the training distribution: the same sources, ' +
    'scanners and labelling as the training images. On patients from elsewhere such estimates have in the past been far lower.',
});

// ---------------------------------------------------------------------------------------------
// Reading metadata defensively: every field may be missing or of another shape in older versions.

type Obj = Readonly<Record<string, unknown>>;
const obj = (v: unknown): Obj | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const count = (v: unknown): number | null => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);

function classCounts(v: unknown): ClassCount[] | null {
  const o = obj(v);
  if (!o) return null;
  const out: ClassCount[] = [];
  for (const [className, images] of Object.entries(o)) {
    const n = count(images);
    if (n === null) return null;
    out.push({ className, images: n });
  }
  return out;
}

function splitCounts(v: unknown): SplitCounts | null {
  const o = obj(v);
  if (!o) return null;
  const train = count(o.train);
  const validation = count(o.validation);
  const test = count(o.test);
  return train === null || validation === null || test === null ? null : { train, validation, test };
}

/** Flattens an object of settings into name/value pairs (nested objects as a.b). */
function settings(v: unknown, prefix = ''): CardSetting[] | null {
  const o = obj(v);
  if (!o) return null;
  const out: CardSetting[] = [];
  for (const [k, value] of Object.entries(o)) {
    const name = prefix + k;
    if (value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) {
      out.push({ name, value });
    } else if (obj(value)) {
      out.push(...(settings(value, `${name}.`) ?? []));
    } else if (Array.isArray(value)) {
      out.push({ name, value: JSON.stringify(value) });
    }
  }
  return out;
}

function interval(v: unknown): CardInterval | null {
  const o = obj(v);
  const value = num(o?.value);
  if (!o || value === null) return null;
  return { value, low: num(o.low), high: num(o.high) };
}

function rate(v: unknown): CardRate | null {
  const i = interval(v);
  if (!i) return null;
  const o = obj(v)!;
  return { ...i, successes: count(o.successes), trials: count(o.trials) };
}

function quality(v: unknown): Quality | null {
  const o = obj(v);
  const ece = num(o?.ece);
  const brier = num(o?.brier);
  return ece === null || brier === null ? null : { ece, brier };
}

/** A full evaluation report (training's `evaluation.*` or an evaluation's metrics). */
function fromEvaluation(v: unknown): CardEvaluation | null {
  const e = obj(v);
  if (!e) return null;
  const auc = interval(e.auc);
  if (!auc) return null;
  return {
    images: count(e.count),
    positives: count(e.positives),
    negatives: count(e.negatives),
    threshold: num(e.threshold),
    auc,
    accuracy: rate(e.accuracy),
    sensitivity: rate(e.sensitivity),
    specificity: rate(e.specificity),
    ppv: rate(e.ppv),
    npv: rate(e.npv),
    f1: num(e.f1),
    calibration: quality(e.calibration),
    intervals: 'recorded',
  };
}

/** The flat summary older versions kept (`metrics.*`): point values; Wilson intervals from the confusion matrix when there is one. */
function fromFlatMetrics(v: unknown): CardEvaluation | null {
  const m = obj(v);
  if (!m) return null;
  const auc = num(m.auc);
  const c = obj(m.confusion);
  const tp = count(c?.tp);
  const fp = count(c?.fp);
  const tn = count(c?.tn);
  const fn = count(c?.fn);
  const haveCounts = tp !== null && fp !== null && tn !== null && fn !== null;
  const point = (value: unknown): CardRate | null => {
    const n = num(value);
    return n === null ? null : { value: n, low: null, high: null, successes: null, trials: null };
  };
  const wilson = (successes: number, trials: number): CardRate => {
    const p = proportion(successes, trials);
    return { value: p.value, low: p.low, high: p.high, successes, trials };
  };
  const images = count(m.count) ?? (haveCounts ? tp + fp + tn + fn : null);
  return {
    images,
    positives: haveCounts ? tp + fn : null,
    negatives: haveCounts ? tn + fp : null,
    threshold: num(m.threshold),
    auc: auc === null ? null : { value: auc, low: null, high: null },
    accuracy: haveCounts ? wilson(tp + tn, tp + fp + tn + fn) : point(m.accuracy),
    sensitivity: haveCounts ? wilson(tp, tp + fn) : point(m.sensitivity),
    specificity: haveCounts ? wilson(tn, tn + fp) : point(m.specificity),
    ppv: haveCounts ? wilson(tp, tp + fp) : point(m.precision),
    npv: haveCounts ? wilson(tn, tn + fn) : null,
    f1: num(m.f1),
    calibration: null,
    intervals: haveCounts ? 'computed-from-confusion' : 'not-recorded',
  };
}

function externalEvaluation(r: EvaluationRecord): CardExternalEvaluation {
  const result = r.status === 'completed' ? r.result : undefined;
  return {
    id: r.id,
    status: r.status,
    dataset: { id: r.dataset.id, name: r.dataset.name, contentHash: r.dataset.contentHash },
    createdAt: r.createdAt,
    finishedAt: r.finishedAt ?? null,
    images: result ? result.images : null,
    patients: result?.patients ?? null,
    calibrated: result ? result.calibrated : null,
    metrics: result ? fromEvaluation(result.metrics) : null,
    error: r.error ? { code: r.error.code, message: r.error.message } : null,
  };
}

type Escape = (text: string) => string;
const plain: Escape = (t) => t;

/**
 * The split in words. `esc` escapes the strings that came from the client (the pattern) for the
 * medium: identity for the JSON card, escapeMarkdown for the Markdown one.
 */
export function describeSplit(level: 'patient' | 'image' | null, pattern: string | null, hasSplit: boolean, esc: Escape = plain): string {
  if (level === 'patient') {
    return `patient-level: no patient is in two of train, validation and test; patients are the capture of the pattern ${pattern === null ? '(not recorded)' : esc(pattern)} applied to each image's path`;
  }
  if (level === 'image') return IMAGE_LEVEL_SPLIT_WARNING;
  return hasSplit
    ? `not recorded (versions trained before patient-level splits existed split by image): ${IMAGE_LEVEL_SPLIT_WARNING}`
    : 'not recorded';
}

export interface LimitationFacts {
  readonly inputSize: number | null;
  readonly classes: string[] | null;
  readonly positive: string | null;
  readonly datasetName: string | null;
}

/** The facts a card's limitations name, read back from the card. */
export function limitationFacts(card: ModelCard): LimitationFacts {
  return {
    inputSize: card.parameters.inputSize,
    classes: card.trainingData.classes.names,
    positive: card.trainingData.classes.positive,
    datasetName: card.trainingData.dataset.name,
  };
}

/** The limitations every card states, with the version's facts (escaped by `esc`, as describeSplit). */
export function limitationTexts(f: LimitationFacts, esc: Escape = plain): string[] {
  const size = f.inputSize === null ? 'the input size' : `${f.inputSize}x${f.inputSize}`;
  const classes = f.classes ? f.classes.map(esc).join(' and ') : '(not recorded)';
  return [
    'Grad-CAM heat maps (POST /v1/explain) are not localisation: they are coarse, they do not outline disease, and they are not evidence of what the model used.',
    'Single frontal view: each prediction sees one image alone, with no lateral view, no prior studies and no clinical information.',
    `8-bit grey input: every image is reduced to 8-bit grey at ${size} before the model sees it; detail of higher bit depths (12- or 16-bit DICOM) and of full resolution is lost.`,
    `What the model has not seen: it knows only the classes ${classes} as labelled in the dataset ${f.datasetName === null ? '(not recorded)' : esc(f.datasetName)}; ` +
      'other findings (effusion, nodules, tuberculosis, devices, ...), other hospitals, scanners and populations (children, if the data had adults only, and the other way round), ' +
      `portable or supine films and images that are not chest X-rays are outside it, yet it gives a probability of ${f.positive === null ? 'the positive class' : esc(f.positive)} for any image it is sent.`,
  ];
}

/** The card of one version: its registry entry (with metadata) and its evaluations, newest first. */
export function buildModelCard(info: ModelVersionInfo, evaluations: EvaluationRecord[]): ModelCard {
  const meta: Obj = info.metadata;
  const missing: string[] = [];
  const note = <T>(value: T | null, field: string): T | null => {
    if (value === null) missing.push(field);
    return value;
  };

  const dataset = obj(meta.dataset);
  const split = obj(meta.split);
  const groups = obj(split?.groups);
  const params = obj(meta.params);
  const modelOptions = obj(meta.modelOptions);
  const evaluation = obj(meta.evaluation);
  const flat = obj(meta.metrics);
  const op = obj(meta.operatingPoint);
  const cal = obj(meta.calibration);
  const engine = obj(meta.engine);

  const classNames = Array.isArray(meta.classNames) && meta.classNames.every((c) => typeof c === 'string') ? (meta.classNames as string[]) : null;
  const level = split?.level === 'patient' || split?.level === 'image' ? split.level : null;
  const groupPattern = str(groups?.pattern) ?? (level === 'patient' ? str(params?.groupPattern) : null);
  const inputSize = count(params?.inputSize) ?? count(modelOptions?.inputSize) ?? count(obj(meta.preprocessing)?.inputSize) ?? count(meta.inputSize);

  const internal = (which: 'validation' | 'test'): CardEvaluation | null => {
    const full = fromEvaluation(evaluation?.[which]);
    if (full) return full;
    const old = fromFlatMetrics(flat?.[which]);
    missing.push(old ? `internalEvaluation.${which}.intervals` : `internalEvaluation.${which}`);
    return old;
  };
  const validation = internal('validation');
  const test = internal('test');

  const external = evaluations.map(externalEvaluation);
  const warnings = new Set<string>(Array.isArray(meta.warnings) ? meta.warnings.filter((w): w is string => typeof w === 'string') : []);
  if (level !== 'patient') warnings.add(IMAGE_LEVEL_SPLIT_WARNING);
  if (!external.some((e) => e.status === 'completed')) {
    warnings.add('no external evaluation: how the model does on patients from elsewhere is unknown');
  }
  if (op?.targetMet === false) warnings.add('the threshold policy target was not met on validation');

  const calibrationMethod = str(cal?.method);
  const policy =
    str(op?.policy) ?? (meta.thresholdMethod === 'youden-j-on-validation' ? 'youden' : str(meta.thresholdMethod));

  const card: ModelCard = {
    model: {
      name: info.name,
      version: info.version,
      createdAt: info.createdAt,
      trainedAt: str(meta.trainedAt),
      kind: str(meta.kind),
      aliases: [...info.aliases],
      jobId: str(meta.jobId),
    },
    intendedUse: { ...INTENDED_USE },
    trainingData: {
      dataset: {
        id: note(str(dataset?.id), 'trainingData.dataset.id'),
        name: str(dataset?.name),
        contentHash: note(str(dataset?.contentHash), 'trainingData.dataset.contentHash'),
        images: count(dataset?.images),
        classBalance: note(classCounts(dataset?.byClass), 'trainingData.dataset.classBalance'),
      },
      classes: { names: classNames, positive: str(meta.positiveClass) },
      split: {
        level: note(level, 'trainingData.split.level'),
        description: describeSplit(level, groupPattern, split !== null),
        method: str(split?.method),
        seed: num(split?.seed),
        groupPattern,
        unmatchedImages: count(groups?.unmatched),
        images: note(splitCounts(split), 'trainingData.split.images'),
        patients: level === 'patient' ? note(splitCounts(groups?.patients), 'trainingData.split.patients') : null,
        classBalance: (() => {
          const b = obj(split?.byClass);
          const train = classCounts(b?.train);
          const val = classCounts(b?.validation);
          const tst = classCounts(b?.test);
          return note(train && val && tst ? { train, validation: val, test: tst } : null, 'trainingData.split.classBalance');
        })(),
      },
    },
    parameters: {
      training: note(settings(params), 'parameters.training'),
      model: settings(modelOptions),
      parameterCount: count(meta.parameterCount),
      inputSize,
      epochsRun: Array.isArray(meta.history) ? meta.history.length : null,
      bestEpoch: count(meta.bestEpoch),
      stoppedEarly: bool(meta.stoppedEarly),
    },
    internalEvaluation: {
      note: `${INTENDED_USE.internalEstimate} The threshold was chosen on validation, so validation flatters it; test is the fairer of the two.`,
      validation,
      test,
    },
    externalEvaluations: external,
    operatingPoint: {
      policy: note(policy, 'operatingPoint.policy'),
      threshold: note(num(op?.threshold) ?? num(meta.threshold), 'operatingPoint.threshold'),
      calibratedThreshold: num(op?.calibratedThreshold),
      validationSensitivity: num(op?.sensitivity) ?? validation?.sensitivity?.value ?? null,
      validationSpecificity: num(op?.specificity) ?? validation?.specificity?.value ?? null,
      targetMet: bool(op?.targetMet),
    },
    calibration: {
      method: note(calibrationMethod, 'calibration'),
      fittedOn: str(cal?.fittedOn),
      slope: num(cal?.slope),
      intercept: num(cal?.intercept),
      temperature: num(cal?.temperature),
      validation: { before: quality(obj(obj(cal?.validation)?.before)), after: quality(obj(obj(cal?.validation)?.after)) },
      test: { before: quality(obj(obj(cal?.test)?.before)), after: quality(obj(obj(cal?.test)?.after)) },
    },
    limitations: limitationTexts({ inputSize, classes: classNames, positive: str(meta.positiveClass), datasetName: str(dataset?.name) }),
    software: {
      engine: note(
        engine ? { name: str(engine.name), description: str(engine.description), backend: str(engine.backend), fallbackReason: str(engine.fallbackReason) } : null,
        'software.engine',
      ),
      libraries: note(settings(meta.libraries), 'software.libraries'),
      preprocessing: note(settings(meta.preprocessing), 'software.preprocessing'),
    },
    warnings: [...warnings],
    notRecorded: missing,
  };
  return card;
}

export interface ModelCardDeps {
  readonly registry: { getVersion(name: string, version: number): Promise<ModelVersionInfo> };
  readonly evaluations: EvaluationLister;
}

/** MODEL_NOT_FOUND / VERSION_NOT_FOUND. */
export async function modelCard(deps: ModelCardDeps, name: string, version: number): Promise<ModelCard> {
  const info = await deps.registry.getVersion(name, version);
  return buildModelCard(info, await deps.evaluations.listEvaluations(name, version));
}
