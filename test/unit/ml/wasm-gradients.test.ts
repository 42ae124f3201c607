import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { conv2dFilterGrad } from '../../../src/ml/wasm-gradients.ts';

/** Direct sum: dW[i,j,c,o] = sum over n,y,x of x[n, y+i-pad, x+j-pad, c] * dy[n, y, x, o]. */
function referenceFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, k: number): Float32Array {
  const [n, h, w, cin] = x.shape;
  const cout = dy.shape[3];
  const xv = x.dataSync();
  const dv = dy.dataSync();
  const pad = Math.floor((k - 1) / 2);
  const out = new Float32Array(k * k * cin * cout);
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++)
      for (let c = 0; c < cin; c++)
        for (let o = 0; o < cout; o++) {
          let s = 0;
          for (let b = 0; b < n; b++)
            for (let yy = 0; yy < h; yy++)
              for (let xx = 0; xx < w; xx++) {
                const sy = yy + i - pad;
                const sx = xx + j - pad;
                if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
                s += xv[((b * h + sy) * w + sx) * cin + c]! * dv[((b * h + yy) * w + xx) * cout + o]!;
              }
          out[((i * k + j) * cin + c) * cout + o] = s;
        }
  return out;
}

let engine = '';
beforeAll(async () => {
  engine = (await initEngine()).name;
});

describe('conv2dFilterGrad (the Conv2D filter gradient registered for wasm)', () => {
  for (const k of [3, 5]) {
    it(`equals the ${k}x${k} 'same' filter gradient of the engine and of a direct sum`, () => {
      const x = tf.randomNormal([2, 9, 11, 3]) as tf.Tensor4D;
      const dy = tf.randomNormal([2, 9, 11, 4]) as tf.Tensor4D;
      const filterShape: [number, number, number, number] = [k, k, 3, 4];
      const ours = conv2dFilterGrad(x, dy, filterShape, 'same');
      expect(ours.shape).toEqual(filterShape);
      const reference = referenceFilterGrad(x, dy, k);
      ours.dataSync().forEach((v, i) => expect(Math.abs(v - reference[i]!)).toBeLessThan(1e-4));
      if (engine === 'tensorflow') {
        // libtensorflow's own Conv2DBackpropFilter, through autodiff of conv2d
        const builtIn = tf.grad((f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, f as tf.Tensor4D, 1, 'same'), dy)))(tf.zeros(filterShape));
        const b = builtIn.dataSync();
        ours.dataSync().forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThan(1e-4));
        builtIn.dispose();
      }
      tf.dispose([x, dy, ours]);
    });
  }
});
