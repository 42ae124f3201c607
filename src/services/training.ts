import type { Logger } from '../domain/logger.ts';
import * as tf from '@tensorflow/tfjs';
import { AppError, isAppError } from '../errors.ts';
import { PREPROCESSING } from '../imaging/decode.ts';
import { throwIfAborted } from '../ml/batches.ts';
import { assertTrainingEngine, initEngine, type EngineInfo } from '../ml/engine.ts';
import { evaluateModel } from '../ml/evaluate.ts';
import { binaryMetrics, youdenThreshold } from '../ml/metrics.ts';
import { buildChestXRayNet, type ModelOptions } from '../ml/model.ts';
import { modelToArtifacts } from '../ml/serialize.ts';
import { splitDataset } from '../ml/split.ts';
import { trainModel } from '../ml/train.ts';
import type { BinaryMetrics, EpochMetrics, SplitIndices, TrainParams, TrainProgress, TrainResult } from '../ml/types.ts';
import type { TrainingJobProgress, TrainingPhase } from '../queue/names.ts';
import { checkTrainingParams, type TrainingParams } from '../domain/training-params.ts';
import type { DatasetImages, DatasetStore } from '../storage/dataset-store.ts';
import type { ModelRegistry } from '../storage/model-registry.ts';

/**
 * THE training use-case (the worker's processor and the CLI both call it): dataset images at the
 * model's input size -> seeded stratified split -> ChestXRayNet -> fit (progress, abort) ->
 * threshold by Youden's J on validation -> metrics on validation and test -> a new model version
 * with everything needed to reproduce and judge it in its metadata. Nothing is published when it
 * fails or is aborted; the model and the dataset images are released in every case.
 */

export interface TrainingDeps {
  readonly datasets: Pick<DatasetStore, 'openImages'>;
  readonly registry: Pick<ModelRegistry, 'publish'>;
}

export interface TrainingRequest {
  readonly datasetId: string;
  readonly modelName: string;
  readonly params: TrainingParams;
}

export type TrainingLogger = Pick<Logger, 'info'>;

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
}

const now = (): number => performance.now() / 1000;

/** Statuses of AppErrors that mean the request or its data is unusable (409 and 429 are transient). */
const BAD_DATA_STATUSES: ReadonlySet<number> = new Set([400, 404, 413, 415, 422]);

/** Thrown for problems with the data itself (not worth retrying). */
export function isBadDataError(err: unknown): boolean {
  return isAppError(err) && BAD_DATA_STATUSES.has(err.status);
}

function splitOrExplain(dataset: DatasetImages, params: TrainingParams): SplitIndices {
  const items = dataset.manifest.images.map((img) => ({
    label: img.label,
    group: img.hash,
    ...(img.split ? { split: img.split } : {}),
  }));
  try {
    return splitDataset(items, { seed: params.seed, testFraction: params.testSplit, validationFraction: params.validationSplit });
  } catch (err) {
    throw new AppError('DATASET_TOO_SMALL', err instanceof Error ? err.message : String(err), { images: items.length }, { cause: err });
  }
}

function countByClass(labels: Uint8Array, indices: readonly number[], classNames: readonly string[]): Record<string, number> {
  const out: Record<string, number> = { [classNames[0]!]: 0, [classNames[1]!]: 0 };
  for (const i of indices) out[classNames[labels[i]!]!]! += 1;
  return out;
}

function libraryVersions(): Record<string, string> {
  const versions: Record<string, string> = { node: process.version };
  for (const [k, v] of Object.entries(tf.version)) if (typeof v === 'string') versions[k] = v;
  return versions;
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
  let model: tf.LayersModel | undefined;
  try {
    const manifest = dataset.manifest;
    const split = splitOrExplain(dataset, params);
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
    const threshold = youdenThreshold(val.probs, val.labels);
    const validation = binaryMetrics(val.probs, val.labels, threshold);
    const tst = await evaluateModel(model, dataset, split.test, params.batchSize, signal);
    const test = binaryMetrics(tst.probs, tst.labels, threshold);
    const evaluationSeconds = now() - evalStart;

    await phase('publishing');
    throwIfAborted(signal);
    const artifacts = await modelToArtifacts(model);
    const classNames = manifest.classNames;
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
      thresholdMethod: 'youden-j-on-validation',
      bestEpoch: fit.bestEpoch,
      bestValLoss: fit.bestValLoss,
      stoppedEarly: fit.stoppedEarly,
      metrics: { validation, test },
      history: fit.history,
      split: {
        method: manifest.images.some((img) => img.split) ? 'archive-folders-then-seeded' : 'seeded-stratified-by-content-hash',
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
      engine: { name: engine.name, description: engine.description, backend: tf.getBackend(), ...(engine.fallbackReason ? { fallbackReason: engine.fallbackReason } : {}) },
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
    };
  } finally {
    model?.dispose();
    await dataset.close();
  }
}
