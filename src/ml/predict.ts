import * as tf from '@tensorflow/tfjs';
import { toInputTensor } from './standardize.ts';

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
