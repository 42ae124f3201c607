import * as tf from '@tensorflow/tfjs';
import {
  adjustPixels,
  augmentPixels,
  warpPixels,
  type AffineParams,
  type AugmentationPlan,
  type IntensityParams,
} from './augment-pixels.ts';
import type { AugmentationOptions } from './types.ts';

/**
 * Training-time augmentation: draws one random change per image from the caller's seeded JS
 * generator (so a seed reproduces the batch), then applies it to the pixels (augment-pixels.ts):
 * an affine warp (rotation, zoom, shift, horizontal flip; bilinear, edge pixels repeat) and
 * per-image gamma, contrast and brightness. The tensor wrappers here serve the stress tests.
 */

export { adjustPixels, affineMatrix, augmentPixels, warpPixels, type AffineParams, type AugmentationPlan, type IntensityParams } from './augment-pixels.ts';

const geometricOff = (o: AugmentationOptions) => o.rotation === 0 && o.zoom === 0 && o.shift === 0 && !o.horizontalFlip;
const intensityOff = (o: AugmentationOptions) => !o.brightness && !o.contrast && !o.gamma;

export function isAugmentationOff(o: AugmentationOptions): boolean {
  return geometricOff(o) && intensityOff(o);
}

const symmetric = (rand: () => number) => (max: number) => (max === 0 ? 0 : (2 * rand() - 1) * max);

export function sampleAffine(o: AugmentationOptions, size: number, rand: () => number): AffineParams {
  const sym = symmetric(rand);
  return {
    angle: (sym(o.rotation) * Math.PI) / 180,
    scale: 1 + sym(o.zoom),
    shiftX: sym(o.shift) * size,
    shiftY: sym(o.shift) * size,
    flip: o.horizontalFlip && rand() < 0.5,
  };
}

export function sampleIntensity(o: AugmentationOptions, rand: () => number): IntensityParams {
  const sym = symmetric(rand);
  return {
    gamma: Math.exp(sym(Math.log1p(o.gamma ?? 0))),
    contrast: 1 + sym(o.contrast ?? 0),
    brightness: sym(o.brightness ?? 0),
  };
}

/**
 * The batch's random changes, drawn in a fixed order (every image's geometry, then every image's
 * intensity); undefined when every option is off.
 */
export function planAugmentation(opts: AugmentationOptions, count: number, size: number, rand: () => number): AugmentationPlan | undefined {
  if (isAugmentationOff(opts)) return undefined;
  const geometric = geometricOff(opts) ? undefined : Array.from({ length: count }, () => sampleAffine(opts, size, rand));
  const intensity = intensityOff(opts) ? undefined : Array.from({ length: count }, () => sampleIntensity(opts, rand));
  return { ...(geometric ? { geometric } : {}), ...(intensity ? { intensity } : {}) };
}

/** Warps [n, size, size, 1] by one affine transform per image (warpPixels). */
export function warpImages(x: tf.Tensor4D, params: readonly AffineParams[]): tf.Tensor4D {
  const [n, size] = x.shape;
  return tf.tensor4d(warpPixels(x.dataSync(), n, size, params), [n, size, size, 1]);
}

/** Per-image gamma, contrast and brightness on [n, size, size, 1] in 0..255 (adjustPixels). */
export function adjustIntensity(x: tf.Tensor4D, params: readonly IntensityParams[]): tf.Tensor4D {
  const [n, size] = x.shape;
  return tf.tensor4d(adjustPixels(Float32Array.from(x.dataSync()), n, size, params), [n, size, size, 1]);
}

/**
 * Augments a batch [n, size, size, 1] of grey images in pixel units (0..255), one random
 * change per image drawn from `rand` (planAugmentation). Returns the input tensor itself when every
 * option is off (the caller owns it either way; a new tensor otherwise).
 */
export function augmentImages(x: tf.Tensor4D, opts: AugmentationOptions, rand: () => number): tf.Tensor4D {
  const [n, size] = x.shape;
  const plan = planAugmentation(opts, n, size, rand);
  if (!plan) return x;
  return tf.tensor4d(augmentPixels(x.dataSync() as Float32Array, n, size, plan), [n, size, size, 1]);
}
