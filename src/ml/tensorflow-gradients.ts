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

type PoolPair = [number, number];
type PoolFn = (x: tf.Tensor, poolSize: PoolPair, strides: PoolPair, padding: string, dataFormat: string) => tf.Tensor;

interface NodeBackendFull extends NodeBackend {
  executeMultipleOutputs(name: string, attrs: unknown[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
  binding: NodeBackend['binding'] & {
    TF_ATTR_INT: number;
    TF_ATTR_STRING: number;
    TF_ATTR_BOOL: number;
    TF_INT64: number;
  };
}

const INT64_WARNING = 'INT64 output tensor will be stored as BigInt64Array.';

/** TensorFlow's MaxPoolWithArgmax / MaxPoolGradWithArgmax attributes (one set serves both ops). */
function argmaxPoolAttrs(backend: NodeBackendFull, poolSize: PoolPair, strides: PoolPair, padding: 'valid' | 'same'): unknown[] {
  const b = backend.binding;
  return [
    { name: 'ksize', type: b.TF_ATTR_INT, value: [1, poolSize[0], poolSize[1], 1] },
    { name: 'strides', type: b.TF_ATTR_INT, value: [1, strides[0], strides[1], 1] },
    { name: 'padding', type: b.TF_ATTR_STRING, value: padding === 'same' ? 'SAME' : 'VALID' },
    // Indices count from the start of the whole batch, so the gradient op needs no batch offset.
    { name: 'include_batch_in_index', type: b.TF_ATTR_BOOL, value: true },
    { name: 'Targmax', type: b.TF_ATTR_TYPE, value: b.TF_INT64 },
    { name: 'T', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
  ];
}

/**
 * Max pooling ([batch, h, w, c], float32) whose forward pass also keeps TensorFlow's argmax, so the
 * backward pass is one scatter (MaxPoolGradWithArgmax) instead of MaxPoolGrad re-scanning every
 * window of the input against the output. The gradient goes to the same element as
 * tf.grad(tf.maxPool): the first maximum of each window in row-major order. The argmax is an int64
 * tensor that only ever goes back into TensorFlow (tfjs labels it int32; it must not be read).
 * Needs the tensorflow backend.
 */
export function maxPoolWithArgmax(x: tf.Tensor4D, poolSize: PoolPair, strides: PoolPair, padding: 'valid' | 'same'): tf.Tensor4D {
  if (tf.getBackend() !== 'tensorflow') throw new Error('maxPoolWithArgmax needs the tensorflow backend');
  const backend = tf.backend() as unknown as NodeBackendFull;
  const attrs = argmaxPoolAttrs(backend, poolSize, strides, padding);
  const pool = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    // tfjs-node warns on every int64 output; this one is expected and never read.
    const warn = console.warn;
    let outputs: tf.Tensor[];
    console.warn = (...args: unknown[]) => {
      if (args[0] !== INT64_WARNING) warn(...args);
    };
    try {
      outputs = backend.executeMultipleOutputs('MaxPoolWithArgmax', attrs, [input], 2);
    } finally {
      console.warn = warn;
    }
    const [y, argmax] = outputs as [tf.Tensor, tf.Tensor];
    save([input, argmax]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, am] = saved as [tf.Tensor, tf.Tensor];
        return backend.executeSingleOutput('MaxPoolGradWithArgmax', attrs, [xs, dy, am]);
      },
    };
  });
  return pool(x) as tf.Tensor4D;
}

/**
 * Runs `fn` (a training step) with the model's MaxPooling2D layers pooling through
 * maxPoolWithArgmax; they are restored afterwards, so inference and Grad-CAM keep the plain maxPool.
 * The gradient closures are captured during the forward pass, so `fn` must contain both passes
 * (optimizer.minimize does). Measured in bench/train. Other backends, channels-first layers and
 * non-float inputs use the layer's own pooling.
 */
export function withPoolArgmax<T>(model: tf.LayersModel, fn: () => T): T {
  if (tf.getBackend() !== 'tensorflow') return fn();
  const patched: { layer: { poolingFunction?: PoolFn }; had: boolean; own?: PoolFn }[] = [];
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'MaxPooling2D') continue;
    const l = layer as unknown as { poolingFunction: PoolFn };
    const original = l.poolingFunction.bind(l);
    const had = Object.prototype.hasOwnProperty.call(l, 'poolingFunction');
    patched.push({ layer: l, had, ...(had ? { own: l.poolingFunction } : {}) });
    l.poolingFunction = (x, poolSize, strides, padding, dataFormat) =>
      dataFormat === 'channelsLast' && x.rank === 4 && x.dtype === 'float32' && (padding === 'valid' || padding === 'same')
        ? maxPoolWithArgmax(x as tf.Tensor4D, poolSize, strides, padding)
        : original(x, poolSize, strides, padding, dataFormat);
  }
  try {
    return fn();
  } finally {
    for (const p of patched) {
      if (p.had) p.layer.poolingFunction = p.own;
      else delete p.layer.poolingFunction;
    }
  }
}
