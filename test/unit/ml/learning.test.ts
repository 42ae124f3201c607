import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { evaluateModel } from '../../../src/ml/evaluate.ts';
import { rocAuc } from '../../../src/ml/metrics.ts';
import { buildChestXRayNet } from '../../../src/ml/model.ts';
import { splitDataset } from '../../../src/ml/split.ts';
import { classWeights, scheduledLearningRate, trainModel } from '../../../src/ml/train.ts';
import { DEFAULT_TRAIN_PARAMS, type TrainProgress } from '../../../src/ml/types.ts';
import { syntheticSource } from '../../helpers/memory-source.ts';

beforeAll(async () => {
  await initEngine();
});

describe('trainModel', () => {
  it('learns the generated patch to test AUC > 0.95 in 3 epochs at 64x64 (default params)', async () => {
    const source = syntheticSource(300, 64, 7);
    const split = splitDataset(
      Array.from(source.labels, (label) => ({ label: label as 0 | 1 })),
      { seed: 1, testFraction: 0.15, validationFraction: 0.15 },
    );
    const model = buildChestXRayNet({ inputSize: 64 });
    const events: TrainProgress[] = [];
    const result = await trainModel(model, source, split, { ...DEFAULT_TRAIN_PARAMS, epochs: 3 }, {
      onProgress: (p) => {
        events.push(p);
      },
    });
    const { probs, labels } = await evaluateModel(model, source, split.test, 16);
    const auc = rocAuc(probs, labels);
    console.log(`learning: test AUC ${auc.toFixed(3)} in ${result.seconds.toFixed(1)} s;`, result.history.map((h) => h.valLoss.toFixed(3)));
    expect(auc).toBeGreaterThan(0.95);

    expect(result.history).toHaveLength(3);
    expect(result.bestValLoss).toBe(Math.min(...result.history.map((h) => h.valLoss)));
    expect(result.history[result.bestEpoch - 1]!.valLoss).toBe(result.bestValLoss);
    const batchesPerEpoch = Math.ceil(split.train.length / 16);
    expect(events.filter((e) => e.kind === 'batch')).toHaveLength(3 * batchesPerEpoch);
    const epochs = events.filter((e) => e.kind === 'epoch');
    expect(epochs.map((e) => e.epochMetrics?.epoch)).toEqual([1, 2, 3]);
    expect(epochs[2]!.etaSeconds).toBe(0);
    for (const e of events) {
      expect(e.batchesPerEpoch).toBe(batchesPerEpoch);
      expect(Number.isFinite(e.loss) && Number.isFinite(e.imagesPerSecond) && e.etaSeconds >= 0).toBe(true);
    }
    model.dispose();
  });

  it('stops early after `earlyStoppingPatience` epochs without improvement', async () => {
    const source = syntheticSource(64, 64, 3);
    const split = { train: Array.from({ length: 48 }, (_, i) => i), validation: Array.from({ length: 16 }, (_, i) => 48 + i), test: [] };
    const model = buildChestXRayNet({ inputSize: 64 });
    // lr this high diverges or stalls, so validation loss stops improving quickly
    const result = await trainModel(model, source, split, {
      ...DEFAULT_TRAIN_PARAMS,
      epochs: 30,
      learningRate: 0.5,
      earlyStoppingPatience: 1,
    });
    expect(result.stoppedEarly).toBe(true);
    expect(result.history.length).toBe(result.bestEpoch + 1);
    model.dispose();
  });

  it('refuses bad parameters, a mismatched source, and the pure-JS backend', async () => {
    const source = syntheticSource(8, 64, 1);
    const split = { train: [0, 1, 2, 3], validation: [4, 5], test: [6, 7] };
    const model = buildChestXRayNet({ inputSize: 64 });
    await expect(trainModel(model, source, split, { ...DEFAULT_TRAIN_PARAMS, epochs: 0 })).rejects.toThrow(RangeError);
    await expect(trainModel(model, source, split, { ...DEFAULT_TRAIN_PARAMS, batchSize: 1.5 })).rejects.toThrow(RangeError);
    await expect(trainModel(model, source, { ...split, validation: [] }, DEFAULT_TRAIN_PARAMS)).rejects.toThrow(RangeError);
    await expect(trainModel(model, source, { ...split, train: [99] }, DEFAULT_TRAIN_PARAMS)).rejects.toThrow(RangeError);
    const big = buildChestXRayNet({ inputSize: 128 });
    await expect(trainModel(big, source, split, DEFAULT_TRAIN_PARAMS)).rejects.toThrow(/128x128/);
    big.dispose();
    const backend = tf.getBackend();
    await tf.setBackend('cpu');
    try {
      await expect(trainModel(model, source, split, DEFAULT_TRAIN_PARAMS)).rejects.toThrow(/refusing to train/);
    } finally {
      await tf.setBackend(backend);
    }
    model.dispose();
  });
});

describe('classWeights', () => {
  it("'balanced' gives n / (2 n_c) over the train split, 'none' gives 1", () => {
    const labels = Uint8Array.from([1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const train = [0, 1, 2, 3, 4, 5, 6, 7]; // 3 positive, 5 negative
    expect(classWeights(labels, train, 'balanced')).toEqual([8 / 10, 8 / 6]);
    expect(classWeights(labels, train, 'none')).toEqual([1, 1]);
  });
});

describe('scheduledLearningRate', () => {
  it('is constant by default and decays by cosine from the rate to 1% of it', () => {
    const base = { learningRate: 1e-3 };
    expect(scheduledLearningRate(base, 0, 100)).toBe(1e-3);
    expect(scheduledLearningRate({ ...base, learningRateSchedule: 'constant' }, 99, 100)).toBe(1e-3);
    const cosine = { ...base, learningRateSchedule: 'cosine' as const };
    const rates = Array.from({ length: 100 }, (_, s) => scheduledLearningRate(cosine, s, 100));
    expect(rates[0]).toBeCloseTo(1e-3, 12);
    expect(rates[99]).toBeCloseTo(1e-5, 12);
    expect(rates[50]).toBeGreaterThan(4.9e-4);
    expect(rates[50]).toBeLessThan(5.1e-4);
    for (let s = 1; s < rates.length; s++) expect(rates[s]).toBeLessThan(rates[s - 1]!);
    // Past the horizon (an epoch added after the fact) it stays at the floor, never negative.
    expect(scheduledLearningRate(cosine, 500, 100)).toBeCloseTo(1e-5, 12);
  });
});

describe('time budget', () => {
  it('shrinks the plan to the epochs that fit after the first one and keeps the best epoch', async () => {
    const source = syntheticSource(120, 64, 3);
    const split = splitDataset(
      Array.from(source.labels, (label) => ({ label: label as 0 | 1 })),
      { seed: 1, testFraction: 0.15, validationFraction: 0.15 },
    );
    const model = buildChestXRayNet({ inputSize: 64 });
    const planned: number[] = [];
    // 1 ms of budget: whatever this machine's speed, only the first epoch fits.
    const result = await trainModel(model, source, split, { ...DEFAULT_TRAIN_PARAMS, epochs: 5, timeBudgetMinutes: 1 / 60_000 }, {
      onProgress: (p) => {
        planned.push(p.epochs);
      },
    });
    model.dispose();
    expect(result.history).toHaveLength(1);
    expect(result.stoppedEarly).toBe(true);
    expect(result.bestEpoch).toBe(1);
    expect(planned[0]).toBe(5);
    expect(planned.at(-1)).toBe(1);
  });

  it('never cuts a plan that fits', async () => {
    const source = syntheticSource(60, 64, 4);
    const split = splitDataset(
      Array.from(source.labels, (label) => ({ label: label as 0 | 1 })),
      { seed: 1, testFraction: 0.15, validationFraction: 0.15 },
    );
    const model = buildChestXRayNet({ inputSize: 64 });
    const result = await trainModel(model, source, split, { ...DEFAULT_TRAIN_PARAMS, epochs: 2, timeBudgetMinutes: 60 });
    model.dispose();
    expect(result.history).toHaveLength(2);
    expect(result.stoppedEarly).toBe(false);
  });
});
