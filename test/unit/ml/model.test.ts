import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { buildChestXRayNet, LAST_CONV_LAYER } from '../../../src/ml/model.ts';

beforeAll(async () => {
  await initEngine();
});

const shapes = (m: tf.LayersModel) =>
  m.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => [l.name, l.outputShape]);

describe('buildChestXRayNet', () => {
  it('has the DESIGN.md layers, output shapes and 54,627 parameters at 256', () => {
    const m = buildChestXRayNet();
    expect(shapes(m)).toEqual([
      ['conv1', [null, 256, 256, 8]],
      ['pool1', [null, 128, 128, 8]],
      ['conv2', [null, 128, 128, 8]],
      ['pool2', [null, 64, 64, 8]],
      ['conv3', [null, 64, 64, 12]],
      ['pool3', [null, 32, 32, 12]],
      ['conv4', [null, 32, 32, 12]],
      ['pool4', [null, 16, 16, 12]],
      ['conv5', [null, 16, 16, 20]],
      ['pool5', [null, 8, 8, 20]],
      ['conv6', [null, 8, 8, 20]],
      ['pool6', [null, 4, 4, 20]],
      ['conv7', [null, 4, 4, 50]],
      ['gap', [null, 50]],
      ['fc1', [null, 128]],
      ['dropout', [null, 128]],
      ['fc2', [null, 32]],
      ['probability', [null, 1]],
    ]);
    expect(m.countParams()).toBe(54_627);
    expect(m.getLayer(LAST_CONV_LAYER).outputShape).toEqual([null, 4, 4, 50]);
    const kernels = [3, 3, 3, 3, 5, 5, 5];
    kernels.forEach((k, i) => {
      const conv = m.getLayer(`conv${i + 1}`);
      expect(conv.getWeights()[0]!.shape.slice(0, 2)).toEqual([k, k]);
    });
    m.dispose();
  });

  it('filterMultiplier 2 doubles every conv', () => {
    const m = buildChestXRayNet({ filterMultiplier: 2, inputSize: 64 });
    const filters = [1, 2, 3, 4, 5, 6, 7].map((n) => (m.getLayer(`conv${n}`).outputShape as number[])[3]);
    expect(filters).toEqual([16, 16, 24, 24, 40, 40, 100]);
    m.dispose();
  });

  it('batchNorm variant puts bn and relu after each conv', () => {
    const m = buildChestXRayNet({ batchNorm: true, inputSize: 64 });
    const names = m.layers.map((l) => l.name);
    for (let n = 1; n <= 7; n++) {
      expect(names.indexOf(`bn${n}`)).toBe(names.indexOf(`conv${n}`) + 1);
      expect(names.indexOf(`relu${n}`)).toBe(names.indexOf(`conv${n}`) + 2);
    }
    m.dispose();
  });

  it('works at 64x64 and honours the dropout rate', () => {
    const m = buildChestXRayNet({ inputSize: 64, dropoutRate: 0.3 });
    expect(m.getLayer('conv7').outputShape).toEqual([null, 1, 1, 50]);
    expect((m.getLayer('dropout').getConfig() as { rate: number }).rate).toBe(0.3);
    const y = tf.tidy(() => (m.predict(tf.zeros([2, 64, 64, 1])) as tf.Tensor).arraySync());
    expect((y as number[][]).length).toBe(2);
    m.dispose();
  });

  it('rejects invalid options', () => {
    expect(() => buildChestXRayNet({ inputSize: 100 })).toThrow(RangeError);
    expect(() => buildChestXRayNet({ inputSize: 32 })).toThrow(RangeError);
    expect(() => buildChestXRayNet({ filterMultiplier: 0 })).toThrow(RangeError);
    expect(() => buildChestXRayNet({ dropoutRate: 1 })).toThrow(RangeError);
    expect(() => buildChestXRayNet({ dropoutRate: -0.1 })).toThrow(RangeError);
  });
});

describe('seeded initialisation', () => {
  it('gives the same initial weights for the same seed and different ones for another', () => {
    const weights = (seed: number) => {
      const m = buildChestXRayNet({ inputSize: 64, seed });
      const w = m.getWeights().map((t) => Array.from(t.dataSync()));
      m.dispose();
      return w;
    };
    const a = weights(7);
    expect(weights(7)).toEqual(a);
    expect(weights(8)).not.toEqual(a);
  });
});
