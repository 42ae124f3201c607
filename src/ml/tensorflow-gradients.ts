import * as tf from '@tensorflow/tfjs';

interface NodeBackend {
  executeSingleOutput(name: string, attrs: unknown[], inputs: tf.Tensor[]): tf.Tensor;
  binding: { TF_ATTR_TYPE: number; TF_FLOAT: number };
}

let registered = false;

/**
 * tfjs-core's Relu gradient is dy * step(x), which the tensorflow backend runs as six full-size
 * ops over every conv activation; TensorFlow's fused ReluGrad(dy, x) does it in one. Measured
 * (bench/train, 256x256, batch 16, 2 cores): training ~82 -> ~139 images/s. Idempotent.
 */
export function registerTensorflowTrainingGradients(): void {
  if (registered || tf.getBackend() !== 'tensorflow') return;
  registered = true;
  const backend = tf.backend() as unknown as NodeBackend;
  const attrs = [{ name: 'T', type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT }];
  tf.registerGradient({
    kernelName: tf.Relu,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved as [tf.Tensor];
      const grad = dy as tf.Tensor;
      if (x.dtype !== 'float32') return { x: () => tf.mul(grad, tf.step(tf.cast(x, 'float32'))) };
      return { x: () => backend.executeSingleOutput('ReluGrad', attrs, [grad, x]) };
    },
  });
}
