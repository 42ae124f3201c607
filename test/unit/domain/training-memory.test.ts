import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONV_LAYERS, DENSE_UNITS, estimateTrainingMemory, filtersOf, formatBytes } from '../../../src/domain/training-memory.ts';
import { DEFAULT_TRAINING_PARAMS } from '../../../src/domain/training-params.ts';
import { initEngine } from '../../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../../src/ml/model.ts';

beforeAll(async () => {
  const engine = await initEngine();
  expect(engine.name).toBe('tensorflow');
});

/** Peak bytes of tfjs-node's tensors during one Adam step on a random batch, as the trainer runs it. */
async function measuredPeak(p: { inputSize: number; batchSize: number; filterMultiplier: number; batchNorm: boolean }): Promise<number> {
  const model = buildChestXRayNet({ inputSize: p.inputSize, filterMultiplier: p.filterMultiplier, batchNorm: p.batchNorm, seed: 1 });
  const optimizer = tf.train.adam(1e-3);
  const x = tf.randomNormal([p.batchSize, p.inputSize, p.inputSize, 1]) as tf.Tensor4D;
  const y = tf.ones([p.batchSize, 1]);
  const step = () =>
    tf.tidy(() => {
      optimizer.minimize(() => tf.metrics.binaryCrossentropy(y, model.apply(x, { training: true }) as tf.Tensor).mean() as tf.Scalar);
    });
  try {
    step(); // Adam's moments exist from the first step on
    return (await tf.profile(() => step())).peakBytes;
  } finally {
    model.dispose();
    optimizer.dispose();
    x.dispose();
    y.dispose();
  }
}

describe('estimateTrainingMemory', () => {
  it('describes the network src/ml/model.ts builds (layer table and parameter count)', () => {
    for (const p of [
      { inputSize: 256, filterMultiplier: 1, batchNorm: false },
      { inputSize: 128, filterMultiplier: 2.5, batchNorm: false },
      { inputSize: 64, filterMultiplier: 1, batchNorm: true },
    ]) {
      const model = buildChestXRayNet(p);
      try {
        const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D');
        expect(convs.map((l) => (l.getConfig() as { filters: number }).filters)).toEqual(CONV_LAYERS.map((c) => filtersOf(c.filters, p.filterMultiplier)));
        expect(convs.map((l) => (l.getConfig() as { kernelSize: number[] }).kernelSize[0])).toEqual(CONV_LAYERS.map((c) => c.kernel));
        expect(model.layers.filter((l) => l.getClassName() === 'MaxPooling2D').length).toBe(CONV_LAYERS.filter((c) => c.pool).length);
        expect(model.layers.filter((l) => l.getClassName() === 'Dense').map((l) => (l.getConfig() as { units: number }).units)).toEqual(DENSE_UNITS);
        expect(estimateTrainingMemory({ ...p, batchSize: 1 }).parameters).toBe(model.countParams());
      } finally {
        model.dispose();
      }
    }
  });

  // The estimate counts the tensors TensorFlow.js keeps; libtensorflow's scratch space and the
  // allocator's slack are not tensors. Against tfjs-node's own peak tensor bytes it must stay
  // within 25% either way: closer than the spread of batch sizes and input sizes a client picks,
  // and far from the orders of magnitude that separate a job that fits from one that cannot.
  it.each([
    { inputSize: 256, batchSize: 16, filterMultiplier: 1, batchNorm: false }, // the defaults
    { inputSize: 128, batchSize: 16, filterMultiplier: 2, batchNorm: false },
    { inputSize: 64, batchSize: 8, filterMultiplier: 1, batchNorm: false },
    { inputSize: 128, batchSize: 8, filterMultiplier: 1, batchNorm: true },
  ])('is within 25%% of the real peak tensor memory of a training step: %o', async (p) => {
    const measured = await measuredPeak(p);
    const { peakBytes } = estimateTrainingMemory(p);
    expect(peakBytes / measured).toBeGreaterThan(0.8);
    expect(peakBytes / measured).toBeLessThan(1.25);
  });

  it('puts the defaults near 1 GB (300 MB without batch norm) and the extreme valid parameters beyond any machine', () => {
    const defaults = estimateTrainingMemory(DEFAULT_TRAINING_PARAMS);
    expect(defaults.peakBytes).toBeGreaterThan(700e6);
    expect(defaults.peakBytes).toBeLessThan(1.5e9);
    const plain = estimateTrainingMemory({ ...DEFAULT_TRAINING_PARAMS, batchNorm: false });
    expect(plain.peakBytes).toBeGreaterThan(200e6);
    expect(plain.peakBytes).toBeLessThan(500e6);
    const extreme = estimateTrainingMemory({ inputSize: 512, filterMultiplier: 8, batchSize: 256, batchNorm: false });
    // conv1 alone: 512 x 512 x 64 filters x 256 images x 4 bytes = 17.2 GB, kept three times, and its gradients
    expect(extreme.peakBytes).toBeGreaterThan(100e9);
    expect(formatBytes(extreme.peakBytes)).toMatch(/^\d+\.\d GB$/);
  });
});
