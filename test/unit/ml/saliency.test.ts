import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../../src/ml/model.ts';
import { gradCam } from '../../../src/ml/saliency.ts';
import { toInputTensor } from '../../../src/ml/standardize.ts';
import { syntheticXray } from '../../helpers/synthetic-xray.ts';

beforeAll(async () => {
  await initEngine();
});

const S = 64;

describe('gradCam', () => {
  for (const batchNorm of [false, true]) {
    it(`gives an s*s map in [0, 1] and the model's probability (batchNorm ${batchNorm})`, () => {
      const model = buildChestXRayNet({ inputSize: S, batchNorm });
      const x = toInputTensor(syntheticXray(S, true, 3), 1, S);
      const probability = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync()[0]!);
      for (const method of ['gradcam', 'layercam'] as const) {
        for (const layer of ['conv3', 'conv4', 'conv5', 'conv6']) {
          const cam = gradCam(model, x, layer, method);
          expect(cam.heatmap).toHaveLength(S * S);
          expect(cam.heatmap.every((v) => v >= 0 && v <= 1)).toBe(true);
          expect(Math.abs(cam.probability - probability)).toBeLessThan(1e-5);
        }
      }
      x.dispose();
      model.dispose();
    });
  }

  it('highlights the positions whose activation drives the output', () => {
    // A model whose score is the mean of conv5's first channel over the image: Grad-CAM must
    // then follow that channel's activation, which a bright blob on one side raises.
    const model = buildChestXRayNet({ inputSize: 128 });
    tf.tidy(() => {
      for (const layer of model.layers) {
        const ws = layer.getWeights();
        if (ws.length === 0) continue;
        if (layer.name.startsWith('conv')) {
          const [k, b] = ws as [tf.Tensor4D, tf.Tensor];
          const [kh, kw, cin, cout] = k.shape;
          // each conv passes the mean of its inputs' first channel through a box blur
          const kernel = tf.buffer([kh, kw, cin, cout]);
          for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let o = 0; o < cout; o++) kernel.set(1 / (kh * kw), i, j, 0, o);
          layer.setWeights([kernel.toTensor(), tf.zerosLike(b)]);
        } else {
          const [k, b] = ws as [tf.Tensor2D, tf.Tensor];
          const kernel = tf.buffer(k.shape);
          for (let o = 0; o < k.shape[1]; o++) kernel.set(1, 0, o);
          layer.setWeights([kernel.toTensor(), tf.zerosLike(b)]);
        }
      }
    });
    const img = new Uint8Array(128 * 128).fill(20);
    for (let y = 40; y < 72; y++) for (let x = 10; x < 42; x++) img[y * 128 + x] = 230;
    const x = toInputTensor(img, 1, 128);
    const { heatmap } = gradCam(model, x, 'conv4');
    let peak = 0;
    for (let k = 1; k < heatmap.length; k++) if (heatmap[k]! > heatmap[peak]!) peak = k;
    const [py, px] = [Math.floor(peak / 128), peak % 128];
    expect(px).toBeGreaterThanOrEqual(10 - 8);
    expect(px).toBeLessThan(42 + 8);
    expect(py).toBeGreaterThanOrEqual(40 - 8);
    expect(py).toBeLessThan(72 + 8);
    x.dispose();
    model.dispose();
  });

  it('rejects batches, unknown layers and the output layer', () => {
    const model = buildChestXRayNet({ inputSize: S });
    const two = tf.zeros([2, S, S, 1]) as tf.Tensor4D;
    const one = tf.zeros([1, S, S, 1]) as tf.Tensor4D;
    expect(() => gradCam(model, two)).toThrow(RangeError);
    expect(() => gradCam(model, one, 'conv99')).toThrow(/no layer named conv99/);
    expect(() => gradCam(model, one, 'probability')).toThrow(/before the output/);
    tf.dispose([one, two]);
    model.dispose();
  });
});
