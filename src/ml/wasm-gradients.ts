import * as tf from '@tensorflow/tfjs';

type Padding = 'valid' | 'same' | number;

function samePads(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/**
 * Filter gradient of a stride-1, dilation-1 NHWC conv2d, computed as a conv2d over transposed
 * tensors (batch becomes channels), since the wasm backend has no Conv2DBackpropFilter kernel.
 */
export function conv2dFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  pad: Padding,
): tf.Tensor4D {
  const [kh, kw] = filterShape;
  const [, h, w] = x.shape;
  let padH: [number, number];
  let padW: [number, number];
  if (pad === 'same') {
    padH = samePads(h, kh, 1);
    padW = samePads(w, kw, 1);
  } else if (pad === 'valid') {
    padH = [0, 0];
    padW = [0, 0];
  } else {
    padH = [pad, pad];
    padW = [pad, pad];
  }
  return tf.tidy(() => {
    const xT = tf.transpose(x, [3, 1, 2, 0]); // [Cin, H, W, N]
    const dyT = tf.transpose(dy, [1, 2, 0, 3]); // [Ho, Wo, N, Cout] used as filter
    const padded = tf.pad(xT, [[0, 0], padH, padW, [0, 0]]);
    const dW = tf.conv2d(padded as tf.Tensor4D, dyT as tf.Tensor4D, 1, 'valid'); // [Cin, kh, kw, Cout]
    return tf.transpose(dW, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

let registered = false;

/** Registers the Conv2D gradient in terms of kernels the wasm backend has. Idempotent. */
export function registerWasmTrainingGradients(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x4d, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const { strides, pad, dilations, dataFormat } = attrs as unknown as {
        strides: number | [number, number];
        pad: Padding;
        dilations: number | [number, number];
        dataFormat: string;
      };
      const one = (v: number | [number, number]) => (Array.isArray(v) ? v.every((s) => s === 1) : v === 1);
      if (!one(strides) || !one(dilations ?? 1) || (dataFormat && dataFormat !== 'NHWC')) {
        throw new Error('wasm Conv2D gradient supports stride 1, dilation 1, NHWC only');
      }
      const dy4 = dy as tf.Tensor4D;
      return {
        x: () => tf.conv2dTranspose(dy4, filter, x4d.shape, 1, pad as 'same' | 'valid'),
        filter: () => conv2dFilterGrad(x4d, dy4, filter.shape, pad),
      };
    },
  });
}
