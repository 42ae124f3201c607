import { CONV_LAYERS, DENSE_UNITS } from './architecture.ts';
import * as tf from '@tensorflow/tfjs';

export interface ModelOptions {
  /** Side of the square grey input; a multiple of 64 (six 2x2 pools). */
  readonly inputSize: number;
  /** Multiplies every conv's filter count (2 doubles them). */
  readonly filterMultiplier: number;
  readonly dropoutRate: number;
  /** Batch normalisation after each conv, before its relu. */
  readonly batchNorm: boolean;
  /**
   * Seeds the weight initialisation; unseeded when absent. (Dropout stays unseeded: a seeded tfjs
   * dropout layer draws the same mask at every step.)
   */
  readonly seed?: number;
}

export const DEFAULT_MODEL_OPTIONS: ModelOptions = Object.freeze({
  inputSize: 256,
  filterMultiplier: 1,
  dropoutRate: 0.6,
  batchNorm: false,
});


/** Name of the last conv layer's output (the Grad-CAM target). */
export const LAST_CONV_LAYER = 'conv7';

export function validateModelOptions(opts: ModelOptions): void {
  if (!Number.isInteger(opts.inputSize) || opts.inputSize < 64 || opts.inputSize % 64 !== 0) {
    throw new RangeError(`inputSize must be a multiple of 64 (got ${opts.inputSize})`);
  }
  if (!(opts.filterMultiplier > 0) || opts.filterMultiplier > 8) {
    throw new RangeError(`filterMultiplier must be in (0, 8] (got ${opts.filterMultiplier})`);
  }
  if (!(opts.dropoutRate >= 0 && opts.dropoutRate < 1)) {
    throw new RangeError(`dropoutRate must be in [0, 1) (got ${opts.dropoutRate})`);
  }
}

/** ChestXRayNet (DESIGN.md): seven convs, global average pool, dense 128-32-1. */
export function buildChestXRayNet(options: Partial<ModelOptions> = {}): tf.LayersModel {
  const opts = { ...DEFAULT_MODEL_OPTIONS, ...options };
  validateModelOptions(opts);
  const input = tf.input({ shape: [opts.inputSize, opts.inputSize, 1], name: 'xray' });
  let layerIndex = 0;
  // One distinct seed per layer, derived from the model seed.
  const init = () => {
    layerIndex++;
    return opts.seed === undefined ? {} : { kernelInitializer: tf.initializers.glorotUniform({ seed: opts.seed * 1000 + layerIndex }) };
  };
  let x: tf.SymbolicTensor = input;
  CONV_LAYERS.forEach((c, i) => {
    const n = i + 1;
    const filters = Math.max(1, Math.round(c.filters * opts.filterMultiplier));
    x = tf.layers
      .conv2d({
        name: `conv${n}`,
        filters,
        kernelSize: c.kernel,
        padding: 'same',
        activation: opts.batchNorm ? 'linear' : 'relu',
        useBias: !opts.batchNorm,
        ...init(),
      })
      .apply(x) as tf.SymbolicTensor;
    if (opts.batchNorm) {
      x = tf.layers.batchNormalization({ name: `bn${n}` }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.activation({ name: `relu${n}`, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
    }
    if (c.pool) {
      x = tf.layers.maxPooling2d({ name: `pool${n}`, poolSize: 2, strides: 2 }).apply(x) as tf.SymbolicTensor;
    }
  });
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ name: 'fc1', units: DENSE_UNITS[0], activation: 'relu', ...init() }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dropout({ name: 'dropout', rate: opts.dropoutRate }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ name: 'fc2', units: DENSE_UNITS[1], activation: 'relu', ...init() }).apply(x) as tf.SymbolicTensor;
  const output = tf.layers.dense({ name: 'probability', units: DENSE_UNITS[2], activation: 'sigmoid', ...init() }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: 'ChestXRayNet' });
}
