import * as tf from '@tensorflow/tfjs';
import type { AugmentationOptions } from './types.ts';

/**
 * Training-time augmentation as a few batch tensor ops: one projective-transform op warps the
 * whole batch (a random affine matrix per image: rotation, zoom, shift, horizontal flip; bilinear,
 * samples outside the image take the nearest edge pixel), then per-image gamma, contrast and
 * brightness are broadcast element-wise ops. Random draws come from the caller's seeded JS
 * generator, so a seed reproduces the batch.
 */

/** One image's transform: output = centre + shift + scale * rotate(flip(input) - centre). */
export interface AffineParams {
  /** Radians, counter-clockwise as seen with y pointing down. */
  readonly angle: number;
  /** > 1 zooms in. */
  readonly scale: number;
  /** Pixels. */
  readonly shiftX: number;
  readonly shiftY: number;
  readonly flip: boolean;
}

export interface IntensityParams {
  /** Exponent applied to the 0..1 intensity. */
  readonly gamma: number;
  /** Factor about mid-grey. */
  readonly contrast: number;
  /** Added, as a fraction of full scale. */
  readonly brightness: number;
}

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
 * The 8 projective-transform coefficients [a0 a1 a2 b0 b1 b2 c0 c1] that map an output pixel
 * (x, y) to the input point it samples: (a0 x + a1 y + a2, b0 x + b1 y + b2); pixel centres at
 * integer coordinates, centre of rotation (size - 1) / 2.
 */
export function affineMatrix(p: AffineParams, size: number): number[] {
  const c = (size - 1) / 2;
  const f = p.flip ? -1 : 1;
  const cos = Math.cos(p.angle) / p.scale;
  const sin = Math.sin(p.angle) / p.scale;
  const u0 = -c - p.shiftX;
  const v0 = -c - p.shiftY;
  return [f * cos, f * sin, c + f * (cos * u0 + sin * v0), -sin, cos, c + (-sin * u0 + cos * v0), 0, 0];
}

interface NodeBackend {
  executeSingleOutput(name: string, attrs: unknown[], inputs: tf.Tensor[]): tf.Tensor;
  binding: { TF_ATTR_TYPE: number; TF_ATTR_STRING: number; TF_FLOAT: number };
}

let transformKernelChecked = false;

/**
 * tfjs-node 4.22 has no kernel for tf.image.transform; libtensorflow has the op
 * (ImageProjectiveTransformV3). Registers it for the tensorflow backend once; wasm has its own.
 */
function ensureTransformKernel(): void {
  if (transformKernelChecked) return;
  transformKernelChecked = true;
  if (tf.getBackend() !== 'tensorflow' || tf.getKernel('Transform', 'tensorflow')) return;
  tf.registerKernel({
    kernelName: 'Transform',
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const b = backend as unknown as NodeBackend;
      const { image, transforms } = inputs as { image: tf.Tensor4D; transforms: tf.Tensor2D };
      const a = attrs as unknown as { interpolation: string; fillMode: string; fillValue: number; outputShape?: [number, number] };
      const shape = tf.tensor1d(a.outputShape ?? [image.shape[1], image.shape[2]], 'int32');
      const fill = tf.scalar(a.fillValue, 'float32');
      try {
        return b.executeSingleOutput(
          'ImageProjectiveTransformV3',
          [
            { name: 'dtype', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT },
            { name: 'interpolation', type: b.binding.TF_ATTR_STRING, value: a.interpolation.toUpperCase() },
            { name: 'fill_mode', type: b.binding.TF_ATTR_STRING, value: a.fillMode.toUpperCase() },
          ],
          [image, transforms, shape, fill],
        ) as unknown as tf.TensorInfo;
      } finally {
        shape.dispose();
        fill.dispose();
      }
    },
  });
}

/** Warps [n, size, size, 1] by one affine transform per image in a single op. */
export function warpImages(x: tf.Tensor4D, params: readonly AffineParams[]): tf.Tensor4D {
  if (params.length !== x.shape[0]) throw new RangeError(`need one transform per image (${x.shape[0]}), got ${params.length}`);
  ensureTransformKernel();
  const size = x.shape[1];
  return tf.tidy(() => {
    const m = tf.tensor2d(params.flatMap((p) => affineMatrix(p, size)), [params.length, 8]);
    return tf.image.transform(x, m, 'bilinear', 'nearest');
  });
}

/**
 * Per-image gamma, contrast and brightness on [n, size, size, 1] in 0..255 (values must not be
 * negative): y = 255 * clip(contrast * (v^gamma - 0.5) + 0.5 + brightness, 0, 1) with v = x / 255,
 * as one multiply-add per image over the whole batch (gamma adds one pow).
 * Note that per-image standardisation undoes any linear change: contrast and brightness act
 * only through the clipping at black and white; gamma changes the image's tonal shape.
 */
export function adjustIntensity(x: tf.Tensor4D, params: readonly IntensityParams[]): tf.Tensor4D {
  const n = x.shape[0];
  if (params.length !== n) throw new RangeError(`need one intensity change per image (${n}), got ${params.length}`);
  return tf.tidy(() => {
    const col = (f: (p: IntensityParams) => number) => tf.tensor4d(params.map(f), [n, 1, 1, 1]);
    const gamma = params.some((p) => p.gamma !== 1);
    // (x / 255)^g = x^g * 255^-g: the division folds into the per-image gain, so gamma costs one pow.
    // x >= 0 always (pixels, and the warp interpolates them with non-negative weights).
    const v = gamma ? tf.pow(x, col((p) => p.gamma)) : x;
    const gain = col((p) => p.contrast * (gamma ? 255 * Math.pow(255, -p.gamma) : 1));
    const offset = col((p) => 255 * (0.5 + p.brightness - 0.5 * p.contrast));
    return tf.clipByValue(tf.add(tf.mul(v, gain), offset), 0, 255) as tf.Tensor4D;
  });
}

/**
 * Augments a batch [n, size, size, 1] of grey images in pixel units (0..255), one random
 * transform per image drawn from `rand`. Returns the input tensor itself when every option is off
 * (the caller owns it either way; a new tensor otherwise).
 */
export function augmentImages(x: tf.Tensor4D, opts: AugmentationOptions, rand: () => number): tf.Tensor4D {
  if (isAugmentationOff(opts)) return x;
  const n = x.shape[0];
  const size = x.shape[1];
  const geometric = geometricOff(opts) ? undefined : Array.from({ length: n }, () => sampleAffine(opts, size, rand));
  const intensity = intensityOff(opts) ? undefined : Array.from({ length: n }, () => sampleIntensity(opts, rand));
  return tf.tidy(() => {
    let y = geometric ? warpImages(x, geometric) : x;
    if (intensity) y = adjustIntensity(y, intensity);
    return y;
  });
}
