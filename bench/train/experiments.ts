/**
 * Opt-in code experiments for the training bench (BENCH_EXPERIMENTS=poolgrad+...): candidate
 * speed-ups, or undoings, measured on the real trainModel without touching src/. Not used by the
 * service. Names are joined with '+' (or ',').
 *
 * stockrelu: puts back tfjs-core's own Relu gradient, dy * step(x). On the tensorflow backend the
 *   Step kernel is five full-size ops (IsNan, Greater, Ones, Fill, two Selects) plus the Multiply
 *   over every conv activation. src/ml/tensorflow-gradients.ts replaced it with TensorFlow's fused
 *   ReluGrad (found with this bench as the experiment "relugrad"); stockrelu measures what that
 *   is worth in the same run.
 * relugrad: that replacement (what src/ now does at initEngine(); a no-op on top of it).
 * poolgrad: the 2x2 stride-2 max-pool gradient as dy routed by a mask, mask = (x == upsampled y),
 *   with broadcasting over a 6-D view (Equal, Cast, Mul) instead of TensorFlow's MaxPoolGrad.
 *   Ties in a window all receive the gradient: exact for this net, where every pool follows a
 *   relu (tied values there are zeros, whose relu gradient is zero), not for pools in general.
 *   Other pool shapes keep the stock gradient.
 * poolgrad2: as poolgrad but SelectV2(mask, dy, 0) in one op instead of Cast + Mul.
 * bench/train/check-experiments.ts checks that gradients are unchanged.
 */
import * as tf from '@tensorflow/tfjs';

interface NodeBackendLike {
  executeSingleOutput(name: string, attrs: unknown[], inputs: tf.Tensor[]): tf.Tensor;
  binding: { TF_ATTR_TYPE: number; TF_FLOAT: number };
}

function reluGradOverride(): void {
  const backend = tf.backend() as unknown as NodeBackendLike;
  if (typeof backend.executeSingleOutput !== 'function') return;
  tf.registerGradient({
    kernelName: tf.Relu,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      return {
        x: () =>
          backend.executeSingleOutput(
            'ReluGrad',
            [{ name: 'T', type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT }],
            [dy as tf.Tensor, x!],
          ),
      };
    },
  });
}

/** tfjs-core's own Relu gradient (as registered by @tensorflow/tfjs-core). */
function stockReluGrad(): void {
  tf.registerGradient({
    kernelName: tf.Relu,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      return { x: () => tf.mul(dy as tf.Tensor, tf.step(tf.cast(x!, 'float32'))) };
    },
  });
}

function poolGradOverride(select: boolean): void {
  const backend = tf.backend() as unknown as NodeBackendLike;
  const selectAttrs = () => [{ name: 'T', type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT }];
  tf.registerGradient({
    kernelName: tf.MaxPool,
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, y] = saved as [tf.Tensor4D, tf.Tensor4D];
      const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as {
        filterSize: number | [number, number];
        strides: number | [number, number];
        pad: 'valid' | 'same' | number;
        dimRoundingMode?: 'floor' | 'round' | 'ceil';
      };
      const two = (v: number | [number, number]) => (Array.isArray(v) ? v[0] === 2 && v[1] === 2 : v === 2);
      const [n, h, w, c] = x.shape;
      if (two(filterSize) && two(strides) && h % 2 === 0 && w % 2 === 0 && (pad === 'valid' || pad === 'same' || pad === 0)) {
        return {
          x: () =>
            tf.tidy(() => {
              const x6 = tf.reshape(x, [n, h / 2, 2, w / 2, 2, c]);
              const y6 = tf.reshape(y, [n, h / 2, 1, w / 2, 1, c]);
              const dy6 = tf.reshape(dy as tf.Tensor, [n, h / 2, 1, w / 2, 1, c]);
              const mask = tf.equal(x6, y6);
              const dx = select
                ? backend.executeSingleOutput('SelectV2', selectAttrs(), [mask, dy6, tf.scalar(0)])
                : tf.mul(tf.cast(mask, 'float32'), dy6);
              return tf.reshape(dx, [n, h, w, c]);
            }),
        };
      }
      return {
        x: () =>
          tf.engine().runKernel(tf.MaxPoolGrad, { dy: dy as tf.Tensor, input: x, output: y }, { filterSize, strides, pad, dimRoundingMode } as never) as unknown as tf.Tensor,
      };
    },
  });
}

/** Applies the experiments named in BENCH_EXPERIMENTS; returns the ones applied. */
export function applyExperiments(value = process.env.BENCH_EXPERIMENTS ?? ''): string[] {
  const names = value.split(/[,+]/).map((s) => s.trim()).filter(Boolean);
  const applied: string[] = [];
  for (const name of names) {
    if (name === 'relugrad') {
      if (tf.getBackend() !== 'tensorflow') continue;
      reluGradOverride();
      applied.push(name);
    } else if (name === 'stockrelu') {
      stockReluGrad();
      applied.push(name);
    } else if (name === 'poolgrad' || name === 'poolgrad2') {
      if (name === 'poolgrad2' && tf.getBackend() !== 'tensorflow') continue;
      poolGradOverride(name === 'poolgrad2');
      applied.push(name);
    } else {
      throw new Error(`unknown experiment "${name}" (known: stockrelu, relugrad, poolgrad, poolgrad2)`);
    }
  }
  return applied;
}
