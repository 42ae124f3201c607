import * as tf from '@tensorflow/tfjs';
import { toInputTensor } from './standardize.ts';

/**
 * The layer explained by default: the deepest conv layer whose feature grid is at least this many
 * cells a side (ChestXRayNet: conv6 at 256 input, conv5 at 128, conv4 at 64, conv7 at 512).
 * Chosen on a model trained on real X-rays (docs/explain.md, bench/explain/cam-compare.ts):
 * masking the hottest pixels of that layer's LayerCAM lowered the score the most among the
 * layers with a usable resolution; conv3 and conv4 at 256 (64x64, 32x32 grids) followed edges,
 * ribs and side markers, and masking their hot spots *raised* the score; the 4x4 grid of conv7
 * at 256 is one blob over the chest.
 */
export const MIN_CAM_GRID = 8;

/**
 * 'gradcam': channels weighted by their mean gradient (Selvaraju et al. 2017).
 * 'layercam': each position weighted by its own positive gradient (Jiang et al. 2021). On the
 * default layer it matched or beat 'gradcam' in the deletion test (docs/explain.md), and plain
 * Grad-CAM gave empty maps on confident toy models.
 */
export type CamMethod = 'gradcam' | 'layercam';
export const DEFAULT_CAM_METHOD: CamMethod = 'layercam';

export type CamInterpolation = 'bilinear' | 'bicubic';

/** How the coarse map (one value per feature-map cell) becomes an image-sized one. */
export interface CamSmoothing {
  /** 'bicubic': Keys' cubic convolution (a = -0.5); 'bilinear': the triangle kernel. Both half-pixel aligned. */
  readonly interpolation: CamInterpolation;
  /** Gaussian blur on the feature grid before interpolation, sigma in grid cells (0: none). */
  readonly blurCells: number;
}

/**
 * Bicubic, no blur (docs/explain.md): bilinear leaves creases along the cell edges of an 8x8 grid;
 * a blur of one cell merges neighbouring hot spots, and masking by its maps lowered the score less.
 */
export const DEFAULT_CAM_SMOOTHING: CamSmoothing = Object.freeze({ interpolation: 'bicubic', blurCells: 0 });

export interface GradCamOptions {
  /** Size of the map; default the input's own (s x s). Any aspect: the model saw the image squashed to s x s. */
  readonly height?: number;
  readonly width?: number;
  readonly smoothing?: CamSmoothing;
}

export interface GradCamResult {
  /** height * width values in [0, 1], row-major. */
  readonly heatmap: Float32Array;
  readonly height: number;
  readonly width: number;
  readonly probability: number;
  /** The layer explained and its feature grid (the map's true resolution). */
  readonly layer: string;
  readonly method: CamMethod;
  readonly grid: { readonly rows: number; readonly cols: number };
  /** Largest value of the map before scaling to [0, 1] (0: no positive evidence anywhere). */
  readonly peak: number;
}

/** Largest side of a map: beyond that the caller should scale down (it is interpolated, never finer). */
export const MAX_CAM_SIDE = 4096;

/** The model's layers after its input layer, checked to form a single chain. */
function chainLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  layers.forEach((layer, i) => {
    const inbound = layer.inboundNodes[0]?.inboundLayers ?? [];
    const ok = i === 0 ? inbound.length === 1 && inbound[0]!.getClassName() === 'InputLayer' : inbound.length === 1 && inbound[0] === layers[i - 1];
    if (!ok) throw new Error(`Grad-CAM needs a single chain of layers; ${layer.name} breaks it`);
  });
  return layers;
}

/** The conv layers conv1, conv2, ... of a ChestXRayNet-like model with their output grids [h, w]. */
function convLayers(model: tf.LayersModel): { name: string; rows: number; cols: number }[] {
  const out: { name: string; rows: number; cols: number }[] = [];
  for (const layer of model.layers) {
    if (!/^conv\d+$/.test(layer.name)) continue;
    const shape = layer.outputShape as (number | null)[]; // [batch, h, w, c]
    if (shape.length === 4 && typeof shape[1] === 'number' && typeof shape[2] === 'number') out.push({ name: layer.name, rows: shape[1], cols: shape[2] });
  }
  return out;
}

/** The deepest conv layer with a grid of at least MIN_CAM_GRID a side (else the first conv layer). */
export function defaultCamLayer(model: tf.LayersModel): string {
  const convs = convLayers(model);
  if (convs.length === 0) throw new Error('Grad-CAM needs a layer named conv1, conv2, ...');
  const fine = convs.filter((c) => Math.min(c.rows, c.cols) >= MIN_CAM_GRID);
  return (fine.at(-1) ?? convs[0]!).name;
}

/** With batch normalisation, conv{n} is linear; its relu{n} output is the feature map to explain. */
function targetIndex(layers: tf.layers.Layer[], layerName: string): number {
  const n = /^conv(\d+)$/.exec(layerName)?.[1];
  const relu = n === undefined ? -1 : layers.findIndex((l) => l.name === `relu${n}`);
  const index = relu >= 0 ? relu : layers.findIndex((l) => l.name === layerName);
  if (index < 0) throw new Error(`the model has no layer named ${layerName}`);
  return index;
}

function sigmoidDense(layer: tf.layers.Layer): [tf.Tensor, tf.Tensor | undefined] | undefined {
  const config = layer.getConfig() as { activation?: string; useBias?: boolean };
  if (layer.getClassName() !== 'Dense' || config.activation !== 'sigmoid') return undefined;
  const [kernel, bias] = layer.getWeights();
  return [kernel!, config.useBias === false ? undefined : bias];
}

/**
 * The output layer's score to explain: the logit when it is a sigmoid dense layer (the
 * probability saturates at 1 on confident images and its gradient vanishes), else its output.
 */
function outputScore(layer: tf.layers.Layer, input: tf.Tensor): tf.Tensor {
  const dense = sigmoidDense(layer);
  if (!dense) return layer.apply(input, { training: false }) as tf.Tensor;
  const [kernel, bias] = dense;
  const logit = tf.matMul(input as tf.Tensor2D, kernel as tf.Tensor2D);
  return bias ? tf.add(logit, bias) : logit;
}

/** Keys' cubic convolution kernel (a = -0.5, the Catmull-Rom spline). */
function cubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t <= 1) return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1;
  if (t < 2) return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a;
  return 0;
}

/**
 * [out, n] interpolation matrix from n cells to out samples, half-pixel aligned (cell j covers
 * [j, j + 1) * out / n), edges replicated. Row i holds the weights of sample i; each row sums to 1.
 */
export function interpolationMatrix(n: number, out: number, kind: CamInterpolation): Float32Array {
  const m = new Float32Array(out * n);
  const scale = n / out;
  const clampIndex = (j: number) => (j < 0 ? 0 : j >= n ? n - 1 : j);
  for (let i = 0; i < out; i++) {
    const src = (i + 0.5) * scale - 0.5;
    const j0 = Math.floor(src);
    const taps = kind === 'bicubic' ? [-1, 0, 1, 2] : [0, 1];
    for (const k of taps) {
      const w = kind === 'bicubic' ? cubic(src - (j0 + k)) : Math.max(0, 1 - Math.abs(src - (j0 + k)));
      m[i * n + clampIndex(j0 + k)]! += w;
    }
  }
  return m;
}

/** [n, n] Gaussian blur matrix, sigma in cells; each row renormalised inside the grid (no dark edges). */
export function gaussianMatrix(n: number, sigma: number): Float32Array {
  const m = new Float32Array(n * n);
  if (!(sigma > 0)) {
    for (let i = 0; i < n; i++) m[i * n + i] = 1;
    return m;
  }
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const w = Math.exp(-((i - j) ** 2) / (2 * sigma * sigma));
      m[i * n + j] = w;
      sum += w;
    }
    for (let j = 0; j < n; j++) m[i * n + j]! /= sum;
  }
  return m;
}

/**
 * Coarse map [rows, cols] -> [height, width]: blur on the grid, then interpolate, as two matrix
 * products (rows' weights [height, rows] x map x cols' weights [cols, width]); negative lobes of
 * the cubic kernel clipped at 0. Not scaled. Call inside tf.tidy.
 */
export function resampleCam(cam: tf.Tensor2D, height: number, width: number, smoothing: CamSmoothing = DEFAULT_CAM_SMOOTHING): tf.Tensor2D {
  const [rows, cols] = cam.shape;
  const along = (n: number, out: number) =>
    tf.matMul(
      tf.tensor2d(interpolationMatrix(n, out, smoothing.interpolation), [out, n]),
      tf.tensor2d(gaussianMatrix(n, smoothing.blurCells), [n, n]),
    ); // [out, n]
  const ry = along(rows, height); // [height, rows]
  const rx = along(cols, width); // [width, cols]
  return tf.relu(tf.matMul(tf.matMul(ry, cam), rx, false, true)) as tf.Tensor2D; // [height, width]
}

function checkSide(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1 || v > MAX_CAM_SIDE) throw new RangeError(`gradCam: ${name} must be an integer in 1..${MAX_CAM_SIDE}, got ${v}`);
  return v;
}

/**
 * Grad-CAM for one standardised image [1, s, s, 1]: the target layer's activation [1, h, w, c]
 * weighted by the gradient of the output's logit (per channel for 'gradcam', per position for
 * 'layercam'), summed over channels, relu -> the coarse map [h, w]; blurred and interpolated to
 * height x width (default s x s) by resampleCam; divided by its largest value, so 0 stays "no
 * positive evidence" and the hottest point is 1 (all zeros when nothing is positive).
 */
export function gradCam(
  model: tf.LayersModel,
  input: tf.Tensor4D,
  layerName: string = defaultCamLayer(model),
  method: CamMethod = DEFAULT_CAM_METHOD,
  options: GradCamOptions = {},
): GradCamResult {
  const [batch, size, width] = input.shape;
  if (batch !== 1 || size !== width) throw new RangeError(`gradCam takes one square image [1, s, s, c], got [${input.shape.join(', ')}]`);
  const outH = checkSide('height', options.height ?? size);
  const outW = checkSide('width', options.width ?? size);
  const layers = chainLayers(model);
  const target = targetIndex(layers, layerName);
  if (target === layers.length - 1) throw new Error('Grad-CAM needs a layer before the output');
  const isLogit = sigmoidDense(layers[layers.length - 1]!) !== undefined;
  let grid = { rows: 0, cols: 0 };
  const [heat, prob, peak] = tf.tidy(() => {
    let activation: tf.Tensor = input;
    for (const layer of layers.slice(0, target + 1)) activation = layer.apply(activation, { training: false }) as tf.Tensor;
    const head = (a: tf.Tensor): tf.Scalar => {
      let t = a;
      for (const layer of layers.slice(target + 1, -1)) t = layer.apply(t, { training: false }) as tf.Tensor;
      return tf.sum(outputScore(layers[layers.length - 1]!, t));
    };
    const { value: score, grad } = tf.valueAndGrad(head)(activation); // grad: [1, h, w, c]
    const value = isLogit ? tf.sigmoid(score) : score;
    const weights = method === 'layercam' ? tf.relu(grad) : tf.mean(grad, [0, 1, 2]); // [1, h, w, c] or [c]
    const [, rows, cols] = activation.shape as [number, number, number, number];
    grid = { rows, cols };
    const cam = tf.reshape(tf.relu(tf.sum(tf.mul(activation, weights), -1)), [rows, cols]) as tf.Tensor2D; // [h, w]
    const up = resampleCam(cam, outH, outW, options.smoothing); // [outH, outW]
    const top = tf.max(up);
    const scaled = tf.div(up, tf.maximum(top, 1e-12));
    return [scaled, value, top];
  });
  try {
    return {
      heatmap: heat.dataSync() as Float32Array,
      height: outH,
      width: outW,
      probability: prob.dataSync()[0]!,
      layer: layerName,
      method,
      grid,
      peak: peak.dataSync()[0]!,
    };
  } finally {
    tf.dispose([heat, prob, peak]);
  }
}

/** Grad-CAM for one decoded grey image (size * size bytes), standardised as for prediction. */
export function gradCamOfPixels(
  model: tf.LayersModel,
  pixels: Uint8Array,
  size: number,
  options: GradCamOptions & { layer?: string; method?: CamMethod } = {},
): GradCamResult {
  const x = toInputTensor(pixels, 1, size);
  try {
    return gradCam(model, x, options.layer ?? defaultCamLayer(model), options.method ?? DEFAULT_CAM_METHOD, options);
  } finally {
    x.dispose();
  }
}
