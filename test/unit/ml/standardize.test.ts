import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { standardizeImages, standardizePixels, toInputTensor } from '../../../src/ml/standardize.ts';
import { createRng } from '../../../src/ml/random.ts';
import { syntheticXray } from '../../helpers/synthetic-xray.ts';

beforeAll(async () => {
  await initEngine();
});

describe('toInputTensor', () => {
  it('standardises each image to mean 0 and std 1', () => {
    const S = 32;
    const a = syntheticXray(S, true, 1);
    const b = syntheticXray(S, false, 2).map((v) => v >> 2);
    const pixels = new Uint8Array(2 * S * S);
    pixels.set(a, 0);
    pixels.set(b, S * S);
    const x = toInputTensor(pixels, 2, S);
    expect(x.shape).toEqual([2, S, S, 1]);
    expect(x.dtype).toBe('float32');
    const values = x.dataSync();
    for (const [k, img] of [a, b].entries()) {
      const mean = img.reduce((s, v) => s + v, 0) / img.length;
      const std = Math.sqrt(img.reduce((s, v) => s + (v - mean) ** 2, 0) / img.length);
      for (const i of [0, 100, 517, S * S - 1]) expect(values[k * S * S + i]).toBeCloseTo((img[i]! - mean) / std, 4);
    }
    x.dispose();
  });

  it('maps a constant image to zeros, not NaN', () => {
    const x = toInputTensor(new Uint8Array(16 * 16).fill(77), 1, 16);
    expect(Array.from(x.dataSync()).every((v) => v === 0)).toBe(true);
    x.dispose();
  });

  it('rejects too few pixels and leaks nothing', () => {
    const before = tf.memory().numTensors;
    expect(() => toInputTensor(new Uint8Array(10), 1, 16)).toThrow(RangeError);
    toInputTensor(new Uint8Array(2 * 16 * 16), 2, 16).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});


/** The formula in float64, straight from its definition: (x - mean) / max(std, 1/sqrt(N)). */
function reference(img: ArrayLike<number>): Float64Array {
  const n = img.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += img[i]! / n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (img[i]! - mean) ** 2 / n;
  const divisor = Math.max(Math.sqrt(variance), 1 / Math.sqrt(n));
  return Float64Array.from({ length: n }, (_, i) => (img[i]! - mean) / divisor);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** Random grey images, half of them with flat black borders (many equal values) and a few saturated. */
function randomImages(count: number, size: number, seed: number): Uint8Array {
  const rand = createRng(seed);
  const px = new Uint8Array(count * size * size);
  for (let i = 0; i < count; i++) {
    const border = i % 2 === 0 ? Math.floor(size / 5) : 0;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const inside = x >= border && x < size - border && y >= border && y < size - border;
        px[(i * size + y) * size + x] = inside ? (rand() < 0.02 ? 255 : Math.floor(rand() * 256)) : 0;
      }
    }
  }
  return px;
}

describe('standardizePixels', () => {
  const S = 48;
  const count = 6;
  const bytes = randomImages(count, S, 7);

  it('matches the formula in float64 on 8-bit images, flat borders included', () => {
    const out = standardizePixels(bytes, count, S);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out.length).toBe(count * S * S);
    for (let i = 0; i < count; i++) {
      const img = bytes.subarray(i * S * S, (i + 1) * S * S);
      expect(maxAbsDiff(out.subarray(i * S * S, (i + 1) * S * S), reference(img))).toBeLessThanOrEqual(1e-6);
    }
  });

  it('gives the same answer for the same values as floats, and for fractional floats matches the formula', () => {
    const asFloats = standardizePixels(Float32Array.from(bytes), count, S);
    expect(maxAbsDiff(asFloats, standardizePixels(bytes, count, S))).toBeLessThanOrEqual(1e-6);
    const rand = createRng(11);
    const floats = Float32Array.from(bytes, (v) => Math.min(255, v + rand() * 0.9));
    const out = standardizePixels(floats, count, S);
    for (let i = 0; i < count; i++) {
      const img = floats.subarray(i * S * S, (i + 1) * S * S);
      expect(maxAbsDiff(out.subarray(i * S * S, (i + 1) * S * S), reference(img))).toBeLessThanOrEqual(1e-6);
    }
  });

  it("agrees with TensorFlow's own moments on the same batch", () => {
    const x = tf.tensor4d(Float32Array.from(bytes), [count, S, S, 1]);
    const want = tf.tidy(() => {
      const { mean, variance } = tf.moments(x, [1, 2, 3], true);
      return tf.div(tf.sub(x, mean), tf.maximum(tf.sqrt(variance), 1 / S)).dataSync();
    });
    expect(maxAbsDiff(standardizePixels(bytes, count, S), want)).toBeLessThanOrEqual(1e-5);
    x.dispose();
  });

  it('with the sums a producer computed, gives what it computes from the floats itself', () => {
    const rand = createRng(13);
    const floats = Float32Array.from(bytes, (v) => Math.min(255, v + rand() * 0.9));
    const sums = new Float64Array(2 * count);
    for (let i = 0; i < count; i++) {
      for (let k = i * S * S; k < (i + 1) * S * S; k++) {
        sums[2 * i]! += floats[k]!;
        sums[2 * i + 1]! += floats[k]! * floats[k]!;
      }
    }
    expect(maxAbsDiff(standardizePixels(floats, count, S, sums), standardizePixels(floats, count, S))).toBeLessThanOrEqual(1e-6);
    expect(() => standardizePixels(floats, count, S, new Float64Array(2 * count - 1))).toThrow(RangeError);
  });

  it('counts every pixel once whatever the view: odd sizes, views starting off a 4-byte boundary, images under 4 pixels', () => {
    for (const [size, offset] of [
      [47, 0],
      [47, 1],
      [48, 2],
      [33, 3],
      [1, 1],
      [3, 2],
    ] as const) {
      const n = 3;
      const images = randomImages(n, size, 100 + size + offset);
      images[offset % images.length] = 255; // a lone extreme value where a head or tail is read byte by byte
      images[images.length - 1] = 1;
      const backing = new Uint8Array(images.length + 8);
      backing.set(images, offset);
      const view = backing.subarray(offset, offset + images.length);
      const out = standardizePixels(view, n, size);
      for (let i = 0; i < n; i++) {
        const img = images.subarray(i * size * size, (i + 1) * size * size);
        expect(maxAbsDiff(out.subarray(i * size * size, (i + 1) * size * size), reference(img))).toBeLessThanOrEqual(1e-6);
      }
    }
  });

  it('leaves the input untouched and keeps images independent', () => {
    const copy = bytes.slice();
    const all = standardizePixels(bytes, count, S);
    expect(bytes).toEqual(copy);
    const third = standardizePixels(bytes.subarray(2 * S * S, 3 * S * S), 1, S);
    expect(maxAbsDiff(all.subarray(2 * S * S, 3 * S * S), third)).toBe(0);
  });

  it('maps a constant float image to zeros and rejects bad shapes', () => {
    expect(Array.from(standardizePixels(new Float32Array(64).fill(3.5), 1, 8)).every((v) => v === 0)).toBe(true);
    expect(() => standardizePixels(new Uint8Array(63), 1, 8)).toThrow(RangeError);
    expect(() => standardizePixels(new Uint8Array(64), 0, 8)).toThrow(RangeError);
    expect(() => standardizePixels(new Uint8Array(64), 1.5, 8)).toThrow(RangeError);
  });
});

describe('standardizeImages', () => {
  it('is standardizePixels on the tensor values, and rejects non-square or colour input', () => {
    const bytes = randomImages(2, 16, 3);
    const x = tf.tensor4d(Float32Array.from(bytes), [2, 16, 16, 1]);
    const y = standardizeImages(x);
    expect(y.shape).toEqual([2, 16, 16, 1]);
    expect(maxAbsDiff(y.dataSync(), standardizePixels(bytes, 2, 16))).toBe(0);
    const wide = tf.zeros([1, 16, 8, 1]) as tf.Tensor4D;
    const colour = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
    expect(() => standardizeImages(wide)).toThrow(RangeError);
    expect(() => standardizeImages(colour)).toThrow(RangeError);
    tf.dispose([x, y, wide, colour]);
  });
});
