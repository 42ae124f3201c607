import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  adjustIntensity,
  adjustPixels,
  augmentPixels,
  affineMatrix,
  augmentImages,
  planAugmentation,
  sampleIntensity,
  warpImages,
  warpPixels,
  type AffineParams,
} from '../../../src/ml/augment.ts';
import { initEngine } from '../../../src/ml/engine.ts';
import { createRng } from '../../../src/ml/random.ts';
import { NO_AUGMENTATION } from '../../../src/ml/types.ts';
import { syntheticXray } from '../../helpers/synthetic-xray.ts';

const S = 64;
const IDENTITY: AffineParams = { angle: 0, scale: 1, shiftX: 0, shiftY: 0, flip: false };

beforeAll(async () => {
  const engine = await initEngine();
  expect(engine.name).toBe('tensorflow');
});

function randomImage(seed: number, size = S): Uint8Array {
  const rand = createRng(seed);
  return Uint8Array.from({ length: size * size }, () => Math.floor(rand() * 256));
}

function mirrored(img: ArrayLike<number>, size = S): number[] {
  const out: number[] = [];
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) out.push(img[y * size + size - 1 - x]!);
  return out;
}

function batchOf(imgs: readonly Uint8Array[], size = S): tf.Tensor4D {
  const px = new Float32Array(imgs.length * size * size);
  imgs.forEach((img, i) => px.set(img, i * size * size));
  return tf.tensor4d(px, [imgs.length, size, size, 1]);
}

function warpOne(img: Uint8Array, p: AffineParams, size = S): Float32Array {
  return tf.tidy(() => warpImages(batchOf([img], size), [p]).dataSync() as Float32Array);
}

/** Direct per-pixel bilinear reference of output = centre + shift + scale * rotate(flip(input) - centre), edges clamped. */
function reference(img: Uint8Array, p: AffineParams, size = S): Float64Array {
  const out = new Float64Array(size * size);
  const c = (size - 1) / 2;
  const clamp = (v: number) => Math.min(Math.max(v, 0), size - 1);
  const at = (x: number, y: number) => img[y * size + x]!;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x - c - p.shiftX;
      const v = y - c - p.shiftY;
      const fx = (Math.cos(p.angle) * u + Math.sin(p.angle) * v) / p.scale;
      const sx = clamp(c + (p.flip ? -fx : fx));
      const sy = clamp(c + (-Math.sin(p.angle) * u + Math.cos(p.angle) * v) / p.scale);
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = Math.min(x0 + 1, size - 1);
      const y1 = Math.min(y0 + 1, size - 1);
      const ax = sx - x0;
      const ay = sy - y0;
      out[y * size + x] = (1 - ay) * ((1 - ax) * at(x0, y0) + ax * at(x1, y0)) + ay * ((1 - ax) * at(x0, y1) + ax * at(x1, y1));
    }
  }
  return out;
}

/** TensorFlow's own ImageProjectiveTransformV3 (bilinear, fill 'nearest'), called by name: the reference warpPixels must equal. */
function tensorflowWarp(x: tf.Tensor4D, params: readonly AffineParams[]): Float32Array {
  const backend = tf.backend() as unknown as {
    executeSingleOutput(name: string, attrs: unknown[], inputs: tf.Tensor[]): tf.Tensor;
    binding: { TF_ATTR_TYPE: number; TF_ATTR_STRING: number; TF_FLOAT: number };
  };
  const b = backend.binding;
  return tf.tidy(() =>
    backend
      .executeSingleOutput(
        'ImageProjectiveTransformV3',
        [
          { name: 'dtype', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
          { name: 'interpolation', type: b.TF_ATTR_STRING, value: 'BILINEAR' },
          { name: 'fill_mode', type: b.TF_ATTR_STRING, value: 'NEAREST' },
        ],
        [
          x,
          tf.tensor2d(params.flatMap((p) => affineMatrix(p, x.shape[1])), [params.length, 8]),
          tf.tensor1d([x.shape[1], x.shape[2]], 'int32'),
          tf.scalar(0),
        ],
      )
      .dataSync() as Float32Array,
  );
}

/** Random rotations, zooms, shifts and flips; the first zooms out to 0.3, the second shifts by up to 2 image widths. */
function randomTransforms(count: number, size: number, rand: () => number): AffineParams[] {
  return Array.from({ length: count }, (_, i) => ({
    angle: (rand() - 0.5) * 2,
    scale: i === 0 ? 0.3 : 0.6 + rand() * 0.9,
    shiftX: (rand() - 0.5) * (i === 1 ? 4 * size : 30),
    shiftY: (rand() - 0.5) * 30,
    flip: rand() < 0.5,
  }));
}

describe('warpImages (bilinear affine warp, one matrix per image)', () => {
  it("equals TensorFlow's ImageProjectiveTransformV3 for random transforms, including far outside the image", () => {
    const rand = createRng(13);
    for (const size of [S, 37, 256, 512]) {
      const imgs = Array.from({ length: 6 }, (_, i) => randomImage(40 + i, size));
      const params = randomTransforms(imgs.length, size, rand);
      const x = batchOf(imgs, size);
      const want = tensorflowWarp(x, params);
      const got = warpPixels(x.dataSync(), imgs.length, size, params);
      let worst = 0;
      for (let k = 0; k < want.length; k++) worst = Math.max(worst, Math.abs(got[k]! - want[k]!));
      // TensorFlow projects in float32 (coordinates off by ~1e-5 px at 256, more at the far-outside
      // points of 512, times up to 255 grey levels per px between random neighbours), the kernel in
      // fixed point with its rounding carried along the row: measured 0.016 at most at 256x256 and
      // 0.039 at 512x512 (0.059 before the carry)
      expect(worst, `size ${size}`).toBeLessThan(0.05);
      x.dispose();
    }
  });

  it('gives the same floats for 8-bit pixels as for the same values as floats (looked up in the kernel, or copied in)', () => {
    const rand = createRng(17);
    const size = 37;
    const bytes = new Uint8Array(5 * size * size);
    for (let i = 0; i < 5; i++) bytes.set(randomImage(80 + i, size), i * size * size);
    const params: AffineParams[] = Array.from({ length: 5 }, (_, i) => ({
      angle: (rand() - 0.5) * 2,
      scale: 0.5 + rand(),
      shiftX: (rand() - 0.5) * (i === 0 ? 3 * size : 20),
      shiftY: (rand() - 0.5) * 20,
      flip: i % 2 === 0,
    }));
    expect(Array.from(warpPixels(bytes, 5, size, params))).toEqual(Array.from(warpPixels(Float32Array.from(bytes), 5, size, params)));
    expect(Array.from(warpPixels(Array.from(bytes), 5, size, params))).toEqual(Array.from(warpPixels(bytes, 5, size, params)));
  });

  it('refuses a transform count or pixel count that does not fit the batch', () => {
    expect(() => warpPixels(new Uint8Array(2 * 16), 2, 4, [IDENTITY])).toThrow(RangeError);
    expect(() => warpPixels(new Uint8Array(15), 1, 4, [IDENTITY])).toThrow(RangeError);
  });

  it('the identity matrix leaves images unchanged; flip is the exact mirror', () => {
    const img = randomImage(2);
    expect(Array.from(warpOne(img, IDENTITY))).toEqual(Array.from(img));
    expect(Array.from(warpOne(img, { ...IDENTITY, flip: true }))).toEqual(mirrored(img));
  });

  it('a whole-pixel shift moves pixels and repeats the edge', () => {
    const img = randomImage(4);
    const out = warpOne(img, { ...IDENTITY, shiftX: 1 });
    for (let y = 0; y < S; y++) {
      expect(out[y * S]).toBe(img[y * S]);
      for (let x = 1; x < S; x++) expect(out[y * S + x]).toBe(img[y * S + x - 1]);
    }
  });

  it('is within 2e-3 of a grey level of the float64 bilinear formula, at sizes that are and are not multiples of 4, far-outside transforms included', () => {
    const rand = createRng(11);
    for (const size of [1, 5, 37, S, 512]) {
      const imgs = Array.from({ length: 6 }, (_, i) => randomImage(20 + i, size));
      const params = randomTransforms(imgs.length, size, rand);
      const out = tf.tidy(() => warpImages(batchOf(imgs, size), params).dataSync());
      let worst = 0;
      imgs.forEach((img, i) => {
        const want = reference(img, params[i]!, size);
        for (let k = 0; k < size * size; k++) worst = Math.max(worst, Math.abs(out[i * size * size + k]! - want[k]!));
      });
      // fixed-point coordinates (rounding carried along each row) and float32 interpolation:
      // measured 7.5e-4 at most (512x512, the 0.3 zoom-out)
      expect(worst, `size ${size}`).toBeLessThan(2e-3);
    }
  });

  it('refuses a transform that maps pixels more than 2^20 px away instead of wrapping its coordinates', () => {
    expect(() => warpPixels(randomImage(3), 1, S, [{ ...IDENTITY, scale: 1e-5 }])).toThrow(/2\^20/);
    expect(() => warpPixels(randomImage(3), 1, S, [{ ...IDENTITY, shiftX: Number.NaN }])).toThrow(RangeError);
    // 2^19 px to the right: every output pixel samples left of the image, its row's first pixel
    const img = randomImage(3);
    const far = warpPixels(img, 1, S, [{ ...IDENTITY, shiftX: 2 ** 19 }]);
    expect(Array.from(far)).toEqual(Array.from({ length: S * S }, (_, k) => img[k - (k % S)]));
  });

  it('affineMatrix maps the centre to itself under pure rotation and zoom', () => {
    const [a0, a1, a2, b0, b1, b2] = affineMatrix({ angle: 0.3, scale: 1.2, shiftX: 0, shiftY: 0, flip: false }, S);
    const c = (S - 1) / 2;
    expect(a0! * c + a1! * c + a2!).toBeCloseTo(c, 9);
    expect(b0! * c + b1! * c + b2!).toBeCloseTo(c, 9);
  });
});

describe('adjustIntensity', () => {
  it('equals 255 * clip(contrast * ((x / 255)^gamma - 0.5) + 0.5 + brightness, 0, 1), black and white included', () => {
    const img = randomImage(8);
    img[0] = 0;
    img[1] = 255;
    const params = [
      { gamma: 0.7, contrast: 1.1, brightness: 0.05 },
      { gamma: 1.25, contrast: 0.9, brightness: -0.08 },
    ];
    const out = tf.tidy(() => adjustIntensity(batchOf([img, img]), params).dataSync());
    let worst = 0;
    params.forEach((p, i) => {
      img.forEach((v, k) => {
        const want = 255 * Math.min(1, Math.max(0, p.contrast * (Math.pow(v / 255, p.gamma) - 0.5) + 0.5 + p.brightness));
        worst = Math.max(worst, Math.abs(out[i * S * S + k]! - want));
      });
    });
    expect(worst).toBeLessThan(1e-3);
  });

  it('identity parameters change nothing; gamma < 1 brightens mid-tones; results stay in 0..255', () => {
    const img = randomImage(7);
    const x = batchOf([img, img, img]);
    const out = tf.tidy(() =>
      adjustIntensity(x, [
        { gamma: 1, contrast: 1, brightness: 0 },
        { gamma: 0.5, contrast: 1, brightness: 0 },
        { gamma: 1, contrast: 3, brightness: 0.4 },
      ]).dataSync(),
    );
    const n = S * S;
    for (let k = 0; k < n; k++) expect(out[k]).toBeCloseTo(img[k]!, 3);
    for (let k = 0; k < n; k++) if (img[k]! > 0 && img[k]! < 255) expect(out[n + k]!).toBeGreaterThan(img[k]!);
    for (const v of out) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(255);
    }
    x.dispose();
  });

  it('stays within 0.05 of a grey level of the formula between whole grey levels (warped pixels)', () => {
    const rand = createRng(12);
    const px = Float32Array.from({ length: S * S }, (_, k) => (k === 0 ? 0 : k === 1 ? 255 : k === 2 ? 0.01 : rand() * 255));
    const params = [{ gamma: 1 / 1.2, contrast: 0.9, brightness: 0.1 }];
    const out = adjustPixels(Float32Array.from(px), 1, S, params);
    let worst = 0;
    px.forEach((v, k) => {
      const p = params[0]!;
      const want = 255 * Math.min(1, Math.max(0, p.contrast * (Math.pow(v / 255, p.gamma) - 0.5) + 0.5 + p.brightness));
      worst = Math.max(worst, Math.abs(out[k]! - want));
    });
    expect(worst).toBeLessThan(0.05);
  });

  it('samples gamma log-uniformly within [1/(1+g), 1+g]', () => {
    const rand = createRng(5);
    for (let i = 0; i < 200; i++) {
      const p = sampleIntensity({ ...NO_AUGMENTATION, gamma: 0.3, contrast: 0.2, brightness: 0.1 }, rand);
      expect(p.gamma).toBeGreaterThanOrEqual(1 / 1.3 - 1e-12);
      expect(p.gamma).toBeLessThanOrEqual(1.3 + 1e-12);
      expect(Math.abs(p.contrast - 1)).toBeLessThanOrEqual(0.2);
      expect(Math.abs(p.brightness)).toBeLessThanOrEqual(0.1);
    }
  });
});

describe('augmentImages', () => {
  it('returns the input itself when every option is off', () => {
    const x = batchOf([randomImage(1)]);
    expect(augmentImages(x, NO_AUGMENTATION, createRng(1))).toBe(x);
    x.dispose();
  });

  it('flip only: every image is itself or its exact mirror, both occur', () => {
    const imgs = Array.from({ length: 20 }, (_, i) => randomImage(i + 10));
    const x = batchOf(imgs);
    const out = tf.tidy(() => augmentImages(x, { ...NO_AUGMENTATION, horizontalFlip: true }, createRng(3)).dataSync());
    let flipped = 0;
    imgs.forEach((img, i) => {
      const got = Array.from(out.subarray(i * S * S, (i + 1) * S * S));
      if (got.every((v, k) => v === mirrored(img)[k])) flipped++;
      else expect(got).toEqual(Array.from(img));
    });
    expect(flipped).toBeGreaterThan(0);
    expect(flipped).toBeLessThan(imgs.length);
    x.dispose();
  });

  it('is deterministic for a seed, changes the images and stays within the input range (geometric only)', () => {
    const img = syntheticXray(S, true, 5);
    const x = batchOf(Array.from({ length: 8 }, () => img));
    const opts = { rotation: 15, zoom: 0.15, shift: 0.1, horizontalFlip: true };
    const a = tf.tidy(() => augmentImages(x, opts, createRng(9)).dataSync());
    const b = tf.tidy(() => augmentImages(x, opts, createRng(9)).dataSync());
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(x.dataSync()));
    const lo = Math.min(...img);
    const hi = Math.max(...img);
    for (const v of a) {
      expect(v).toBeGreaterThanOrEqual(lo - 1e-3);
      expect(v).toBeLessThanOrEqual(hi + 1e-3);
    }
    x.dispose();
  });

  it('on 8-bit pixels (the training path) equals intensity on floats, then the warp', () => {
    const imgs = Array.from({ length: 4 }, (_, i) => randomImage(60 + i));
    const bytes = new Uint8Array(4 * S * S);
    imgs.forEach((img, i) => bytes.set(img, i * S * S));
    const rand = createRng(21);
    const plan = {
      geometric: imgs.map(() => ({ angle: rand() - 0.5, scale: 0.9 + rand() * 0.2, shiftX: rand() * 6 - 3, shiftY: rand() * 6 - 3, flip: rand() < 0.5 })),
      intensity: imgs.map(() => sampleIntensity({ ...NO_AUGMENTATION, gamma: 0.2, contrast: 0.1, brightness: 0.1 }, rand)),
    };
    const got = augmentPixels(bytes, 4, S, plan);
    const want = warpPixels(adjustPixels(Float32Array.from(bytes), 4, S, plan.intensity), 4, S, plan.geometric);
    let worst = 0;
    for (let k = 0; k < want.length; k++) worst = Math.max(worst, Math.abs(got[k]! - want[k]!));
    expect(worst).toBeLessThan(1e-3);
    expect(Array.from(augmentPixels(bytes, 4, S, { intensity: plan.intensity }))).toEqual(Array.from(adjustPixels(Float32Array.from(bytes), 4, S, plan.intensity)));
    expect(() => augmentPixels(bytes, 4, S, { intensity: plan.intensity.slice(1) })).toThrow(RangeError);
  });

  it("fills each image's sum and sum of squares of what it returns, when asked, for every kind of plan and sizes that are not multiples of 4 (the moments for standardisation)", () => {
    const rand = createRng(5);
    const opts = { ...NO_AUGMENTATION, rotation: 20, zoom: 0.2, shift: 0.2, horizontalFlip: true, gamma: 0.2, contrast: 0.1, brightness: 0.1 };
    for (const size of [S, 37, 5, 1]) {
      const area = size * size;
      const bytes = new Uint8Array(3 * area);
      for (let i = 0; i < 3; i++) bytes.set(randomImage(90 + i, size), i * area);
      for (const input of [bytes, Float32Array.from(bytes)]) {
        for (const recipe of [opts, { ...opts, gamma: 0, contrast: 0, brightness: 0 }, { ...opts, rotation: 0, zoom: 0, shift: 0, horizontalFlip: false }]) {
          const plan = planAugmentation(recipe, 3, size, rand)!;
          const sums = new Float64Array(6).fill(NaN);
          const out = augmentPixels(input, 3, size, plan, sums);
          expect(Array.from(out)).toEqual(Array.from(augmentPixels(input, 3, size, plan)));
          for (let i = 0; i < 3; i++) {
            let sum = 0;
            let squares = 0;
            for (let k = i * area; k < (i + 1) * area; k++) {
              sum += out[k]!;
              squares += out[k]! * out[k]!;
            }
            expect(Math.abs(sums[2 * i]! - sum), `size ${size}`).toBeLessThanOrEqual(1e-9 * sum);
            expect(Math.abs(sums[2 * i + 1]! - squares), `size ${size}`).toBeLessThanOrEqual(1e-9 * squares);
          }
        }
      }
    }
    expect(() => augmentPixels(new Uint8Array(3 * S * S), 3, S, planAugmentation(opts, 3, S, rand)!, new Float64Array(5))).toThrow(RangeError);
  });

  it('leaks no tensors', () => {
    const x = batchOf([randomImage(1), randomImage(2)]);
    const before = tf.memory().numTensors;
    const opts = { rotation: 10, zoom: 0.1, shift: 0.1, horizontalFlip: true, brightness: 0.1, contrast: 0.1, gamma: 0.2 };
    augmentImages(x, opts, createRng(1)).dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
