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
type LayerCall = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

interface NodeBackendFull extends NodeBackend {
  executeMultipleOutputs(name: string, attrs: unknown[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
  binding: NodeBackend['binding'] & { TF_ATTR_INT: number; TF_ATTR_STRING: number; TF_ATTR_BOOL: number; TF_ATTR_FLOAT: number };
}

/*
 * TensorFlow's own fused kernels, called by name, for the training step (withTrainingKernels;
 * inference keeps the stock ops). oneDNN's pooling and conv-with-bias: libtensorflow registers them
 * for every x86 CPU (with or without TF_ENABLE_ONEDNN_OPTS), behind the kernel label that its graph
 * and eager rewrites set; eager mode rewrites Conv2D and its backprops to them but not pooling or
 * the bias add. Measured (2 cores, batch 16, the 256x256x8 output of conv1): MaxPool + MaxPoolGrad
 * 61 ms, MaxPoolWithArgmax + its gradient 54 ms, oneDNN max pool with its workspace 15 ms; Conv2D +
 * bias Add 25 ms, oneDNN Conv2D with the bias folded in 11 ms (same output bits). Batch norm on the
 * public FusedBatchNormV3 (fusedBatchNormTraining).
 */
const ONEDNN_LABEL = '_kernel';
const ONEDNN_LABEL_VALUE = 'MklNameChangeOp';

/** Attribute builders for the binding's TFE ops; `float32` is the attribute T = DT_FLOAT. */
function attrs(backend: NodeBackendFull) {
  const b = backend.binding;
  return {
    str: (name: string, value: string) => ({ name, type: b.TF_ATTR_STRING, value }),
    ints: (name: string, value: number[]) => ({ name, type: b.TF_ATTR_INT, value }),
    bool: (name: string, value: boolean) => ({ name, type: b.TF_ATTR_BOOL, value }),
    num: (name: string, value: number) => ({ name, type: b.TF_ATTR_FLOAT, value }),
    floatType: (name: string) => ({ name, type: b.TF_ATTR_TYPE, value: b.TF_FLOAT }),
    float32: { name: 'T', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
  };
}

/** The one tensor of a layer's call, or undefined when it was given several. */
function onlyInput(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor | undefined {
  return Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
}

function poolAttrs(backend: NodeBackendFull, poolSize: PoolPair, strides: PoolPair, padding: 'valid' | 'same'): unknown[] {
  const a = attrs(backend);
  return [
    a.ints('ksize', [1, poolSize[0], poolSize[1], 1]),
    a.ints('strides', [1, strides[0], strides[1], 1]),
    a.str('padding', padding === 'same' ? 'SAME' : 'VALID'),
    a.str('data_format', 'NHWC'),
    // The forward pass records which element of each window won (a byte per output), so the
    // backward pass is a scatter instead of a re-scan of every window.
    a.bool('workspace_enabled', true),
    a.float32,
    a.str(ONEDNN_LABEL, ONEDNN_LABEL_VALUE),
  ];
}

function nodeBackend(): NodeBackendFull {
  if (tf.getBackend() !== 'tensorflow') throw new Error('oneDNN kernels need the tensorflow backend');
  return tf.backend() as unknown as NodeBackendFull;
}

/**
 * Max pooling ([batch, h, w, c], float32) on oneDNN's kernel, whose backward pass scatters dy to
 * the element of each window that the forward pass recorded: the first maximum in row-major
 * order, as tf.grad(tf.maxPool) (tested against it, ties included). The workspace is a uint8
 * tensor that only ever goes back into TensorFlow (tfjs labels it int32; it must not be read).
 */
export function oneDnnMaxPool(x: tf.Tensor4D, poolSize: PoolPair, strides: PoolPair, padding: 'valid' | 'same'): tf.Tensor4D {
  const backend = nodeBackend();
  const poolAttributes = poolAttrs(backend, poolSize, strides, padding);
  const pool = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const [y, workspace] = backend.executeMultipleOutputs('_MklNativeMaxPool', poolAttributes, [input], 2) as [tf.Tensor, tf.Tensor];
    save([input, y, workspace]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys, ws] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        return backend.executeSingleOutput('_MklNativeMaxPoolGrad', poolAttributes, [xs, ys, dy, ws]);
      },
    };
  });
  return pool(x) as tf.Tensor4D;
}

const CONV_BIAS = 'CxrConv2DWithBias';

interface ConvBiasAttrs {
  readonly pad: 'same' | 'valid';
}

/**
 * conv2d(x, filter, stride 1, no dilation, NHWC) + bias as one oneDNN kernel, registered as a
 * tfjs kernel so its gradient is lazy per input (the tape skips dx of the first layer, whose input
 * is the image). The gradients are tfjs's own: the Conv2D gradient for x and filter, and the sum
 * of dy over batch, rows and columns for the bias (what the gradient of the broadcast Add does).
 */
function registerConvBiasKernel(): void {
  if (tf.getKernel(CONV_BIAS, 'tensorflow')) return;
  tf.registerKernel({
    kernelName: CONV_BIAS,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, attrs: kernelAttrs, backend }) => {
      const b = backend as unknown as NodeBackendFull;
      const a = attrs(b);
      const { x, filter, bias } = inputs as { x: tf.Tensor; filter: tf.Tensor; bias: tf.Tensor };
      const { pad } = kernelAttrs as unknown as ConvBiasAttrs;
      return b.executeSingleOutput(
        '_MklNativeConv2DWithBias',
        [
          a.ints('strides', [1, 1, 1, 1]),
          a.str('padding', pad === 'same' ? 'SAME' : 'VALID'),
          a.str('data_format', 'NHWC'),
          a.ints('dilations', [1, 1, 1, 1]),
          a.float32,
          a.str(ONEDNN_LABEL, ONEDNN_LABEL_VALUE),
        ],
        [x, filter, bias],
      ) as unknown as tf.TensorInfo;
    },
  });
  tf.registerGradient({
    kernelName: CONV_BIAS,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, kernelAttrs) => {
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const { pad } = kernelAttrs as unknown as ConvBiasAttrs;
      const conv = tf.getGradient(tf.Conv2D)!.gradFunc(dy, [x, filter], {
        strides: [1, 1],
        pad,
        dataFormat: 'NHWC',
        dilations: [1, 1],
      } as unknown as tf.NamedAttrMap);
      return { x: conv.x!, filter: conv.filter!, bias: () => tf.sum(dy as tf.Tensor, [0, 1, 2]) };
    },
  });
}

/** conv2d (stride 1, no dilation, NHWC) plus bias on oneDNN's fused kernel; [n, h, w, in] -> [n, h', w', out]. */
export function oneDnnConv2dWithBias(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, pad: 'same' | 'valid'): tf.Tensor4D {
  nodeBackend();
  registerConvBiasKernel();
  return tf.engine().runKernel(CONV_BIAS, { x, filter, bias }, { pad } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

let oneDnnProbe: boolean | undefined;

/**
 * Whether this libtensorflow has oneDNN's pooling and conv-with-bias kernels and they agree with
 * the stock ops on a small input; checked once. Without them training uses the stock ops.
 */
export function hasOneDnnTrainingKernels(): boolean {
  if (oneDnnProbe !== undefined) return oneDnnProbe;
  if (tf.getBackend() !== 'tensorflow') return false;
  try {
    oneDnnProbe = tf.tidy(() => {
      const x = tf.randomUniform([2, 6, 6, 3], -1, 1, 'float32', 11) as tf.Tensor4D;
      const f = tf.randomUniform([3, 3, 3, 2], -1, 1, 'float32', 12) as tf.Tensor4D;
      const bias = tf.tensor1d([0.5, -0.25]);
      const pooled = tf.max(tf.abs(tf.sub(oneDnnMaxPool(x, [2, 2], [2, 2], 'valid'), tf.maxPool(x, 2, 2, 'valid'))));
      const conv = tf.max(tf.abs(tf.sub(oneDnnConv2dWithBias(x, f, bias, 'same'), tf.add(tf.conv2d(x, f, 1, 'same'), bias))));
      return pooled.dataSync()[0]! <= 1e-6 && conv.dataSync()[0]! <= 1e-5;
    });
  } catch {
    oneDnnProbe = false;
  }
  return oneDnnProbe;
}

/**
 * Batch normalisation of a training batch ([n, h, w, c], statistics over n, h, w) as TensorFlow's
 * FusedBatchNormV3 and FusedBatchNormGradV3: two ops where tfjs's moments + batchNorm and their
 * gradients are ~40 full-size ops (measured at conv1's 16x256x256x8: 277 ms forward and backward,
 * fused 15 ms). Returns y and the batch mean and the biased batch variance (as tf.moments gives
 * them; TensorFlow's op returns the unbiased one, corrected here), for the moving averages; only y
 * carries a gradient; the caller disposes mean and variance. Both are float32 reductions over the
 * batch in a different order than tfjs's, so they differ from it by rounding (tested against a
 * float64 reference).
 */
export function fusedBatchNormTraining(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
): { y: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const backend = nodeBackend();
  const a = attrs(backend);
  const common = [a.float32, a.floatType('U'), a.num('epsilon', epsilon), a.str('data_format', 'NHWC'), a.bool('is_training', true)];
  const stats: tf.Tensor[] = [];
  const norm = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, scale, offset, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const empty = tf.tensor1d([]);
    const [y, mean, unbiased, r1, r2, r3] = backend.executeMultipleOutputs(
      'FusedBatchNormV3',
      [...common, a.num('exponential_avg_factor', 1)],
      [input, scale, offset, empty, empty],
      6,
    ) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    empty.dispose();
    // Not outputs of the op tfjs records: kept past its scope, disposed by the caller.
    stats.push(tf.keep(mean), tf.keep(unbiased));
    save([input, scale, r1, r2, r3]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, g, s1, s2, s3] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const [dx, dScale, dOffset] = backend.executeMultipleOutputs('FusedBatchNormGradV3', common, [dy, xs, g, s1, s2, s3], 5);
        return [dx!, dScale!, dOffset!];
      },
    };
  });
  const y = norm(x, gamma, beta) as tf.Tensor4D;
  const [mean, unbiased] = stats as [tf.Tensor1D, tf.Tensor1D];
  const n = x.shape[0] * x.shape[1] * x.shape[2];
  const variance = n > 1 ? (tf.mul(unbiased, (n - 1) / n) as tf.Tensor1D) : unbiased;
  if (variance !== unbiased) unbiased.dispose();
  return { y, mean, variance };
}

interface BatchNormLayerLike {
  call: LayerCall;
  axis: number;
  momentum: number;
  epsilon: number;
  gamma?: { read(): tf.Tensor } | null;
  beta?: { read(): tf.Tensor } | null;
  movingMean: { read(): tf.Tensor; write(t: tf.Tensor): void };
  movingVariance: { read(): tf.Tensor; write(t: tf.Tensor): void };
}

/**
 * The batch-norm layer's training call on fusedBatchNormTraining, with its moving averages updated
 * as tfjs-layers does (v <- v - (v - batch value) * (1 - momentum)); inference keeps its own call.
 */
function fusedBatchNormCall(layer: BatchNormLayerLike, original: LayerCall): LayerCall | undefined {
  if (!layer.gamma || !layer.beta || !(layer.axis === -1 || layer.axis === 3)) return undefined;
  return (inputs, kwargs) => {
    const x = onlyInput(inputs);
    if (kwargs.training !== true || x === undefined || x.rank !== 4 || x.dtype !== 'float32') return original(inputs, kwargs);
    return tf.tidy(() => {
      const gamma = layer.gamma!.read() as tf.Tensor1D;
      const beta = layer.beta!.read() as tf.Tensor1D;
      const { y, mean, variance } = fusedBatchNormTraining(x as tf.Tensor4D, gamma, beta, layer.epsilon);
      for (const [v, value] of [
        [layer.movingMean, mean],
        [layer.movingVariance, variance],
      ] as const) {
        const current = v.read();
        v.write(tf.sub(current, tf.mul(tf.sub(current, value), 1 - layer.momentum)));
      }
      mean.dispose();
      variance.dispose();
      return y;
    });
  };
}

interface ConvLayerLike {
  call: LayerCall;
  kernel: { read(): tf.Tensor };
  bias?: { read(): tf.Tensor } | null;
  strides: number[];
  dilationRate: number[];
  padding: string;
  dataFormat: string;
  rank: number;
  activation: { getClassName(): string };
}

/**
 * The conv layer's own call on oneDNN's conv-with-bias (or the plain Conv2D when it has no bias),
 * when its settings are ones the kernel covers.
 */
function oneDnnConvCall(layer: ConvLayerLike, original: LayerCall): LayerCall | undefined {
  const activation = layer.activation.getClassName();
  const covered =
    layer.rank === 2 &&
    layer.dataFormat === 'channelsLast' &&
    layer.strides.every((s) => s === 1) &&
    layer.dilationRate.every((d) => d === 1) &&
    (layer.padding === 'same' || layer.padding === 'valid') &&
    (activation === 'relu' || activation === 'linear');
  if (!covered) return undefined;
  return (inputs, kwargs) => {
    const x = onlyInput(inputs);
    if (x === undefined || x.rank !== 4 || x.dtype !== 'float32') return original(inputs, kwargs);
    return tf.tidy(() => {
      const pad = layer.padding as 'same' | 'valid';
      const kernel = layer.kernel.read() as tf.Tensor4D;
      // Without a bias (batch-normalised layers) the plain Conv2D: its gradient is lazy per input, where
      // tfjs-layers' fused path computes dx even for the first layer, whose input is the image.
      const y = layer.bias
        ? oneDnnConv2dWithBias(x as tf.Tensor4D, kernel, layer.bias.read() as tf.Tensor1D, pad)
        : tf.conv2d(x as tf.Tensor4D, kernel, 1, pad);
      return activation === 'relu' ? tf.relu(y) : y;
    });
  };
}

/**
 * Runs `fn` (a training step) with the model's MaxPooling2D layers pooling on oneDNN's kernel,
 * its Conv2D layers (stride 1, relu or linear) adding their bias inside oneDNN's convolution, and
 * its BatchNormalization layers normalising training batches with TensorFlow's fused batch norm;
 * the layers are restored afterwards, so inference and Grad-CAM keep the stock ops.
 * Gradient closures are captured during the forward pass, so `fn` must contain both passes
 * (optimizer.minimize does). Other backends, a libtensorflow without the kernels, and layer
 * settings the kernels do not cover keep the layer's own ops. Measured in bench/train.
 */
export function withTrainingKernels<T>(model: tf.LayersModel, fn: () => T): T {
  if (!hasOneDnnTrainingKernels()) return fn();
  const restore: (() => void)[] = [];
  const patch = <K extends string>(target: Record<K, unknown>, key: K, replacement: unknown) => {
    const had = Object.prototype.hasOwnProperty.call(target, key);
    const own = target[key];
    target[key] = replacement;
    restore.push(() => {
      if (had) target[key] = own;
      else delete target[key];
    });
  };
  for (const layer of model.layers) {
    const kind = layer.getClassName();
    if (kind === 'MaxPooling2D') {
      const l = layer as unknown as { poolingFunction: PoolFn };
      const original = l.poolingFunction.bind(l);
      const pooling: PoolFn = (x, poolSize, strides, padding, dataFormat) =>
        dataFormat === 'channelsLast' && x.rank === 4 && x.dtype === 'float32' && (padding === 'valid' || padding === 'same')
          ? oneDnnMaxPool(x as tf.Tensor4D, poolSize, strides, padding)
          : original(x, poolSize, strides, padding, dataFormat);
      patch(l as unknown as Record<'poolingFunction', unknown>, 'poolingFunction', pooling);
    } else if (kind === 'Conv2D') {
      const l = layer as unknown as ConvLayerLike;
      const call = oneDnnConvCall(l, l.call.bind(l));
      if (call !== undefined) patch(l as unknown as Record<'call', unknown>, 'call', call);
    } else if (kind === 'BatchNormalization') {
      const l = layer as unknown as BatchNormLayerLike;
      const call = fusedBatchNormCall(l, l.call.bind(l));
      if (call !== undefined) patch(l as unknown as Record<'call', unknown>, 'call', call);
    }
  }
  try {
    return fn();
  } finally {
    for (const undo of restore.reverse()) undo();
  }
}
