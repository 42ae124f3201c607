import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../../src/ml/model.ts';
import {
  fusedBatchNormTraining,
  hasOneDnnTrainingKernels,
  oneDnnConv2dWithBias,
  oneDnnMaxPool,
  withTrainingKernels,
} from '../../../src/ml/tensorflow-gradients.ts';

describe('Relu gradient on the tensorflow backend (fused ReluGrad)', () => {
  let engine: string;
  beforeAll(async () => {
    engine = (await initEngine()).name;
  });

  it('equals dy * step(x), including at zero and for negative inputs', () => {
    if (engine !== 'tensorflow') return; // wasm keeps tfjs-core's own gradient
    const x = tf.tensor4d([-2, -0.5, 0, 0.25, 1, 3, -1e-7, 1e-7], [1, 2, 2, 2]);
    const dy = tf.randomNormal([1, 2, 2, 2]);
    const got = tf.grad((t: tf.Tensor) => tf.relu(t))(x, dy);
    const expected = tf.mul(dy, tf.step(x));
    expect(Array.from(got.dataSync())).toEqual(Array.from(expected.dataSync()));
    tf.dispose([x, dy, got, expected]);
  });

  it('gives the same conv-net gradients as the unfused formula', () => {
    if (engine !== 'tensorflow') return;
    tf.tidy(() => {
      const x = tf.randomNormal([2, 16, 16, 1]);
      const w = tf.randomNormal([3, 3, 1, 4]);
      const viaRelu = tf.grad((k: tf.Tensor) => tf.relu(tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 1, 'same')).sum())(w);
      const viaStep = tf.grad((k: tf.Tensor) => {
        const z = tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 1, 'same');
        return tf.mul(z, tf.step(z)).sum();
      })(w);
      const diff = tf.max(tf.abs(tf.sub(viaRelu, viaStep))).dataSync()[0]!;
      expect(diff).toBeLessThan(1e-4);
    });
  });
});

describe('max pooling on oneDNN\'s kernel (tensorflow backend, training only)', () => {
  let engine: string;
  beforeAll(async () => {
    engine = (await initEngine()).name;
  });

  it('is available on the tensorflow backend (a libtensorflow without it would train on the stock ops)', () => {
    if (engine !== 'tensorflow') return;
    expect(hasOneDnnTrainingKernels()).toBe(true);
  });

  type Case = { shape: [number, number, number, number]; pool: [number, number]; strides: [number, number]; padding: 'valid' | 'same' };
  const cases: Case[] = [
    { shape: [1, 4, 4, 1], pool: [2, 2], strides: [2, 2], padding: 'valid' },
    { shape: [3, 7, 9, 2], pool: [2, 2], strides: [2, 2], padding: 'valid' },
    { shape: [2, 5, 5, 3], pool: [2, 2], strides: [2, 2], padding: 'same' },
    { shape: [4, 11, 13, 5], pool: [3, 3], strides: [2, 2], padding: 'same' },
    { shape: [2, 9, 8, 4], pool: [3, 2], strides: [1, 2], padding: 'valid' },
    { shape: [5, 16, 16, 8], pool: [2, 2], strides: [2, 2], padding: 'valid' },
  ];

  /** Largest |oneDNN - tf.grad(tf.maxPool)| over the input gradient, and over the forward output. */
  function compare(x: tf.Tensor4D, c: Case): { grad: number; value: number } {
    return tf.tidy(() => {
      const y = oneDnnMaxPool(x, c.pool, c.strides, c.padding);
      const ref = tf.maxPool(x, c.pool, c.strides, c.padding);
      expect(y.shape).toEqual(ref.shape);
      const dy = tf.randomNormal(ref.shape, 0, 1, 'float32', 7);
      const got = tf.grad((t: tf.Tensor) => oneDnnMaxPool(t as tf.Tensor4D, c.pool, c.strides, c.padding))(x, dy);
      const expected = tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, c.pool, c.strides, c.padding))(x, dy);
      return {
        grad: tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0]!,
        value: tf.max(tf.abs(tf.sub(y, ref))).dataSync()[0]!,
      };
    });
  }

  /** Tie-heavy input: flat black borders, a constant plateau, and sparse bright pixels. */
  function tieHeavy(shape: Case['shape']): tf.Tensor4D {
    const [n, h, w, ch] = shape;
    const data = new Float32Array(n * h * w * ch);
    for (let b = 0; b < n; b++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++)
          for (let k = 0; k < ch; k++) {
            const border = i < 2 || j < 2 || i >= h - 2 || j >= w - 2;
            const plateau = i >= h / 2;
            const bright = (i * 7 + j * 3 + k + b) % 11 === 0;
            data[((b * h + i) * w + j) * ch + k] = border ? 0 : bright ? 1 : plateau ? 0.5 : (b + 1) * 0.25;
          }
    return tf.tensor4d(data, shape);
  }

  it('matches TensorFlow maxPool forward and gradient on random inputs', () => {
    if (engine !== 'tensorflow') return;
    cases.forEach((c, i) => {
      const x = tf.randomUniform(c.shape, -1, 1, 'float32', 100 + i) as tf.Tensor4D;
      const d = compare(x, c);
      expect(d.value, JSON.stringify(c)).toBeLessThanOrEqual(1e-6);
      expect(d.grad, JSON.stringify(c)).toBeLessThanOrEqual(1e-6);
      x.dispose();
    });
  });

  it('gives ties to the same element as TensorFlow (first max): all zeros, constants, black borders', () => {
    if (engine !== 'tensorflow') return;
    for (const c of cases) {
      const inputs = [tf.zeros(c.shape) as tf.Tensor4D, tf.fill(c.shape, -3) as tf.Tensor4D, tieHeavy(c.shape)];
      for (const x of inputs) {
        const d = compare(x, c);
        expect(d.value, JSON.stringify(c)).toBeLessThanOrEqual(1e-6);
        expect(d.grad, JSON.stringify(c)).toBeLessThanOrEqual(1e-6);
      }
      tf.dispose(inputs);
    }
  });

  it('routes each image of a batch to its own input', () => {
    if (engine !== 'tensorflow') return;
    tf.tidy(() => {
      // Image b holds value b + 1 at one pixel of each window, so a wrong batch offset moves gradients across images.
      const x = tf.concat([0, 1, 2].map((b) => tf.mul(tieHeavy([1, 6, 6, 2]), b + 1)), 0) as tf.Tensor4D;
      const g = tf.grad((t: tf.Tensor) => oneDnnMaxPool(t as tf.Tensor4D, [2, 2], [2, 2], 'valid'))(x);
      const perImage = tf.sum(g, [1, 2, 3]).arraySync() as number[];
      expect(perImage).toEqual([18, 18, 18]); // 3x3 windows x 2 channels, one unit of gradient each
    });
  });

  it('is used inside withTrainingKernels only, and the model gives the same loss gradients as without it', () => {
    if (engine !== 'tensorflow') return;
    const model = buildChestXRayNet({ inputSize: 64, filterMultiplier: 0.25, seed: 3 });
    const pools = model.layers.filter((l) => l.getClassName() === 'MaxPooling2D');
    const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D');
    expect(pools.length).toBeGreaterThan(0);
    expect(convs.length).toBeGreaterThan(0);
    const own = (l: unknown, key: string) => Object.hasOwn(l as object, key);
    tf.tidy(() => {
      // Random images and a flat black one (ties everywhere after each relu).
      const x = tf.concat([tf.randomNormal([2, 64, 64, 1], 0, 1, 'float32', 5), tf.zeros([1, 64, 64, 1])], 0);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const loss = () => tf.mean(model.apply(x, { training: false }) as tf.Tensor) as tf.Scalar;
      const plain = tf.variableGrads(loss, vars);
      const fast = withTrainingKernels(model, () => {
        for (const l of pools) expect(own(l, 'poolingFunction')).toBe(true);
        for (const l of convs) expect(own(l, 'call')).toBe(true);
        return tf.variableGrads(loss, vars);
      });
      for (const name of Object.keys(plain.grads)) {
        const diff = tf.max(tf.abs(tf.sub(plain.grads[name]!, fast.grads[name]!))).dataSync()[0]!;
        expect(diff, name).toBeLessThanOrEqual(1e-6);
      }
      expect(Math.abs(plain.value.dataSync()[0]! - fast.value.dataSync()[0]!)).toBeLessThanOrEqual(1e-6);
    });
    for (const l of pools) expect(own(l, 'poolingFunction')).toBe(false);
    for (const l of convs) expect(own(l, 'call')).toBe(false);
    model.dispose();
  });

  it('restores every layer when the step throws (batch-normalised model: convs without bias, batch norms, pools)', () => {
    if (engine !== 'tensorflow') return;
    const model = buildChestXRayNet({ inputSize: 64, filterMultiplier: 0.25, seed: 4, batchNorm: true });
    const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D');
    const pools = model.layers.filter((l) => l.getClassName() === 'MaxPooling2D');
    expect(() =>
      withTrainingKernels(model, () => {
        for (const l of convs) expect(Object.hasOwn(l, 'call')).toBe(true);
        for (const l of pools) expect(Object.hasOwn(l, 'poolingFunction')).toBe(true);
        throw new Error('step failed');
      }),
    ).toThrow('step failed');
    for (const l of pools) expect(Object.hasOwn(l, 'poolingFunction')).toBe(false);
    for (const l of model.layers) expect(Object.hasOwn(l, 'call'), l.name).toBe(false);
    model.dispose();
  });
});

describe('conv2d with bias on oneDNN\'s kernel (tensorflow backend, training only)', () => {
  let engine: string;
  beforeAll(async () => {
    engine = (await initEngine()).name;
  });

  const cases = [
    { x: [2, 9, 9, 1], f: [3, 3, 1, 4], pad: 'same' },
    { x: [3, 8, 10, 3], f: [5, 5, 3, 6], pad: 'same' },
    { x: [2, 11, 7, 4], f: [3, 3, 4, 5], pad: 'valid' },
    { x: [1, 16, 16, 8], f: [5, 5, 8, 8], pad: 'valid' },
  ] as const;

  it('gives the output and the x, filter and bias gradients of conv2d + add, on random and flat inputs', () => {
    if (engine !== 'tensorflow') return;
    cases.forEach((c, i) => {
      tf.tidy(() => {
        const inputs = [
          tf.randomNormal([...c.x], 0, 1, 'float32', 20 + i),
          tf.zeros([...c.x]),
          tf.concat([tf.zeros([c.x[0], c.x[1], 2, c.x[3]]), tf.fill([c.x[0], c.x[1], c.x[2] - 2, c.x[3]], 0.5)], 2),
        ] as tf.Tensor4D[];
        const f = tf.randomNormal([...c.f], 0, 1, 'float32', 40 + i) as tf.Tensor4D;
        const bias = tf.randomNormal([c.f[3]], 0, 1, 'float32', 60 + i) as tf.Tensor1D;
        for (const x of inputs) {
          const y = oneDnnConv2dWithBias(x, f, bias, c.pad);
          const ref = tf.add(tf.conv2d(x, f, 1, c.pad), bias);
          expect(y.shape).toEqual(ref.shape);
          expect(tf.max(tf.abs(tf.sub(y, ref))).dataSync()[0], JSON.stringify(c)).toBeLessThanOrEqual(1e-6);
          const dy = tf.randomNormal(ref.shape, 0, 1, 'float32', 80 + i);
          const got = tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => oneDnnConv2dWithBias(a as tf.Tensor4D, b as tf.Tensor4D, d as tf.Tensor1D, c.pad))([x, f, bias], dy);
          const want = tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => tf.add(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, c.pad), d))([x, f, bias], dy);
          got.forEach((g, k) => {
            expect(g.shape).toEqual(want[k]!.shape);
            expect(tf.max(tf.abs(tf.sub(g, want[k]!))).dataSync()[0], `${JSON.stringify(c)} input ${k}`).toBeLessThanOrEqual(1e-6);
          });
        }
      });
    });
  });
});

describe('batch normalisation of training batches on TensorFlow\'s fused op (tensorflow backend, training only)', () => {
  let engine: string;
  beforeAll(async () => {
    engine = (await initEngine()).name;
  });

  /** tfjs-layers' training formula: batch moments over n, h, w, then batchNorm. */
  const reference = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number) => {
    const m = tf.moments(x, [0, 1, 2]);
    return tf.batchNorm4d(x as tf.Tensor4D, m.mean as tf.Tensor1D, m.variance as tf.Tensor1D, b as tf.Tensor1D, g as tf.Tensor1D, eps);
  };

  /** Batch statistics and the normalised output in float64, per channel. */
  function float64(x: Float32Array, c: number, g: Float32Array, b: Float32Array, eps: number) {
    const n = x.length / c;
    const mean = new Float64Array(c);
    const variance = new Float64Array(c);
    x.forEach((v, i) => (mean[i % c] = mean[i % c]! + v / n));
    x.forEach((v, i) => (variance[i % c] = variance[i % c]! + (v - mean[i % c]!) ** 2 / n));
    const y = Float64Array.from(x, (v, i) => ((v - mean[i % c]!) / Math.sqrt(variance[i % c]! + eps)) * g[i % c]! + b[i % c]!);
    return { mean, variance, y };
  }

  const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    return worst;
  };

  it('gives y, the batch mean and the biased batch variance of the float64 formula, also on flat channels', () => {
    if (engine !== 'tensorflow') return;
    for (const [i, shape] of ([[3, 5, 6, 4], [2, 8, 8, 3], [16, 4, 4, 5]] as const).entries()) {
      tf.tidy(() => {
        const random = tf.randomNormal([...shape], 0.5, 2, 'float32', 30 + i);
        // The last channel is flat (zero variance), as a black border makes a conv's output.
        const mask = tf.concat([tf.ones([...shape.slice(0, 3), shape[3] - 1]), tf.zeros([...shape.slice(0, 3), 1])], 3);
        const x = tf.add(tf.mul(random, mask), tf.mul(tf.sub(1, mask), 0.25)) as tf.Tensor4D;
        const g = tf.randomUniform([shape[3]], 0.5, 1.5, 'float32', 50 + i) as tf.Tensor1D;
        const b = tf.randomNormal([shape[3]], 0, 1, 'float32', 70 + i) as tf.Tensor1D;
        const got = fusedBatchNormTraining(x, g, b, 1e-3);
        const want = float64(x.dataSync() as Float32Array, shape[3], g.dataSync() as Float32Array, b.dataSync() as Float32Array, 1e-3);
        expect(maxDiff(got.y.dataSync(), want.y), `y ${shape}`).toBeLessThanOrEqual(1e-5);
        expect(maxDiff(got.mean.dataSync(), want.mean), `mean ${shape}`).toBeLessThanOrEqual(1e-6);
        expect(maxDiff(got.variance.dataSync(), want.variance), `variance ${shape}`).toBeLessThanOrEqual(1e-5);
        got.mean.dispose();
        got.variance.dispose();
      });
    }
  });

  it('gives the x, gamma and beta gradients of tfjs\'s formula', () => {
    if (engine !== 'tensorflow') return;
    for (const [i, shape] of ([[3, 5, 6, 4], [2, 8, 8, 3]] as const).entries()) {
      tf.tidy(() => {
        const x = tf.randomNormal([...shape], 0.5, 2, 'float32', 90 + i) as tf.Tensor4D;
        const g = tf.randomUniform([shape[3]], 0.5, 1.5, 'float32', 91 + i) as tf.Tensor1D;
        const b = tf.randomNormal([shape[3]], 0, 1, 'float32', 92 + i) as tf.Tensor1D;
        const dy = tf.randomNormal([...shape], 0, 1, 'float32', 93 + i);
        const got = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
          const r = fusedBatchNormTraining(a as tf.Tensor4D, c as tf.Tensor1D, d as tf.Tensor1D, 1e-3);
          r.mean.dispose();
          r.variance.dispose();
          return r.y;
        })([x, g, b], dy);
        const want = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => reference(a, c, d, 1e-3))([x, g, b], dy);
        ['x', 'gamma', 'beta'].forEach((name, k) => {
          expect(maxDiff(got[k]!.dataSync(), want[k]!.dataSync()), `${name} ${shape}`).toBeLessThanOrEqual(1e-5);
        });
      });
    }
  });

  it('trains a batch-normalised model like its own layers: loss gradients and moving averages', () => {
    if (engine !== 'tensorflow') return;
    // No dropout: its random masks would differ between the two models.
    const build = () => buildChestXRayNet({ inputSize: 64, filterMultiplier: 0.25, seed: 6, batchNorm: true, dropoutRate: 0 });
    const plain = build();
    const fast = build();
    fast.setWeights(plain.getWeights());
    const bns = fast.layers.filter((l) => l.getClassName() === 'BatchNormalization');
    expect(bns.length).toBeGreaterThan(0);
    tf.tidy(() => {
      const x = tf.concat([tf.randomNormal([3, 64, 64, 1], 0, 1, 'float32', 8), tf.zeros([1, 64, 64, 1])], 0);
      const step = (m: tf.LayersModel) => {
        const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
        return tf.variableGrads(() => tf.mean(m.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars);
      };
      const a = step(plain);
      const b = withTrainingKernels(fast, () => {
        for (const l of bns) expect(Object.hasOwn(l, 'call')).toBe(true);
        return step(fast);
      });
      expect(Math.abs(a.value.dataSync()[0]! - b.value.dataSync()[0]!)).toBeLessThanOrEqual(1e-5);
      const names = Object.keys(a.grads);
      expect(names.length).toBe(Object.keys(b.grads).length);
      // The batch statistics and the gamma and beta gradients are float32 sums over the batch (16k
      // values at the first layer here), added up in another order than tfjs's: agreement to 0.2%
      // of each weight's largest gradient (measured: 0.05%); the op itself is checked to 1e-5 above.
      Object.values(a.grads).forEach((ga, k) => {
        const gb = Object.values(b.grads)[k]!;
        const scale = Math.max(1e-3, tf.max(tf.abs(ga)).dataSync()[0]!);
        expect(tf.max(tf.abs(tf.sub(ga, gb))).dataSync()[0]! / scale, names[k]).toBeLessThanOrEqual(2e-3);
      });
      // Moving mean and variance moved the same way in both models.
      const moving = (m: tf.LayersModel) => m.layers.filter((l) => l.getClassName() === 'BatchNormalization').flatMap((l) => l.getWeights().slice(2));
      moving(plain).forEach((w, k) => expect(maxDiff(w.dataSync(), moving(fast)[k]!.dataSync())).toBeLessThanOrEqual(1e-5));
    });
    for (const l of bns) expect(Object.hasOwn(l, 'call')).toBe(false);
    plain.dispose();
    fast.dispose();
  });
});
