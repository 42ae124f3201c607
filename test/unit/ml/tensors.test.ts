import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../../src/ml/model.ts';
import { createPredictor } from '../../../src/ml/predict.ts';
import { gradCam } from '../../../src/ml/saliency.ts';
import { toInputTensor } from '../../../src/ml/standardize.ts';
import { trainModel } from '../../../src/ml/train.ts';
import { DEFAULT_TRAIN_PARAMS } from '../../../src/ml/types.ts';
import { syntheticSource } from '../../helpers/memory-source.ts';
import { syntheticSet } from '../../helpers/synthetic-xray.ts';

beforeAll(async () => {
  await initEngine();
});

const S = 64;

describe('tf.memory().numTensors stays flat', () => {
  it('across 20 predictions', async () => {
    const predictor = createPredictor(buildChestXRayNet({ inputSize: S }), { inputSize: S });
    await predictor.warmUp();
    const { pixels } = syntheticSet(3, S, 2);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await predictor.predict(i % 2 ? pixels : [pixels[0]!]);
    expect(tf.memory().numTensors).toBe(before);
    predictor.dispose();
  });

  it('across training steps and epochs, and nothing stays behind after training', async () => {
    const source = syntheticSource(80, S, 9);
    const split = { train: Array.from({ length: 64 }, (_, i) => i), validation: Array.from({ length: 16 }, (_, i) => 64 + i), test: [] };
    const model = buildChestXRayNet({ inputSize: S });
    const before = tf.memory().numTensors;
    const atEpoch: number[] = [];
    const atBatch: number[] = [];
    await trainModel(
      model,
      source,
      split,
      { ...DEFAULT_TRAIN_PARAMS, epochs: 3, augmentation: { rotation: 10, zoom: 0.1, shift: 0.05, horizontalFlip: true } },
      {
        onProgress: (p) => {
          (p.kind === 'epoch' ? atEpoch : atBatch).push(tf.memory().numTensors);
        },
      },
    );
    expect(atEpoch[2]).toBe(atEpoch[0]);
    expect(new Set(atBatch.slice(4)).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('across Grad-CAM calls, for either method and the batchNorm variant', () => {
    for (const batchNorm of [false, true]) {
      const model = buildChestXRayNet({ inputSize: S, batchNorm });
      const x = toInputTensor(syntheticSet(2, S, 1).pixels[1]!, 1, S);
      gradCam(model, x);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 5; i++) {
        gradCam(model, x, 'conv4', 'gradcam');
        gradCam(model, x, 'conv3', 'layercam');
        // An overlay in the original's geometry (its own matrices and resampling).
        gradCam(model, x, undefined, 'layercam', { height: 117, width: 203, smoothing: { interpolation: 'bicubic', blurCells: 1 } });
      }
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
      model.dispose();
    }
  });
});
