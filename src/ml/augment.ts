import type { AugmentationOptions } from './types.ts';

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

export function isAugmentationOff(o: AugmentationOptions): boolean {
  return o.rotation === 0 && o.zoom === 0 && o.shift === 0 && !o.horizontalFlip;
}

export function sampleAffine(o: AugmentationOptions, size: number, rand: () => number): AffineParams {
  const sym = (max: number) => (max === 0 ? 0 : (2 * rand() - 1) * max);
  return {
    angle: (sym(o.rotation) * Math.PI) / 180,
    scale: 1 + sym(o.zoom),
    shiftX: sym(o.shift) * size,
    shiftY: sym(o.shift) * size,
    flip: o.horizontalFlip && rand() < 0.5,
  };
}

function mirror(src: Uint8Array, size: number, out: Uint8Array): void {
  for (let y = 0; y < size; y++) {
    const row = y * size;
    const last = row + size - 1;
    for (let x = 0; x < size; x++) out[row + x] = src[last - x]!;
  }
}

/** [first, end) of the x in [0, size) with s0 + d * x in [0, hi], shrunk by one on each side. */
function within(s0: number, d: number, hi: number, size: number): [number, number] {
  if (Math.abs(d) < 1e-12) return s0 >= 0 && s0 <= hi ? [1, size - 1] : [0, 0];
  const t1 = -s0 / d;
  const t2 = (hi - s0) / d;
  return [Math.ceil(Math.min(t1, t2)) + 1, Math.floor(Math.max(t1, t2))];
}

function sampleClamped(src: Uint8Array, size: number, sx: number, sy: number): number {
  const max = size - 1;
  const cx = sx < 0 ? 0 : sx > max ? max : sx;
  const cy = sy < 0 ? 0 : sy > max ? max : sy;
  const x0 = cx | 0;
  const y0 = cy | 0;
  const fx = cx - x0;
  const i = y0 * size + x0;
  const right = x0 < max ? 1 : 0;
  const down = y0 < max ? size : 0;
  const top = src[i]! + fx * (src[i + right]! - src[i]!);
  const bottom = src[i + down]! + fx * (src[i + down + right]! - src[i + down]!);
  return (top + (cy - y0) * (bottom - top) + 0.5) | 0;
}

/**
 * Warps one size x size grey image by inverse mapping with bilinear sampling; samples outside
 * the image take the nearest edge pixel.
 */
export function warpImage(
  src: Uint8Array,
  size: number,
  p: AffineParams,
  out: Uint8Array = new Uint8Array(size * size),
): Uint8Array {
  const rotates = p.angle !== 0 || p.scale !== 1 || p.shiftX !== 0 || p.shiftY !== 0;
  if (!rotates) {
    if (p.flip) mirror(src, size, out);
    else out.set(src.subarray(0, size * size));
    return out;
  }
  const c = (size - 1) / 2;
  const f = p.flip ? -1 : 1;
  const cos = Math.cos(p.angle) / p.scale;
  const sin = Math.sin(p.angle) / p.scale;
  // Source coordinates are affine in the output's x along a row: s = s0 + d * x.
  const dx = f * cos;
  const dy = -sin;
  const u0 = -c - p.shiftX;
  const max = size - 1;
  for (let y = 0; y < size; y++) {
    const v = y - c - p.shiftY;
    const sx0 = c + f * (cos * u0 + sin * v);
    const sy0 = c + (-sin * u0 + cos * v);
    const row = y * size;
    // Interior run: both neighbours inside the image, so no clamping (shrunk by a pixel for rounding).
    const [ax, bx] = within(sx0, dx, max - 1, size);
    const [ay, by] = within(sy0, dy, max - 1, size);
    const a = Math.min(Math.max(ax, ay, 0), size);
    const b = Math.max(Math.min(bx, by, size), a);
    for (let x = 0; x < a; x++) out[row + x] = sampleClamped(src, size, sx0 + dx * x, sy0 + dy * x);
    for (let x = a; x < b; x++) {
      const sx = sx0 + dx * x;
      const sy = sy0 + dy * x;
      const x0 = sx | 0;
      const y0 = sy | 0;
      const fx = sx - x0;
      const i = y0 * size + x0;
      const p00 = src[i]!;
      const p10 = src[i + size]!;
      const top = p00 + fx * (src[i + 1]! - p00);
      const bottom = p10 + fx * (src[i + size + 1]! - p10);
      out[row + x] = (top + (sy - y0) * (bottom - top) + 0.5) | 0;
    }
    for (let x = b; x < size; x++) out[row + x] = sampleClamped(src, size, sx0 + dx * x, sy0 + dy * x);
  }
  return out;
}

/**
 * Augments a batch of grey uint8 images (count * size * size bytes), one random transform per
 * image drawn from `rand`. Returns the input itself when every option is off.
 */
export function augmentBatch(
  pixels: Uint8Array,
  count: number,
  size: number,
  opts: AugmentationOptions,
  rand: () => number,
): Uint8Array {
  if (isAugmentationOff(opts)) return pixels;
  const n = size * size;
  const out = new Uint8Array(count * n);
  for (let k = 0; k < count; k++) {
    warpImage(pixels.subarray(k * n, (k + 1) * n), size, sampleAffine(opts, size, rand), out.subarray(k * n, (k + 1) * n));
  }
  return out;
}
