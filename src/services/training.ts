import type { Logger } from '../domain/logger.ts';
import { AppError, isAppError } from '../errors.ts';
import { PREPROCESSING } from '../imaging/decode.ts';
import { throwIfAborted } from '../ml/batches.ts';
import { activeBackend, assertTrainingEngine, initEngine, libraryVersions, type EngineInfo } from '../ml/engine.ts';
import { applyCalibration, applyCalibrationAll, fitCalibration, type Calibration } from '../ml/calibration.ts';
import { evaluateModel } from '../ml/evaluate.ts';
import { groupKeys, GroupPatternTimeoutError } from '../ml/groups.ts';
import { calibrationReport, evaluateBinary, summarize } from '../ml/metrics.ts';
import { buildChestXRayNet, type ModelOptions } from '../ml/model.ts';
import { chooseThreshold, parseThresholdPolicy, type OperatingPoint } from '../ml/operating-point.ts';
import { modelToArtifacts } from '../ml/serialize.ts';
import { patientsPerSplit, splitDataset, type SplitItem } from '../ml/split.ts';
import { trainModel } from '../ml/train.ts';
import type { BinaryMetrics, EpochMetrics, SplitIndices, TrainParams, TrainProgress, TrainResult } from '../ml/types.ts';
import type { TrainingJobProgress, TrainingPhase } from '../queue/names.ts';
import { compileGroupPattern, IMAGE_LEVEL_SPLIT_WARNING } from '../domain/group-pattern.ts';
import { checkTrainingParams, type TrainingParams } from '../domain/training-params.ts';
import type { DatasetImages, DatasetStore } from '../storage/dataset-store.ts';
import type { ModelRegistry } from '../storage/model-registry.ts';
import { exportCheckedOnnx, type OnnxExportOptions, type OnnxExportReport } from './onnx-export.ts';

/**
 * THE training use-case (the worker's processor and the CLI both call it): dataset images at the
 * model's input size -> seeded stratified split, patient-disjoint when a group pattern names the
 * patients -> ChestXRayNet -> fit (progress, abort) -> calibration fitted on validation ->
 * threshold by the declared policy on calibrated validation scores -> metrics with intervals on
 * validation and test -> a new model version with everything needed to reproduce and judge it in
 * its metadata. Nothing is published when it
 * fails or is aborted; the model and the dataset images are released in every case.
 */

export interface TrainingDeps {
  readonly datasets: Pick<DatasetStore, 'openImages'>;
  readonly registry: Pick<ModelRegistry, 'publish'>;
  /** How model.onnx is made and checked (default: onnxruntime-node in this process; see onnx-export.ts). */
  readonly onnx?: OnnxExportOptions;
}

export interface TrainingRequest {
  readonly datasetId: string;
  readonly modelName: string;
  readonly params: TrainingParams;
}

export type TrainingLogger = Pick<Logger, 'info'> & Partial<Pick<Logger, 'warn'>>;

export interface TrainingContext {
  /**
   * Every batch and epoch, and at each phase change. `milestone` is true for epoch ends and phase
   * changes (callers that throttle should never drop those).
   */
  readonly onProgress?: (progress: TrainingJobProgress, milestone: boolean) => void | Promise<void>;
  /** Aborting stops training within one batch; the rejection is an Error named 'AbortError'. */
  readonly signal?: AbortSignal;
  readonly log?: TrainingLogger;
  /** Recorded in the version's metadata (e.g. the queue job id). */
  readonly jobId?: string;
  /** Last check before publishing (e.g. "is this worker still the job's owner?"); throw to publish nothing. */
  readonly beforePublish?: () => void | Promise<void>;
}

export interface SplitSizes {
  readonly train: number;
  readonly validation: number;
  readonly test: number;
}

export interface SplitGrouping {
  /** 'patient' when DICOM PatientIDs or a group pattern gave patient keys; 'image' otherwise (duplicates still grouped). */
  readonly method: 'patient' | 'image';
  readonly pattern?: string;
  /** Images whose patient key is the keyed hash of their DICOM PatientID (it takes precedence over the pattern). */
  readonly fromDicom?: number;
  /** Images whose path the pattern matched / did not match (each unmatched image is its own group). */
  readonly matched?: number;
  readonly unmatched?: number;
  /** Distinct patients (unmatched images count one each) per split. */
  readonly patients?: SplitSizes;
  readonly warning?: string;
}

export interface TrainingOutcome {
  readonly name: string;
  readonly version: number;
  readonly metrics: { readonly validation: BinaryMetrics; readonly test: BinaryMetrics };
  readonly threshold: number;
  readonly bestEpoch: number;
  readonly stoppedEarly: boolean;
  readonly history: readonly EpochMetrics[];
  readonly split: SplitSizes;
  readonly seconds: number;
  readonly engine: EngineInfo;
  readonly grouping: SplitGrouping;
  readonly operatingPoint: OperatingPoint;
  /** Null when calibration is off. */
  readonly calibration: Calibration | null;
  /** What the card must say (e.g. that the split is by image). */
  readonly warnings: readonly string[];
  /** model.onnx: kept (file set) or why not. */
  readonly onnx: OnnxExportReport;
}

export { IMAGE_LEVEL_SPLIT_WARNING };

const now = (): number => performance.now() / 1000;

/** Statuses of AppErrors that mean the request or its data is unusable (409 and 429 are transient). */
const BAD_DATA_STATUSES: ReadonlySet<number> = new Set([400, 404, 413, 415, 422]);

/** Thrown for problems with the data itself (not worth retrying). */
export function isBadDataError(err: unknown): boolean {
  return isAppError(err) && BAD_DATA_STATUSES.has(err.status);
}

/** How manifests written before `duplicateOf` existed name the kept copy in a DUPLICATE reason. */
const LEGACY_DUPLICATE_REASON = 'same content as ';

/** The source of the image kept in place of a DUPLICATE entry. */
function keptSourceOf(entry: DatasetImages['manifest']['skipped'][number]): string | undefined {
  if (entry.duplicateOf !== undefined) return entry.duplicateOf;
  return entry.reason.startsWith(LEGACY_DUPLICATE_REASON) ? entry.reason.slice(LEGACY_DUPLICATE_REASON.length) : undefined;
}

/** DICOM patient keys and path-pattern keys never coincide by accident. */
const dicomPatient = (key: string): string => `dicom:${key}`;
const pathPatient = (key: string): string => `path:${key}`;

/**
 * Split items with content groups and patient keys: the keyed hash of the DICOM PatientID the
 * import stored (it takes precedence), else, given a pattern, the key the pattern finds in the
 * path. An exact duplicate dropped at import may name another patient: its pattern key is linked
 * to the image that was kept (a DICOM duplicate has the same bytes, so the same PatientID).
 */
function splitItems(manifest: DatasetImages['manifest'], params: TrainingParams): { items: SplitItem[]; grouping: SplitGrouping } {
  const fromDicom = manifest.images.filter((img) => img.patientKey !== undefined).length;
  const patients: string[][] = manifest.images.map((img) => (img.patientKey !== undefined ? [dicomPatient(img.patientKey)] : []));
  if (params.groupPattern !== undefined) {
    const re = compileGroupPattern(params.groupPattern);
    const sources = manifest.images.map((img) => img.source);
    const duplicates = manifest.skipped.flatMap((s) => {
      const kept = s.code === 'DUPLICATE' ? keptSourceOf(s) : undefined;
      return kept === undefined ? [] : [{ source: s.source, kept }];
    });
    let keys;
    try {
      keys = groupKeys([...sources, ...duplicates.map((d) => d.source)], re);
    } catch (err) {
      if (err instanceof GroupPatternTimeoutError) {
        throw new AppError('INVALID_GROUP_PATTERN', `groupPattern ${err.message}`, { field: 'groupPattern', reason: 'too-slow' }, { cause: err });
      }
      throw err;
    }
    const fromPattern = (i: number): boolean => manifest.images[i]!.patientKey === undefined;
    sources.forEach((_, i) => {
      if (fromPattern(i) && keys.keys[i] !== undefined) patients[i]!.push(pathPatient(keys.keys[i]!));
    });
    const indexOf = new Map(sources.map((src, i) => [src, i]));
    duplicates.forEach((d, k) => {
      const key = keys.keys[sources.length + k];
      const kept = indexOf.get(d.kept);
      if (key !== undefined && kept !== undefined && fromPattern(kept) && !patients[kept]!.includes(pathPatient(key))) {
        patients[kept]!.push(pathPatient(key));
      }
    });
  }
  const items = manifest.images.map((img, i) => ({
    label: img.label,
    group: img.hash,
    ...(patients[i]!.length ? { patients: patients[i]! } : {}),
    ...(img.split ? { split: img.split } : {}),
  }));
  if (params.groupPattern === undefined && fromDicom === 0) return { items, grouping: { method: 'image', warning: IMAGE_LEVEL_SPLIT_WARNING } };
  const matched = patients.filter((p) => p.length > 0).length;
  return {
    items,
    grouping: {
      method: 'patient',
      ...(params.groupPattern !== undefined ? { pattern: params.groupPattern } : {}),
      ...(fromDicom > 0 ? { fromDicom } : {}),
      matched,
      unmatched: manifest.images.length - matched,
    },
  };
}

function splitOrExplain(items: SplitItem[], params: TrainingParams): SplitIndices {
  try {
    return splitDataset(items, { seed: params.seed, testFraction: params.testSplit, validationFraction: params.validationSplit });
  } catch (err) {
    throw new AppError('DATASET_TOO_SMALL', err instanceof Error ? err.message : String(err), { images: items.length }, { cause: err });
  }
}

/**
 * The split training makes for a dataset and parameters (deterministic for a seed): the same
 * items, indices and grouping, e.g. to evaluate a version on exactly its own test split.
 */
export function planSplit(
  manifest: DatasetImages['manifest'],
  params: TrainingParams,
): { items: SplitItem[]; split: SplitIndices; grouping: SplitGrouping } {
  const { items, grouping } = splitItems(manifest, params);
  const split = splitOrExplain(items, params);
  return { items, split, grouping: grouping.method === 'patient' ? { ...grouping, patients: patientsPerSplit(items, split) } : grouping };
}

function countByClass(labels: Uint8Array, indices: readonly number[], classNames: readonly string[]): Record<string, number> {
  const out: Record<string, number> = { [classNames[0]!]: 0, [classNames[1]!]: 0 };
  for (const i of indices) out[classNames[labels[i]!]!]! += 1;
  return out;
}

export async function runTraining(deps: TrainingDeps, req: TrainingRequest, ctx: TrainingContext = {}): Promise<TrainingOutcome> {
  const started = now();
  const params = checkTrainingParams(req.params);
  const engine = await initEngine();
  assertTrainingEngine();
  const { signal } = ctx;
  const history: EpochMetrics[] = [];
  let last: TrainingJobProgress | undefined;
  const report = async (p: Omit<TrainingJobProgress, 'history' | 'updatedAt'>, milestone: boolean) => {
    last = { ...p, history: [...history], updatedAt: new Date().toISOString() };
    await ctx.onProgress?.(last, milestone);
  };
  const phase = (name: TrainingPhase) =>
    report(
      {
        phase: name,
        epoch: last?.epoch ?? 0,
        epochs: params.epochs,
        batch: last?.batch ?? 0,
        batchesPerEpoch: last?.batchesPerEpoch ?? 0,
        loss: last?.loss ?? null,
        accuracy: last?.accuracy ?? null,
        ...(last?.valLoss !== undefined ? { valLoss: last.valLoss, valAccuracy: last.valAccuracy } : {}),
        imagesPerSecond: last?.imagesPerSecond ?? null,
        etaSeconds: null,
      },
      true,
    );

  await phase('loading');
  throwIfAborted(signal);
  const loadStart = now();
  const dataset = await deps.datasets.openImages(req.datasetId, params.inputSize);
  let model: ReturnType<typeof buildChestXRayNet> | undefined;
  try {
    const manifest = dataset.manifest;
    const { split, grouping } = planSplit(manifest, params);
    const policy = parseThresholdPolicy(params.thresholdPolicy ?? 'youden');
    const loadSeconds = now() - loadStart;
    const modelOptions: ModelOptions = {
      inputSize: params.inputSize,
      filterMultiplier: params.filterMultiplier,
      dropoutRate: params.dropoutRate,
      batchNorm: params.batchNorm,
      seed: params.seed,
    };
    model = buildChestXRayNet(modelOptions);
    const trainParams: TrainParams = {
      epochs: params.epochs,
      batchSize: params.batchSize,
      learningRate: params.learningRate,
      seed: params.seed,
      augmentation: params.augmentation,
      classWeighting: params.classWeighting,
      learningRateSchedule: params.learningRateSchedule ?? 'constant',
      timeBudgetMinutes: params.timeBudgetMinutes ?? 0,
      earlyStoppingPatience: params.earlyStoppingPatience,
    };
    ctx.log?.info(
      {
        datasetId: req.datasetId,
        model: req.modelName,
        split: { train: split.train.length, validation: split.validation.length, test: split.test.length },
        engine: engine.name,
      },
      'training started',
    );

    const onTrainProgress = (p: TrainProgress) => {
      if (p.epochMetrics) history.push(p.epochMetrics);
      const lastEpoch = history[history.length - 1];
      return report(
        {
          phase: 'training',
          epoch: p.epoch,
          epochs: p.epochs,
          batch: p.batch,
          batchesPerEpoch: p.batchesPerEpoch,
          loss: p.loss,
          accuracy: p.accuracy,
          ...(lastEpoch ? { valLoss: lastEpoch.valLoss, valAccuracy: lastEpoch.valAccuracy } : {}),
          imagesPerSecond: p.imagesPerSecond,
          etaSeconds: p.etaSeconds,
        },
        p.kind === 'epoch',
      );
    };
    const fit: TrainResult = await trainModel(model, dataset, split, trainParams, { onProgress: onTrainProgress, ...(signal ? { signal } : {}) });

    await phase('evaluating');
    const evalStart = now();
    const val = await evaluateModel(model, dataset, split.validation, params.batchSize, signal);
    const tst = await evaluateModel(model, dataset, split.test, params.batchSize, signal);
    const calibrationMethod = params.calibration ?? 'none';
    const calibration = calibrationMethod === 'none' ? null : fitCalibration(val.probs, val.labels, calibrationMethod);
    const valProbs = applyCalibrationAll(val.probs, calibration);
    const testProbs = applyCalibrationAll(tst.probs, calibration);
    // Chosen and stored on the model's own probability scale, the one serving compares with the
    // threshold; calibration is monotonic, so the calibrated cut makes the same decisions.
    const operatingPoint = chooseThreshold(val.probs, val.labels, policy);
    const threshold = operatingPoint.threshold;
    const evaluation = {
      validation: evaluateBinary(val.probs, val.labels, threshold),
      test: evaluateBinary(tst.probs, tst.labels, threshold),
    };
    const validation = summarize(evaluation.validation);
    const test = summarize(evaluation.test);
    const quality = (probs: Float32Array, labels: Uint8Array) => {
      const r = calibrationReport(probs, labels);
      return { ece: r.ece, brier: r.brier };
    };
    const calibrationMetadata = calibration
      ? {
          ...calibration,
          fittedOn: 'validation',
          validation: { before: quality(val.probs, val.labels), after: quality(valProbs, val.labels) },
          test: { before: quality(tst.probs, tst.labels), after: quality(testProbs, tst.labels) },
        }
      : { method: 'none', validation: { before: quality(val.probs, val.labels) }, test: { before: quality(tst.probs, tst.labels) } };
    const warnings = grouping.warning ? [grouping.warning] : [];
    const evaluationSeconds = now() - evalStart;

    await phase('publishing');
    throwIfAborted(signal);
    const tfjsArtifacts = await modelToArtifacts(model);
    const classNames = manifest.classNames;
    const onnx = await exportCheckedOnnx(model, params.inputSize, {
      metadata: {
        classNames: JSON.stringify(classNames),
        positiveClass: manifest.positiveClass,
        threshold: String(threshold),
        inputSize: String(params.inputSize),
        preprocessing: 'grey, resized (fill, lanczos3) to inputSize x inputSize, uint8; then per image (x - mean) / max(std, 1/inputSize)',
      },
      ...deps.onnx,
    });
    if (!onnx.bytes) {
      const warning = `no model.onnx: ${onnx.report.reason ?? 'unknown reason'}; this version serves on TensorFlow.js only`;
      warnings.push(warning);
      const fields = { model: req.modelName, onnx: onnx.report };
      if (ctx.log?.warn) ctx.log.warn(fields, warning);
      else ctx.log?.info(fields, warning);
    }
    const artifacts = onnx.bytes ? { ...tfjsArtifacts, onnx: onnx.bytes } : tfjsArtifacts;
    const metadata = {
      kind: 'ChestXRayNet',
      dataset: {
        id: manifest.id,
        name: manifest.name,
        contentHash: manifest.contentHash,
        images: manifest.counts.images,
        byClass: manifest.counts.byClass,
        cacheSize: manifest.size,
      },
      params: { ...params },
      modelOptions,
      parameterCount: model.countParams(),
      classNames,
      positiveClass: manifest.positiveClass,
      labels: { '0': classNames[0], '1': classNames[1] },
      threshold,
      thresholdMethod: operatingPoint.policy === 'youden' ? 'youden-j-on-validation' : `${operatingPoint.policy}-on-validation`,
      operatingPoint: {
        ...operatingPoint,
        fittedOn: 'validation',
        scale: 'model',
        ...(calibration ? { calibratedThreshold: applyCalibration(threshold, calibration) } : {}),
      },
      calibration: calibrationMetadata,
      bestEpoch: fit.bestEpoch,
      bestValLoss: fit.bestValLoss,
      stoppedEarly: fit.stoppedEarly,
      metrics: { validation, test },
      evaluation,
      warnings,
      history: fit.history,
      split: {
        method: manifest.images.some((img) => img.split) ? 'archive-folders-then-seeded' : 'seeded-stratified-by-content-hash',
        // 'patient': no patient in two splits (DICOM PatientID keys, groupPattern); 'image': only exact duplicates kept together.
        level: grouping.method,
        ...(grouping.warning ? { warning: grouping.warning } : {}),
        ...(grouping.method === 'patient'
          ? {
              groups: {
                ...(grouping.pattern !== undefined ? { pattern: grouping.pattern } : {}),
                ...(grouping.fromDicom !== undefined ? { fromDicomPatientId: grouping.fromDicom } : {}),
                matched: grouping.matched,
                unmatched: grouping.unmatched,
                unmatchedAs: 'own-group',
                patients: grouping.patients,
              },
            }
          : {}),
        seed: params.seed,
        train: split.train.length,
        validation: split.validation.length,
        test: split.test.length,
        byClass: {
          train: countByClass(dataset.labels, split.train, classNames),
          validation: countByClass(dataset.labels, split.validation, classNames),
          test: countByClass(dataset.labels, split.test, classNames),
        },
      },
      preprocessing: { ...PREPROCESSING, inputSize: params.inputSize },
      onnx: onnx.report,
      engine: { name: engine.name, description: engine.description, backend: activeBackend(), ...(engine.fallbackReason ? { fallbackReason: engine.fallbackReason } : {}) },
      libraries: libraryVersions(),
      timings: {
        loadSeconds,
        trainSeconds: fit.seconds,
        secondsPerEpoch: fit.history.map((h) => h.seconds),
        evaluationSeconds,
        totalSeconds: now() - started,
      },
      ...(ctx.jobId ? { jobId: ctx.jobId } : {}),
      trainedAt: new Date().toISOString(),
    };
    await ctx.beforePublish?.();
    throwIfAborted(signal);
    const info = await deps.registry.publish(req.modelName, artifacts, metadata);
    ctx.log?.info({ model: info.name, version: info.version, auc: test.auc, accuracy: test.accuracy }, 'model version published');
    return {
      name: info.name,
      version: info.version,
      metrics: { validation, test },
      threshold,
      bestEpoch: fit.bestEpoch,
      stoppedEarly: fit.stoppedEarly,
      history: fit.history,
      split: { train: split.train.length, validation: split.validation.length, test: split.test.length },
      seconds: now() - started,
      engine,
      grouping,
      operatingPoint,
      calibration,
      warnings,
      onnx: onnx.report,
    };
  } finally {
    model?.dispose();
    await dataset.close();
  }
}
