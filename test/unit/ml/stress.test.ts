import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../../src/ml/model.ts';
import { standardPerturbations, stressTest } from '../../../src/ml/stress.ts';
import { trainModel } from '../../../src/ml/train.ts';
import { DEFAULT_TRAIN_PARAMS } from '../../../src/ml/types.ts';
import { syntheticSource } from '../../helpers/memory-source.ts';

beforeAll(async () => {
  await initEngine();
});

describe('stressTest', () => {
  it('reports the clean AUC and one AUC per perturbation; a perturbation that erases the image gives chance', async () => {
    const source = syntheticSource(160, 64, 5);
    const all = Array.from({ length: 160 }, (_, i) => i);
    const split = { train: all.slice(0, 120), validation: all.slice(120, 140), test: all.slice(140) };
    const model = buildChestXRayNet({ inputSize: 64, seed: 3 });
    await trainModel(model, source, split, { ...DEFAULT_TRAIN_PARAMS, epochs: 3 });
    const tensors = tf.memory().numTensors;
    const perturbations = [
      ...standardPerturbations(1),
      { name: 'blank', apply: (x: tf.Tensor4D) => tf.zerosLike(x) },
      { name: 'pixels inverted', applyPixels: async (p: Uint8Array) => p.map((v) => 255 - v) },
    ];
    const report = await stressTest(model, source, all.slice(100), { perturbations, batchSize: 16 });
    const again = await stressTest(model, source, all.slice(100), { perturbations, batchSize: 16 });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(report.count).toBe(60);
    expect(report.perturbed.map((r) => r.name)).toEqual(perturbations.map((p) => p.name));
    expect(report.clean.value).toBeGreaterThan(0.8);
    const blank = report.perturbed.find((r) => r.name === 'blank')!;
    expect(blank.auc.value).toBe(0.5); // every score tied
    expect(blank.delta).toBeCloseTo(0.5 - report.clean.value, 12);
    expect(report.worst!.auc.value).toBe(Math.min(...report.perturbed.map((r) => r.auc.value)));
    expect(report.meanAuc).toBeCloseTo(report.perturbed.reduce((s, r) => s + r.auc.value, 0) / report.perturbed.length, 12);
    // Deterministic (the noise is seeded).
    expect(again.perturbed.map((r) => r.auc.value)).toEqual(report.perturbed.map((r) => r.auc.value));
    model.dispose();
  }, 120_000);
});
