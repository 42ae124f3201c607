import * as tf from '@tensorflow/tfjs';
import { gradCamOfPixels, type GradCamOptions, type GradCamResult } from './saliency.ts';
import { modelFromArtifacts } from './serialize.ts';
import { standardizePixels, toInputTensor } from './standardize.ts';

/** Positive-class probabilities for grey uint8 images (count * size * size bytes), in batches. */
export function predictProbabilities(
  model: tf.LayersModel,
  pixels: Uint8Array,
  count: number,
  size: number,
  batchSize = 16,
): Float32Array {
  const out = new Float32Array(count);
  const n = size * size;
  for (let start = 0; start < count; start += batchSize) {
    const k = Math.min(batchSize, count - start);
    const probs = tf.tidy(() => {
      const x = toInputTensor(pixels.subarray(start * n, (start + k) * n), k, size);
      return model.predict(x) as tf.Tensor;
    });
    out.set(probs.dataSync() as Float32Array, start);
    probs.dispose();
  }
  return out;
}

/**
 * Grey uint8 images (each size * size bytes) -> the model's input as plain float32, through the
 * one standardisation (standardizePixels): [count, size, size, 1] row-major, which for one channel
 * is also the NCHW [count, 1, size, size] an ONNX runtime takes.
 */
export function standardizedBatch(images: readonly Uint8Array[], size: number): Float32Array {
  const n = size * size;
  images.forEach((img, i) => {
    if (img.length !== n) throw new RangeError(`image ${i} has ${img.length} bytes, expected ${n} (${size}x${size} grey)`);
  });
  if (images.length === 0) return new Float32Array(0);
  const pixels = images.length === 1 ? images[0]! : new Uint8Array(images.length * n);
  if (images.length > 1) images.forEach((img, i) => pixels.set(img, i * n));
  return standardizePixels(pixels, images.length, size);
}

/** The model on already standardised input (count * size * size floats): one probability per image. */
export function predictStandardized(model: tf.LayersModel, x: Float32Array, count: number, size: number): Float32Array {
  if (x.length !== count * size * size) throw new RangeError(`expected ${count * size * size} floats, got ${x.length}`);
  const probs = tf.tidy(() => model.predict(tf.tensor4d(x, [count, size, size, 1])) as tf.Tensor);
  try {
    return Float32Array.from(probs.dataSync() as Float32Array);
  } finally {
    probs.dispose();
  }
}

export interface Predictor {
  readonly inputSize: number;
  /** One probability per image; each image is inputSize * inputSize grey bytes, already decoded. */
  predict(images: readonly Uint8Array[]): Promise<Float32Array>;
  /** Runs one dummy batch so the first real request does not pay for kernel set-up. */
  warmUp(): Promise<void>;
  /** Disposes the model: the predictor owns it. */
  dispose(): void;
}

export function createPredictor(
  model: tf.LayersModel,
  opts: { readonly inputSize: number; readonly batchSize?: number },
): Predictor {
  const { inputSize } = opts;
  const batchSize = opts.batchSize ?? 16;
  const n = inputSize * inputSize;
  let disposed = false;
  const run = (images: readonly Uint8Array[]): Float32Array => {
    if (disposed) throw new Error('predictor was disposed');
    images.forEach((img, i) => {
      if (img.length !== n) {
        throw new RangeError(`image ${i} has ${img.length} bytes, expected ${n} (${inputSize}x${inputSize} grey)`);
      }
    });
    if (images.length === 0) return new Float32Array(0);
    const pixels = images.length === 1 ? images[0]! : new Uint8Array(images.length * n);
    if (images.length > 1) images.forEach((img, i) => pixels.set(img, i * n));
    return predictProbabilities(model, pixels, images.length, inputSize, batchSize);
  };
  return {
    inputSize,
    predict: async (images) => run(images),
    warmUp: async () => {
      run([new Uint8Array(n)]);
    },
    dispose: () => {
      if (disposed) return;
      disposed = true;
      model.dispose();
    },
  };
}

/** The side of the model's square grey input, read from the weights' own graph. */
export function modelInputSize(model: tf.LayersModel): number {
  const shape = model.inputs[0]?.shape;
  const [, h, w, c] = shape ?? [];
  if (!shape || shape.length !== 4 || typeof h !== 'number' || h !== w || c !== 1) {
    throw new Error(`model input shape ${JSON.stringify(shape)} is not [batch, s, s, 1]`);
  }
  return h;
}

/** A stored model version ready to serve: batched prediction and Grad-CAM, no tensors outside. */
export interface ServingModel extends Predictor {
  /**
   * Grad-CAM heat map (values in [0, 1], height x width, default inputSize x inputSize) and
   * probability for one decoded image (inputSize * inputSize grey bytes).
   */
  explain(pixels: Uint8Array, options?: GradCamOptions): GradCamResult;
  /** The model on already standardised input (count * inputSize * inputSize floats, see standardizedBatch). */
  predictStandardized(x: Float32Array, count: number): Float32Array;
}

/**
 * Builds a model from its artifacts (model.json and weights.bin as stored), reads its input size
 * from the graph, and wraps it for serving. The returned object owns the model.
 */
export async function loadServingModel(
  artifacts: { modelJson: object; weights: Uint8Array },
  opts: { readonly batchSize?: number } = {},
): Promise<ServingModel> {
  const model = await modelFromArtifacts(artifacts);
  try {
    const inputSize = modelInputSize(model);
    const predictor = createPredictor(model, { inputSize, ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}) });
    return {
      ...predictor,
      explain: (pixels, options) => gradCamOfPixels(model, pixels, inputSize, options),
      predictStandardized: (x, count) => predictStandardized(model, x, count, inputSize),
    };
  } catch (err) {
    model.dispose();
    throw err;
  }
}
