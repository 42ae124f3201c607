import * as tf from '@tensorflow/tfjs';

function checkShape(length: number, count: number, size: number): void {
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(size) || size < 1) {
    throw new RangeError(`count and size must be positive integers (got ${count}, ${size})`);
  }
  if (length < count * size * size) {
    throw new RangeError(`expected ${count * size * size} pixels for ${count} images of ${size}x${size}, got ${length}`);
  }
}

/** 1 / max(std, 1/sqrt(N)): the divisor of tf.image.per_image_standardization, which keeps a flat image finite. */
const inverseScale = (variance: number, area: number): number => 1 / Math.max(Math.sqrt(variance), 1 / Math.sqrt(area));

/**
 * Each of `count` grey images (size * size values in pixel units, row-major) standardised to zero
 * mean and unit variance into new floats: (x - mean) / max(std, 1/sqrt(N)) with the population
 * variance, as tf.image.per_image_standardization. Mean and variance are exact in float64.
 *
 * The one standardisation, for training (after augmentation) and serving (tfjs and onnxruntime
 * alike). 8-bit images take one pass for a 256-bin histogram, from which mean and variance are
 * exact, and one through a 256-entry table; floats take one pass for both sums (about the first
 * value) and one to scale, or only the scale pass when `sums` (2 * count values: each image's sum
 * and sum of squares, in float64) come with them from augmentPixels. On one thread about as fast
 * as the same formula as TensorFlow ops (moments, sub, div) on two
 * (bench/trust/profile-augment.ts), and onnxruntime's input needs no tensor round trip.
 */
export function standardizePixels(pixels: Uint8Array | Float32Array, count: number, size: number, sums?: Float64Array): Float32Array {
  checkShape(pixels.length, count, size);
  if (sums && sums.length < 2 * count) throw new RangeError(`sums needs ${2 * count} values, got ${sums.length}`);
  const area = size * size;
  const out = new Float32Array(count * area);
  if (pixels instanceof Uint8Array) {
    const histogram = new Float64Array(256);
    const table = new Float32Array(256);
    for (let i = 0; i < count; i++) {
      const start = i * area;
      const end = start + area;
      histogram.fill(0);
      for (let k = start; k < end; k++) histogram[pixels[k]!]! += 1;
      let sum = 0;
      for (let v = 1; v < 256; v++) sum += v * histogram[v]!;
      const mean = sum / area;
      let squares = 0;
      for (let v = 0; v < 256; v++) squares += histogram[v]! * (v - mean) * (v - mean);
      const scale = inverseScale(squares / area, area);
      for (let v = 0; v < 256; v++) table[v] = (v - mean) * scale;
      for (let k = start; k < end; k++) out[k] = table[pixels[k]!]!;
    }
    return out;
  }
  for (let i = 0; i < count; i++) {
    const start = i * area;
    const end = start + area;
    let mean: number;
    let variance: number;
    if (sums) {
      mean = sums[2 * i]! / area;
      variance = sums[2 * i + 1]! / area - mean * mean;
    } else {
      // One pass for both sums, about the image's first value (no cancellation when the values
      // sit far from zero), in float64.
      const origin = pixels[start]!;
      let sum = 0;
      let squares = 0;
      for (let k = start; k < end; k++) {
        const d = pixels[k]! - origin;
        sum += d;
        squares += d * d;
      }
      const shift = sum / area;
      mean = origin + shift;
      variance = squares / area - shift * shift;
    }
    const scale = inverseScale(Math.max(variance, 0), area);
    for (let k = start; k < end; k++) out[k] = (pixels[k]! - mean) * scale;
  }
  return out;
}

/** [count, size, size, 1] in pixel units (0..255) -> each image standardised (standardizePixels). */
export function standardizeImages(x: tf.Tensor4D): tf.Tensor4D {
  const [count, height, width, channels] = x.shape;
  if (height !== width || channels !== 1) throw new RangeError(`expected [n, size, size, 1] grey images, got [${x.shape.join(', ')}]`);
  const values = x.dataSync();
  return tf.tensor4d(standardizePixels(values instanceof Float32Array ? values : Float32Array.from(values), count, height), x.shape);
}

/**
 * Grey uint8 images (count * size * size bytes, row-major) -> float32 [count, size, size, 1],
 * standardised per image (standardizePixels): the model's input.
 */
export function toInputTensor(pixels: Uint8Array, count: number, size: number): tf.Tensor4D {
  return tf.tensor4d(standardizePixels(pixels, count, size), [count, size, size, 1]);
}
