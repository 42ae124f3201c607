import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../../src/ml/model.ts';
import { trainModel } from '../../../src/ml/train.ts';
import { DEFAULT_TRAIN_PARAMS } from '../../../src/ml/types.ts';
import { conv2dFilterGrad } from '../../../src/ml/wasm-gradients.ts';
import { syntheticSource } from '../../helpers/memory-source.ts';

// The engine is chosen once per process; vitest runs each file in its own fork.
beforeAll(async () => {
  await initEngine('wasm');
});

describe('training on the wasm backend', () => {
  it('runs on wasm', () => {
    expect(tf.getBackend()).toBe('wasm');
  });

  it('autodiff of conv2d uses the registered filter gradient', () => {
    const x = tf.randomNormal([1, 6, 6, 2]) as tf.Tensor4D;
    const dy = tf.randomNormal([1, 6, 6, 3]) as tf.Tensor4D;
    const g = tf.grad((f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, f as tf.Tensor4D, 1, 'same'), dy)))(tf.zeros([3, 3, 2, 3]));
    const want = conv2dFilterGrad(x, dy, [3, 3, 2, 3], 'same');
    expect(tf.max(tf.abs(tf.sub(g, want))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([x, dy, g, want]);
  });

  it('a few training steps change the weights, give finite losses, and leak nothing', async () => {
    const source = syntheticSource(48, 64, 2);
    const split = { train: Array.from({ length: 32 }, (_, i) => i), validation: Array.from({ length: 16 }, (_, i) => 32 + i), test: [] };
    const model = buildChestXRayNet({ inputSize: 64 });
    const w0 = model.getLayer('conv1').getWeights()[0]!.clone();
    const before = tf.memory().numTensors;
    const result = await trainModel(model, source, split, { ...DEFAULT_TRAIN_PARAMS, epochs: 1 });
    expect(Number.isFinite(result.history[0]!.loss) && Number.isFinite(result.history[0]!.valLoss)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(model.getLayer('conv1').getWeights()[0]!, w0))).dataSync()[0]!);
    expect(moved).toBeGreaterThan(0);
    w0.dispose();
    model.dispose();
  });
});
