import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { evaluateModel } from '../../../src/ml/evaluate.ts';
import { buildChestXRayNet } from '../../../src/ml/model.ts';
import { createPredictor, predictProbabilities } from '../../../src/ml/predict.ts';
import { toInputTensor } from '../../../src/ml/standardize.ts';
import { memorySource } from '../../helpers/memory-source.ts';
import { syntheticSet } from '../../helpers/synthetic-xray.ts';

beforeAll(async () => {
  await initEngine();
});

const S = 64;
const { pixels, labels } = syntheticSet(10, S, 4);
const batch = new Uint8Array(10 * S * S);
pixels.forEach((p, i) => batch.set(p, i * S * S));

describe('predictProbabilities', () => {
  it('equals model.predict on the standardised batch, whatever the batch size', () => {
    const model = buildChestXRayNet({ inputSize: S });
    const want = tf.tidy(() => (model.predict(toInputTensor(batch, 10, S)) as tf.Tensor).dataSync());
    for (const bs of [1, 3, 16]) {
      const got = predictProbabilities(model, batch, 10, S, bs);
      expect(got).toHaveLength(10);
      got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-6));
    }
    model.dispose();
  });

  it('is inference: dropout off, repeated calls agree exactly', () => {
    const model = buildChestXRayNet({ inputSize: S, dropoutRate: 0.9 });
    expect(predictProbabilities(model, batch, 10, S)).toEqual(predictProbabilities(model, batch, 10, S));
    model.dispose();
  });
});

describe('evaluateModel', () => {
  it('streams the chosen images in batches and returns their labels', async () => {
    const model = buildChestXRayNet({ inputSize: S });
    const source = memorySource(pixels, labels, S);
    const indices = [9, 2, 4, 7, 0];
    const { probs, labels: got } = await evaluateModel(model, source, indices, 2);
    expect(source.reads).toBe(3);
    expect(Array.from(got)).toEqual(indices.map((i) => labels[i]));
    const all = predictProbabilities(model, batch, 10, S);
    probs.forEach((p, k) => expect(Math.abs(p - all[indices[k]!]!)).toBeLessThan(1e-6));
    model.dispose();
  });
});

describe('createPredictor', () => {
  it('predicts decoded images, warms up, and owns the model', async () => {
    const model = buildChestXRayNet({ inputSize: S });
    const predictor = createPredictor(model, { inputSize: S });
    await predictor.warmUp();
    const probs = await predictor.predict(pixels);
    const want = predictProbabilities(model, batch, 10, S);
    probs.forEach((p, i) => expect(Math.abs(p - want[i]!)).toBeLessThan(1e-6));
    // Batch 1 and batch 10 run different kernels: equal up to float rounding, not bit for bit.
    const single = await predictor.predict([pixels[3]!]);
    expect(single).toHaveLength(1);
    expect(Math.abs(single[0]! - probs[3]!)).toBeLessThan(1e-6);
    expect(await predictor.predict([])).toHaveLength(0);
    await expect(predictor.predict([new Uint8Array(10)])).rejects.toThrow(RangeError);
    const tensors = tf.memory().numTensors;
    const weights = model.weights.length;
    predictor.dispose();
    expect(tf.memory().numTensors).toBe(tensors - weights);
    await expect(predictor.predict(pixels)).rejects.toThrow(/disposed/);
  });
});
