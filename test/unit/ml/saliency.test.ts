import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../../src/ml/model.ts';
import { defaultCamLayer, gaussianMatrix, gradCam, interpolationMatrix, MIN_CAM_GRID, resampleCam } from '../../../src/ml/saliency.ts';
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
    const { heatmap, grid, layer } = gradCam(model, x, 'conv4');
    expect(layer).toBe('conv4');
    expect(grid).toEqual({ rows: 16, cols: 16 });
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

describe('the default layer', () => {
  it(`is the deepest conv layer with a grid of at least ${MIN_CAM_GRID} a side, for each input size`, () => {
    for (const [inputSize, layer] of [
      [64, 'conv4'],
      [128, 'conv5'],
      [256, 'conv6'],
    ] as const) {
      const model = buildChestXRayNet({ inputSize });
      expect(defaultCamLayer(model)).toBe(layer);
      const shape = model.getLayer(layer).outputShape as number[];
      expect(shape[1]).toBe(MIN_CAM_GRID);
      model.dispose();
    }
  });

  it('is what gradCam explains when no layer is named', () => {
    const model = buildChestXRayNet({ inputSize: 128 });
    const x = toInputTensor(syntheticXray(128, true, 5), 1, 128);
    const cam = gradCam(model, x);
    expect(cam.layer).toBe('conv5');
    expect(cam.grid).toEqual({ rows: 8, cols: 8 });
    x.dispose();
    model.dispose();
  });
});

describe('interpolation and blur matrices', () => {
  it('have rows that sum to 1, so a flat map stays flat', () => {
    for (const kind of ['bilinear', 'bicubic'] as const) {
      for (const [n, out] of [
        [8, 256],
        [4, 300],
        [16, 9],
      ] as const) {
        const m = interpolationMatrix(n, out, kind);
        for (let i = 0; i < out; i++) {
          let sum = 0;
          for (let j = 0; j < n; j++) sum += m[i * n + j]!;
          expect(sum).toBeCloseTo(1, 5);
        }
      }
    }
    const g = gaussianMatrix(8, 0.5);
    for (let i = 0; i < 8; i++) expect(g.subarray(i * 8, i * 8 + 8).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(Array.from(gaussianMatrix(3, 0))).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  });

  it('put a cell back over the pixels it covers, whatever the output aspect', () => {
    // One hot cell at row 2, col 5 of an 8x8 grid, resampled to 300 wide x 200 high: the peak lies
    // in that cell's footprint, [5/8, 6/8) of the width and [2/8, 3/8) of the height.
    for (const interpolation of ['bilinear', 'bicubic'] as const) {
      const out = tf.tidy(() => {
        const buf = tf.buffer([8, 8]);
        buf.set(1, 2, 5);
        return resampleCam(buf.toTensor() as tf.Tensor2D, 200, 300, { interpolation, blurCells: 0.5 });
      });
      expect(out.shape).toEqual([200, 300]);
      const values = out.dataSync();
      out.dispose();
      let peak = 0;
      for (let k = 1; k < values.length; k++) if (values[k]! > values[peak]!) peak = k;
      const [py, px] = [Math.floor(peak / 300), peak % 300];
      expect(px).toBeGreaterThanOrEqual((5 / 8) * 300);
      expect(px).toBeLessThan((6 / 8) * 300);
      expect(py).toBeGreaterThanOrEqual((2 / 8) * 200);
      expect(py).toBeLessThan((3 / 8) * 200);
      expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    }
  });

  it('bicubic is smoother than bilinear: no creases along the cell edges', () => {
    // A ramp of cells: bilinear gives a piecewise linear profile (its second difference spikes at
    // the cell centres); bicubic spreads the curvature, so its largest second difference is smaller.
    const profile = (interpolation: 'bilinear' | 'bicubic') =>
      tf.tidy(() => {
        const row = tf.tensor2d([[0, 0, 1, 3, 2, 0, 0, 0]]);
        return resampleCam(row, 1, 256, { interpolation, blurCells: 0 }).dataSync();
      });
    const maxCurvature = (p: Float32Array | Int32Array | Uint8Array) => {
      let m = 0;
      for (let i = 1; i < p.length - 1; i++) m = Math.max(m, Math.abs(p[i - 1]! - 2 * p[i]! + p[i + 1]!));
      return m;
    };
    expect(maxCurvature(profile('bicubic'))).toBeLessThan(maxCurvature(profile('bilinear')) * 0.5);
  });
});

describe('gradCam in the original geometry', () => {
  it('gives a height x width map of a non-square image, the same map as the square one resampled', () => {
    const model = buildChestXRayNet({ inputSize: S, seed: 3 });
    const x = toInputTensor(syntheticXray(S, true, 9), 1, S);
    const wide = gradCam(model, x, 'conv4', 'layercam', { height: 90, width: 160 });
    expect([wide.height, wide.width]).toEqual([90, 160]);
    expect(wide.heatmap).toHaveLength(90 * 160);
    expect(Math.max(...wide.heatmap)).toBeCloseTo(1, 5);
    expect(Math.min(...wide.heatmap)).toBeGreaterThanOrEqual(0);
    // The same layer at the input size: the two are one coarse map sampled on two grids, so the
    // hottest points agree up to a cell's footprint (8x8 grid: one cell = 1/8 of each side).
    const square = gradCam(model, x, 'conv4', 'layercam');
    const argmax = (a: Float32Array) => a.reduce((best, v, i) => (v > a[best]! ? i : best), 0);
    const [sy, sx] = [Math.floor(argmax(square.heatmap) / S) / S, (argmax(square.heatmap) % S) / S];
    const [wy, wx] = [Math.floor(argmax(wide.heatmap) / 160) / 90, (argmax(wide.heatmap) % 160) / 160];
    expect(Math.abs(sx - wx)).toBeLessThan(1 / 8);
    expect(Math.abs(sy - wy)).toBeLessThan(1 / 8);
    expect(wide.probability).toBeCloseTo(square.probability, 6);
    x.dispose();
    model.dispose();
  });

  it('refuses sizes that are not positive integers up to the cap', () => {
    const model = buildChestXRayNet({ inputSize: S });
    const x = toInputTensor(syntheticXray(S, false, 2), 1, S);
    expect(() => gradCam(model, x, 'conv4', 'layercam', { height: 0, width: 10 })).toThrow(RangeError);
    expect(() => gradCam(model, x, 'conv4', 'layercam', { height: 10.5, width: 10 })).toThrow(RangeError);
    expect(() => gradCam(model, x, 'conv4', 'layercam', { height: 10, width: 5000 })).toThrow(RangeError);
    x.dispose();
    model.dispose();
  });
});
