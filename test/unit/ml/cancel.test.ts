import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../../src/ml/model.ts';
import { trainModel } from '../../../src/ml/train.ts';
import { DEFAULT_TRAIN_PARAMS } from '../../../src/ml/types.ts';
import { syntheticSource } from '../../helpers/memory-source.ts';

beforeAll(async () => {
  await initEngine();
});

const source = syntheticSource(120, 64, 5);
const split = {
  train: Array.from({ length: 96 }, (_, i) => i),
  validation: Array.from({ length: 24 }, (_, i) => 96 + i),
  test: [],
};
const params = { ...DEFAULT_TRAIN_PARAMS, epochs: 3 };

describe('cancelling training', () => {
  it('an abort from onProgress mid-epoch stops before the next batch, rejects with AbortError, leaks nothing', async () => {
    const model = buildChestXRayNet({ inputSize: 64 });
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    let batchesAfterAbort = 0;
    const run = trainModel(model, source, split, params, {
      signal: controller.signal,
      onProgress: (p) => {
        if (controller.signal.aborted) batchesAfterAbort++;
        if (p.kind === 'batch' && p.epoch === 2 && p.batch === 2) controller.abort();
      },
    });
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('AbortError');
    expect(batchesAfterAbort).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('an abort while an async onProgress is in flight stops within one batch', async () => {
    const model = buildChestXRayNet({ inputSize: 64 });
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    let batchesAfterAbort = 0;
    const error = await trainModel(model, source, split, params, {
      signal: controller.signal,
      onProgress: async (p) => {
        if (controller.signal.aborted) batchesAfterAbort++;
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (p.kind === 'batch' && p.epoch === 1 && p.batch === 3) controller.abort('user cancelled');
      },
    }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect((error as Error).message).toBe('user cancelled');
    expect(batchesAfterAbort).toBeLessThanOrEqual(1);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('an already aborted signal rejects at once', async () => {
    const model = buildChestXRayNet({ inputSize: 64 });
    const reads = source.reads;
    await expect(trainModel(model, source, split, params, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(source.reads).toBe(reads);
    model.dispose();
  });

  it('a failing onProgress or readBatch rejects the run without leaks', async () => {
    const model = buildChestXRayNet({ inputSize: 64 });
    const before = tf.memory().numTensors;
    await expect(
      trainModel(model, source, split, params, {
        onProgress: async (p) => {
          if (p.batch === 2) throw new Error('disk full');
        },
      }),
    ).rejects.toThrow('disk full');
    const broken = { ...source, readBatch: async () => Promise.reject(new Error('read failed')) };
    await expect(trainModel(model, broken, split, params)).rejects.toThrow('read failed');
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
