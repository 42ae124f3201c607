import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';

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
