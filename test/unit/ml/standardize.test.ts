import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { toInputTensor } from '../../../src/ml/standardize.ts';
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
