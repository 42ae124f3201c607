import * as tf from '@tensorflow/tfjs';
import { toInputTensor } from './standardize.ts';

/**
 * Defaults chosen on trained toy models (generated X-rays with a bright patch, 128 and 256
 * inputs): conv4 with 'layercam' put the peak inside the patch most often; conv6 and conv7 are
 * too coarse (8x8 and 4x4 at 256) and missed it, and plain Grad-CAM gave empty maps on
 * confident models.
 */
export const GRAD_CAM_LAYER = 'conv4';

/**
 * 'gradcam': channels weighted by their mean gradient (Selvaraju et al. 2017).
 * 'layercam': each position weighted by its own positive gradient (Jiang et al. 2021), which
 * stays faithful on earlier, finer layers.
 */
export type CamMethod = 'gradcam' | 'layercam';
export const DEFAULT_CAM_METHOD: CamMethod = 'layercam';

export interface GradCamResult {
  /** size * size values in [0, 1], row-major, at the input's resolution. */
  readonly heatmap: Float32Array;
  readonly probability: number;
}

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

/**
 * Grad-CAM for one standardised image [1, s, s, 1]: channels of the target layer's activation
 * weighted by the mean gradient of the output's logit, relu, upsampled bilinearly to s x s,
 * scaled to [0, 1] (all zeros when the map is flat).
 */
export function gradCam(
  model: tf.LayersModel,
  input: tf.Tensor4D,
  layerName = GRAD_CAM_LAYER,
  method: CamMethod = DEFAULT_CAM_METHOD,
): GradCamResult {
  const [batch, size, width] = input.shape;
  if (batch !== 1 || size !== width) throw new RangeError(`gradCam takes one square image [1, s, s, c], got [${input.shape.join(', ')}]`);
  const layers = chainLayers(model);
  const target = targetIndex(layers, layerName);
  if (target === layers.length - 1) throw new Error('Grad-CAM needs a layer before the output');
  const isLogit = sigmoidDense(layers[layers.length - 1]!) !== undefined;
  const [heat, prob] = tf.tidy(() => {
    let activation: tf.Tensor = input;
    for (const layer of layers.slice(0, target + 1)) activation = layer.apply(activation, { training: false }) as tf.Tensor;
    const head = (a: tf.Tensor): tf.Scalar => {
      let t = a;
      for (const layer of layers.slice(target + 1, -1)) t = layer.apply(t, { training: false }) as tf.Tensor;
      return tf.sum(outputScore(layers[layers.length - 1]!, t));
    };
    const { value: score, grad } = tf.valueAndGrad(head)(activation);
    const value = isLogit ? tf.sigmoid(score) : score;
    const weights = method === 'layercam' ? tf.relu(grad) : tf.mean(grad, [0, 1, 2]);
    const cam = tf.relu(tf.sum(tf.mul(activation, weights), -1, true)) as tf.Tensor4D;
    const up = tf.image.resizeBilinear(cam, [size, size], false, true);
    const lo = tf.min(up);
    const range = tf.sub(tf.max(up), lo);
    const scaled = tf.div(tf.sub(up, lo), tf.maximum(range, 1e-12));
    return [scaled, value];
  });
  try {
    return { heatmap: heat.dataSync() as Float32Array, probability: prob.dataSync()[0]! };
  } finally {
    heat.dispose();
    prob.dispose();
  }
}

/** Grad-CAM for one decoded grey image (size * size bytes), standardised as for prediction. */
export function gradCamOfPixels(model: tf.LayersModel, pixels: Uint8Array, size: number): GradCamResult {
  const x = toInputTensor(pixels, 1, size);
  try {
    return gradCam(model, x);
  } finally {
    x.dispose();
  }
}
