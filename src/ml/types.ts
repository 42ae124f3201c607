/** Contracts between the pure ML code and the rest; no TensorFlow.js or disk types leak here. */

export type SplitName = 'train' | 'validation' | 'test';

/** Grey uint8 images of one size, addressed by index; where they live is the caller's business. */
export interface ImageSource {
  /** Side of every (square) image in pixels. */
  readonly size: number;
  /** Number of images. */
  readonly count: number;
  /** 1 = positive class (e.g. PNEUMONIA), 0 = negative; length = count. */
  readonly labels: Uint8Array;
  /** Pixels of the given images, concatenated row-major, size*size bytes each, in the given order. */
  readBatch(indices: readonly number[]): Promise<Uint8Array>;
}

export interface SplitIndices {
  readonly train: readonly number[];
  readonly validation: readonly number[];
  readonly test: readonly number[];
}

export interface AugmentationOptions {
  /** Max rotation in degrees (uniform in +-rotation). 0 = off. */
  readonly rotation: number;
  /** Max zoom fraction (scale uniform in 1 +- zoom). 0 = off. */
  readonly zoom: number;
  /** Max shift as a fraction of the side (uniform in +-shift). 0 = off. */
  readonly shift: number;
  readonly horizontalFlip: boolean;
  /** Max brightness shift as a fraction of full scale (uniform in +-brightness). 0 or absent = off. */
  readonly brightness?: number;
  /** Max contrast change: factor uniform in 1 +- contrast, about mid-grey. 0 or absent = off. */
  readonly contrast?: number;
  /** Max gamma change: exponent log-uniform in [1 / (1 + gamma), 1 + gamma]. 0 or absent = off. */
  readonly gamma?: number;
}

export const NO_AUGMENTATION: AugmentationOptions = Object.freeze({
  rotation: 0,
  zoom: 0,
  shift: 0,
  horizontalFlip: false,
});

/**
 * The augmentation the command line's --augment turns on and bench:train measures: small
 * rotations, zoom and shifts, horizontal flips, and mild brightness, contrast and gamma changes.
 */
export const RECOMMENDED_AUGMENTATION: AugmentationOptions = Object.freeze({
  rotation: 10,
  zoom: 0.1,
  shift: 0.1,
  horizontalFlip: true,
  brightness: 0.1,
  contrast: 0.1,
  gamma: 0.2,
});

export interface TrainParams {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
  readonly augmentation: AugmentationOptions;
  readonly classWeighting: 'balanced' | 'none';
  /** Wall-clock minutes the fit may take (validation included); 0 or absent = no limit. */
  readonly timeBudgetMinutes?: number;
  /** constant, or cosine decay per batch from learningRate to 1% of it over all epochs. */
  readonly learningRateSchedule?: 'constant' | 'cosine';
  /** Stop after this many epochs without validation-loss improvement; 0 = never. */
  readonly earlyStoppingPatience: number;
}

export const DEFAULT_TRAIN_PARAMS: TrainParams = Object.freeze({
  epochs: 10,
  batchSize: 16,
  learningRate: 1e-3,
  seed: 42,
  augmentation: NO_AUGMENTATION,
  classWeighting: 'balanced',
  earlyStoppingPatience: 0,
});

export interface EpochMetrics {
  readonly epoch: number; // 1-based
  readonly loss: number;
  readonly accuracy: number;
  readonly valLoss: number;
  readonly valAccuracy: number;
  readonly seconds: number;
  readonly imagesPerSecond: number;
}

export interface TrainProgress {
  readonly kind: 'batch' | 'epoch';
  readonly epoch: number; // 1-based
  readonly epochs: number;
  readonly batch: number; // 1-based within the epoch
  readonly batchesPerEpoch: number;
  /** Running means over the epoch so far. */
  readonly loss: number;
  readonly accuracy: number;
  readonly imagesPerSecond: number;
  readonly etaSeconds: number;
  /** Set on 'epoch' events. */
  readonly epochMetrics?: EpochMetrics;
}

export interface TrainCallbacks {
  readonly onProgress?: (p: TrainProgress) => void | Promise<void>;
  readonly signal?: AbortSignal;
}

export interface TrainResult {
  readonly history: readonly EpochMetrics[];
  readonly bestEpoch: number;
  readonly bestValLoss: number;
  readonly stoppedEarly: boolean;
  readonly seconds: number;
}

export interface ConfusionMatrix {
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
}

export interface RocPoint {
  readonly threshold: number;
  readonly fpr: number;
  readonly tpr: number;
}

export interface BinaryMetrics {
  readonly count: number;
  readonly auc: number;
  readonly accuracy: number;
  readonly sensitivity: number;
  readonly specificity: number;
  readonly precision: number;
  readonly f1: number;
  readonly threshold: number;
  readonly confusion: ConfusionMatrix;
  readonly roc: readonly RocPoint[];
}
