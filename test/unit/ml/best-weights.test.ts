import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { evaluateModel } from '../../../src/ml/evaluate.ts';
import { binaryCrossEntropy } from '../../../src/ml/metrics.ts';
import { buildChestXRayNet } from '../../../src/ml/model.ts';
import { trainModel } from '../../../src/ml/train.ts';
import { DEFAULT_TRAIN_PARAMS } from '../../../src/ml/types.ts';
import { syntheticSource } from '../../helpers/memory-source.ts';

beforeAll(async () => {
  await initEngine();
});

describe('best-by-validation-loss weights', () => {
  it('restores the weights of the epoch with the lowest validation loss', async () => {
    const source = syntheticSource(160, 64, 11);
    const split = {
      train: Array.from({ length: 128 }, (_, i) => i),
      validation: Array.from({ length: 32 }, (_, i) => 128 + i),
      test: [],
    };
    const model = buildChestXRayNet({ inputSize: 64 });
    // Scrambling the weights at the start of the last epoch makes it the worst one, so the
    // restored weights must come from an earlier epoch.
    const result = await trainModel(model, source, split, { ...DEFAULT_TRAIN_PARAMS, epochs: 3, learningRate: 2e-3 }, {
      onProgress: (p) => {
        if (p.kind === 'batch' && p.epoch === 3 && p.batch === 1) {
          tf.tidy(() => model.setWeights(model.getWeights().map((w) => tf.randomNormal(w.shape, 0, 2))));
        }
      },
    });
    expect(result.bestEpoch).toBeLessThan(3);
    expect(result.history[2]!.valLoss).toBeGreaterThan(result.bestValLoss);
    const { probs, labels } = await evaluateModel(model, source, split.validation, 16);
    expect(Math.abs(binaryCrossEntropy(probs, labels) - result.history[result.bestEpoch - 1]!.valLoss)).toBeLessThan(1e-5);
    model.dispose();
  });
});
