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
 * alike). 8-bit images take one pass for a 256-bin histogram (countGreyLevels), from which mean
 * and variance are exact, and one through a 256-entry table (lookUpGreyLevels); floats take one
 * pass for both sums (about the first value) and one to scale, or only the scale pass when `sums`
 * (2 * count values: each image's sum and sum of squares, in float64) come with them from
 * augmentPixels. On one thread, 8-bit batches take about half the time of the same formula as
 * TensorFlow ops (moments, sub, div) on two (bench/trust/profile-augment.ts), and onnxruntime's
 * input needs no tensor round trip.
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
      countGreyLevels(pixels, start, end, histogram);
      let sum = 0;
      for (let v = 1; v < 256; v++) sum += v * histogram[v]!;
      const mean = sum / area;
      let squares = 0;
      for (let v = 0; v < 256; v++) squares += histogram[v]! * (v - mean) * (v - mean);
      const scale = inverseScale(squares / area, area);
      for (let v = 0; v < 256; v++) table[v] = (v - mean) * scale;
      lookUpGreyLevels(pixels, start, end, table, out);
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

/** The first index in [start, end] whose byte starts a 4-byte word of pixels' buffer (end when none does before it). */
function firstWordAt(pixels: Uint8Array, start: number, end: number): number {
  return Math.min(end, start + ((4 - ((pixels.byteOffset + start) % 4)) % 4));
}

/** Four part-histograms, so that a run of equal pixels (a flat black border) does not make each count wait for the last. */
const parts = new Uint32Array(4 * 256);

/**
 * How many of pixels[start..end) have each grey level, into histogram (256 values). Whole
 * 4-byte words are read at once and each of their bytes counted in its own part-histogram: one
 * histogram's counts form a chain through memory when neighbours are equal, which made the count
 * ~4x slower (1.74 vs 0.41 ms for 16 x 256x256 with black borders). The parts are summed, so the
 * byte order within a word does not matter.
 */
function countGreyLevels(pixels: Uint8Array, start: number, end: number, histogram: Float64Array): void {
  parts.fill(0);
  const aligned = firstWordAt(pixels, start, end);
  let k = start;
  for (; k < aligned; k++) parts[pixels[k]!]!++;
  const words = (end - k) >> 2;
  if (words > 0) {
    const w32 = new Uint32Array(pixels.buffer, pixels.byteOffset + k, words);
    for (let j = 0; j < words; j++) {
      const w = w32[j]!;
      parts[w & 255]!++;
      parts[256 + ((w >>> 8) & 255)]!++;
      parts[512 + ((w >>> 16) & 255)]!++;
      parts[768 + (w >>> 24)]!++;
    }
    k += 4 * words;
  }
  for (; k < end; k++) parts[pixels[k]!]!++;
  for (let v = 0; v < 256; v++) histogram[v] = parts[v]! + parts[256 + v]! + parts[512 + v]! + parts[768 + v]!;
}

/** Whether a Uint32Array's first byte in memory is its least significant one (x86 and ARM as run here). */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * out[k] = table[pixels[k]] for k in [start, end). On little-endian machines whole 4-byte words
 * are read and their bytes looked up in order (about half the time of one read per byte, which
 * pays a bounds check per byte), with the bytes before the first word boundary and after the last
 * word one at a time.
 */
function lookUpGreyLevels(pixels: Uint8Array, start: number, end: number, table: Float32Array, out: Float32Array): void {
  let k = start;
  if (LITTLE_ENDIAN) {
    const aligned = firstWordAt(pixels, start, end);
    for (; k < aligned; k++) out[k] = table[pixels[k]!]!;
    const words = (end - k) >> 2;
    if (words > 0) {
      const w32 = new Uint32Array(pixels.buffer, pixels.byteOffset + k, words);
      const o = out.subarray(k, k + 4 * words);
      for (let j = 0; j < words; j++) {
        const w = w32[j]!;
        const at = j << 2;
        o[at] = table[w & 255]!;
        o[at + 1] = table[(w >>> 8) & 255]!;
        o[at + 2] = table[(w >>> 16) & 255]!;
        o[at + 3] = table[w >>> 24]!;
      }
      k += 4 * words;
    }
  }
  for (; k < end; k++) out[k] = table[pixels[k]!]!;
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
