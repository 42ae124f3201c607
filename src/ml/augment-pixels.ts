/**
 * Augmentation on plain pixel arrays, free of TensorFlow.js: the training loop runs it on each
 * batch's bytes before they become a tensor, and the tensor wrappers in augment.ts (stress tests)
 * share it: one implementation of each transform.
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

/** What one batch gets: one geometric and/or one intensity change per image; absent = none. */
export interface AugmentationPlan {
  readonly geometric?: readonly AffineParams[];
  readonly intensity?: readonly IntensityParams[];
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

/**
 * Bilinear affine warp of `count` grey images (row-major, size x size each) into a new array:
 * output pixel (x, y) samples the input at (a0 x + a1 y + a2, b0 x + b1 y + b2) from
 * affineMatrix, coordinates clamped to the image (edge pixels repeat), as TensorFlow's
 * ImageProjectiveTransformV3 with bilinear interpolation and fill mode 'nearest' (tested against
 * it). A plain loop stepping the source point by (a0, b0) along each row: ~4x faster than that op
 * on 256x256 batches, which evaluates the full projection per pixel.
 */
export function warpPixels(src: ArrayLike<number>, count: number, size: number, params: readonly AffineParams[]): Float32Array {
  return warp(src, count, size, params, undefined);
}

/**
 * warpPixels, with one 256-entry table per image that 8-bit pixels are read through (an exact
 * intensity change inside the warp's reads). 8-bit and float images each have their own kernel
 * (warpBytes, warpFloats): V8 compiles a function for the element types it has seen, and the
 * shared kernel that read either, with or without a table, ran 1.2-1.7x slower.
 */
function warp(
  src: ArrayLike<number>,
  count: number,
  size: number,
  params: readonly AffineParams[],
  tables: readonly Float32Array[] | undefined,
  sums?: Float64Array,
): Float32Array {
  if (params.length !== count) throw new RangeError(`need one transform per image (${count}), got ${params.length}`);
  const area = size * size;
  if (src.length < count * area) throw new RangeError(`expected ${count * area} pixels, got ${src.length}`);
  const out = new Float32Array(count * area);
  const bytes = src instanceof Uint8Array ? src : undefined;
  const floats = bytes ? undefined : src instanceof Float32Array ? src : Float32Array.from(src);
  for (let i = 0; i < count; i++) {
    const m = affineMatrix(params[i]!, size);
    const [sum, squares] = bytes ? warpBytes(bytes, tables?.[i] ?? IDENTITY_TABLE, out, i * area, size, m) : warpFloats(floats!, out, i * area, size, m);
    if (sums) {
      sums[2 * i] = sum;
      sums[2 * i + 1] = squares;
    }
  }
  return out;
}

/** grey level -> itself: the table of an 8-bit warp without an intensity change. */
const IDENTITY_TABLE = Float32Array.from({ length: 256 }, (_, v) => v);

/**
 * One 8-bit image (at `base` in src and out) warped by m, every pixel read through `lut`; returns
 * the sum and the sum of squares of the values written (float64), for standardizePixels.
 * Rows split into the columns whose four neighbours all lie inside the image (a pixel of margin
 * against rounding: no clamping there) and the clamped rest.
 */
function warpBytes(src: Uint8Array, lut: Float32Array, out: Float32Array, base: number, size: number, m: readonly number[]): [number, number] {
  const [a0, a1, a2, b0, b1, b2] = m as [number, number, number, number, number, number];
  const last = size - 1;
  let sum = 0;
  let squares = 0;
  for (let y = 0; y < size; y++) {
    const sx0 = a1 * y + a2;
    const sy0 = b1 * y + b2;
    const row = base + y * size;
    const [xa, xb] = inside(sx0, a0, sy0, b0, last, size);
    let sx = sx0 + a0 * xa;
    let sy = sy0 + b0 * xa;
    for (let x = xa; x <= xb; x++, sx += a0, sy += b0) {
      const x0 = sx | 0;
      const y0 = sy | 0;
      const ax = sx - x0;
      const ay = sy - y0;
      const r = base + y0 * size + x0;
      const p00 = lut[src[r]!]!;
      const p01 = lut[src[r + 1]!]!;
      const p10 = lut[src[r + size]!]!;
      const p11 = lut[src[r + size + 1]!]!;
      const top = p00 + ax * (p01 - p00);
      const v = Math.fround(top + ay * (p10 + ax * (p11 - p10) - top));
      out[row + x] = v;
      sum += v;
      squares += v * v;
    }
    for (let x = 0; x < size; x++) {
      if (x >= xa && x <= xb) {
        x = xb; // the interior is done
        continue;
      }
      const c = clampedCorners(sx0 + a0 * x, sy0 + b0 * x, base, size);
      const p00 = lut[src[c.i00]!]!;
      const p01 = lut[src[c.i01]!]!;
      const p10 = lut[src[c.i10]!]!;
      const p11 = lut[src[c.i11]!]!;
      const top = p00 + c.ax * (p01 - p00);
      const v = Math.fround(top + c.ay * (p10 + c.ax * (p11 - p10) - top));
      out[row + x] = v;
      sum += v;
      squares += v * v;
    }
  }
  return [sum, squares];
}

/** warpBytes for float pixels, without a table. */
function warpFloats(src: Float32Array, out: Float32Array, base: number, size: number, m: readonly number[]): [number, number] {
  const [a0, a1, a2, b0, b1, b2] = m as [number, number, number, number, number, number];
  const last = size - 1;
  let sum = 0;
  let squares = 0;
  for (let y = 0; y < size; y++) {
    const sx0 = a1 * y + a2;
    const sy0 = b1 * y + b2;
    const row = base + y * size;
    const [xa, xb] = inside(sx0, a0, sy0, b0, last, size);
    let sx = sx0 + a0 * xa;
    let sy = sy0 + b0 * xa;
    for (let x = xa; x <= xb; x++, sx += a0, sy += b0) {
      const x0 = sx | 0;
      const y0 = sy | 0;
      const ax = sx - x0;
      const ay = sy - y0;
      const r = base + y0 * size + x0;
      const p00 = src[r]!;
      const p01 = src[r + 1]!;
      const p10 = src[r + size]!;
      const p11 = src[r + size + 1]!;
      const top = p00 + ax * (p01 - p00);
      const v = Math.fround(top + ay * (p10 + ax * (p11 - p10) - top));
      out[row + x] = v;
      sum += v;
      squares += v * v;
    }
    for (let x = 0; x < size; x++) {
      if (x >= xa && x <= xb) {
        x = xb; // the interior is done
        continue;
      }
      const c = clampedCorners(sx0 + a0 * x, sy0 + b0 * x, base, size);
      const p00 = src[c.i00]!;
      const p01 = src[c.i01]!;
      const p10 = src[c.i10]!;
      const p11 = src[c.i11]!;
      const top = p00 + c.ax * (p01 - p00);
      const v = Math.fround(top + c.ay * (p10 + c.ax * (p11 - p10) - top));
      out[row + x] = v;
      sum += v;
      squares += v * v;
    }
  }
  return [sum, squares];
}

/** The columns [xa, xb] of a row where 1 <= sx0 + a0 x <= last - 2 and the same for sy; xa > xb when none. */
function inside(sx0: number, a0: number, sy0: number, b0: number, last: number, size: number): [number, number] {
  let lo = 0;
  let hi = size - 1;
  for (const [p0, step] of [
    [sx0, a0],
    [sy0, b0],
  ] as const) {
    if (step === 0) {
      if (!(p0 >= 1 && p0 <= last - 2)) return [size, size - 1];
      continue;
    }
    const t1 = (1 - p0) / step;
    const t2 = (last - 2 - p0) / step;
    lo = Math.max(lo, Math.ceil(Math.min(t1, t2)));
    hi = Math.min(hi, Math.floor(Math.max(t1, t2)));
  }
  return lo <= hi ? [lo, hi] : [size, size - 1];
}

/** The four source indices and the fractions of a point clamped to the image (edge pixels repeat). */
function clampedCorners(sx: number, sy: number, base: number, size: number) {
  const last = size - 1;
  const cx = sx < 0 ? 0 : sx > last ? last : sx;
  const cy = sy < 0 ? 0 : sy > last ? last : sy;
  const x0 = cx | 0; // floor: cx >= 0
  const y0 = cy | 0;
  const x1 = x0 < last ? x0 + 1 : x0; // at the last column ax is 0
  const r0 = base + y0 * size;
  const r1 = y0 < last ? r0 + size : r0;
  return { i00: r0 + x0, i01: r0 + x1, i10: r1 + x0, i11: r1 + x1, ax: cx - x0, ay: cy - y0 };
}

/** Table steps per grey level for float pixels: exact at whole grey levels, within 0.05 of one in between. */
const STEPS = 8;

/** The intensity curve of one image at v = t / steps for t = 0 .. 255 * steps, plus a repeat of the last entry. */
function intensityTable(p: IntensityParams, steps: number): Float64Array {
  const top = 255 * steps;
  const table = new Float64Array(top + 2);
  for (let t = 0; t <= top; t++) {
    const v = 255 * (p.contrast * (Math.pow(t / top, p.gamma) - 0.5) + 0.5 + p.brightness);
    table[t] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  table[top + 1] = table[top]!; // read with weight 0 at v = 255
  return table;
}

/**
 * Per-image gamma, contrast and brightness in place on `count` images in pixel units (0..255):
 * v -> 255 * clip(contrast * ((v / 255)^gamma - 0.5) + 0.5 + brightness, 0, 1). Through a table of
 * that curve per image, every 1/8 grey level, read with linear interpolation: exact at whole grey
 * levels, within 0.05 of a grey level in between, and ~30x faster than a Math.pow per pixel.
 * Values outside 0..255 are clamped first.
 * Per-image standardisation undoes any linear change: contrast and brightness act only through
 * the clipping at black and white; gamma changes the image's tonal shape.
 */
export function adjustPixels(px: Float32Array, count: number, size: number, params: readonly IntensityParams[]): Float32Array {
  if (params.length !== count) throw new RangeError(`need one intensity change per image (${count}), got ${params.length}`);
  const area = size * size;
  if (px.length < count * area) throw new RangeError(`expected ${count * area} pixels, got ${px.length}`);
  for (let i = 0; i < count; i++) {
    const table = intensityTable(params[i]!, STEPS);
    const end = (i + 1) * area;
    for (let k = i * area; k < end; k++) {
      const v = px[k]!;
      const at = (v < 0 ? 0 : v > 255 ? 255 : v) * STEPS;
      const t = at | 0;
      const lo = table[t]!;
      px[k] = lo + (at - t) * (table[t + 1]! - lo);
    }
  }
  return px;
}

/** 8-bit pixels through one table per image (exact intensity changes), into new floats. */
function lookUp(px: Uint8Array, count: number, size: number, tables: readonly Float32Array[]): Float32Array {
  const area = size * size;
  const out = new Float32Array(count * area);
  for (let i = 0; i < count; i++) {
    const table = tables[i]!;
    const end = (i + 1) * area;
    for (let k = i * area; k < end; k++) out[k] = table[px[k]!]!;
  }
  return out;
}

/**
 * The batch's pixels as floats (0..255) with the plan applied: intensity first, then the warp. On
 * 8-bit pixels the intensity change is an exact table lookup inside the warp's reads. When `sums`
 * is given (2 * count values), each image's sum and sum of squares of the returned values go
 * there, the moments standardizePixels would otherwise take a pass for: the warp adds them up as
 * it writes; a plan without a warp sums its result after.
 */
export function augmentPixels(
  pixels: Uint8Array | Float32Array,
  count: number,
  size: number,
  plan: AugmentationPlan,
  sums?: Float64Array,
): Float32Array {
  const n = count * size * size;
  if (pixels.length < n) throw new RangeError(`expected ${n} pixels, got ${pixels.length}`);
  if (sums && sums.length < 2 * count) throw new RangeError(`sums needs ${2 * count} values, got ${sums.length}`);
  if (plan.intensity && plan.intensity.length !== count) {
    throw new RangeError(`need one intensity change per image (${count}), got ${plan.intensity.length}`);
  }
  const tables = pixels instanceof Uint8Array ? plan.intensity?.map((p) => Float32Array.from(intensityTable(p, 1).subarray(0, 256))) : undefined;
  if (plan.geometric) {
    const px = tables || !plan.intensity ? pixels : adjustPixels(Float32Array.from(pixels.subarray(0, n)), count, size, plan.intensity);
    return warp(px, count, size, plan.geometric, tables, sums);
  }
  const out = tables
    ? lookUp(pixels as Uint8Array, count, size, tables)
    : plan.intensity
      ? adjustPixels(Float32Array.from(pixels.subarray(0, n)), count, size, plan.intensity)
      : Float32Array.from(pixels.subarray(0, n));
  if (sums) sumImages(out, count, size * size, sums);
  return out;
}

/** Each image's sum and sum of squares (float64) into sums[2i], sums[2i + 1]. */
function sumImages(values: Float32Array, count: number, area: number, sums: Float64Array): void {
  for (let i = 0; i < count; i++) {
    let sum = 0;
    let squares = 0;
    for (let k = i * area; k < (i + 1) * area; k++) {
      const v = values[k]!;
      sum += v;
      squares += v * v;
    }
    sums[2 * i] = sum;
    sums[2 * i + 1] = squares;
  }
}
