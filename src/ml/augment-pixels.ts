/**
 * Augmentation on plain pixel arrays, free of TensorFlow.js: the training loop runs it on each
 * batch's bytes before they become a tensor, and the tensor wrappers in augment.ts (stress tests)
 * share it: one implementation of each transform.
 */
import { WARP_WASM_BASE64 } from './warp-wasm.ts';

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
 * it). The kernel is WebAssembly SIMD (warp.wat), four pixels at a time.
 */
export function warpPixels(src: ArrayLike<number>, count: number, size: number, params: readonly AffineParams[]): Float32Array {
  return warp(src, count, size, params, undefined);
}

/**
 * warpPixels, with one 256-entry table per image that 8-bit pixels are read through (an exact
 * intensity change: the table is applied as the image is copied into the kernel's memory).
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
  const k = kernelFor(size);
  for (let i = 0; i < count; i++) {
    const m = affineMatrix(params[i]!, size);
    const base = i * area;
    if (bytes) {
      loadThroughTable(k, bytes, base, tables?.[i] ?? IDENTITY_TABLE);
    } else {
      k.src.set(floats!.subarray(base, base + area));
    }
    runKernel(k, m);
    out.set(k.out, base);
    if (sums) {
      sums[2 * i] = k.sums[0]!;
      sums[2 * i + 1] = k.sums[1]!;
    }
  }
  return out;
}

/** The 8-bit image at `base` in bytes, read through `table`, into k.src as floats (the module's lookUp). */
function loadThroughTable(k: WarpKernel, bytes: Uint8Array, base: number, table: Float32Array): void {
  const area = k.size * k.size;
  k.lut.set(table);
  k.bytes.set(bytes.subarray(base, base + area));
  k.lookUp(k.bytesAt, area, k.lutAt, k.srcAt);
}

/** grey level -> itself: the table of an 8-bit warp without an intensity change. */
const IDENTITY_TABLE = Float32Array.from({ length: 256 }, (_, v) => v);

type WarpFunction = (
  src: number,
  out: number,
  size: number,
  frac: number,
  dx1: number,
  dx2: number,
  dx3: number,
  dx4: number,
  dy1: number,
  dy2: number,
  dy3: number,
  dy4: number,
  ex: number,
  ey: number,
  x0: number,
  xPerRow: number,
  y0: number,
  yPerRow: number,
  sums: number,
) => void;

type LookUpFunction = (bytes: number, count: number, lut: number, dst: number) => void;

/** The kernel's memory laid out for one image of `size`: views on it and their byte addresses. */
interface WarpKernel {
  warp: WarpFunction;
  lookUp: LookUpFunction;
  size: number;
  lutAt: number;
  sumsAt: number;
  bytesAt: number;
  srcAt: number;
  outAt: number;
  /** An 8-bit image's table (256 floats). */
  lut: Float32Array;
  /** An 8-bit image, which lookUp turns into floats at src. */
  bytes: Uint8Array;
  /** The image (size * size floats); the size + 4 floats after it stay finite (read with weight 0). */
  src: Float32Array;
  out: Float32Array;
  sums: Float64Array;
}

let instance: { memory: WebAssembly.Memory; warp: WarpFunction; lookUp: LookUpFunction } | undefined;
let kernel: WarpKernel | undefined;

/**
 * The warp module, instantiated once per process, with its memory sized for one image (it holds
 * one image in and one out at a time, so a batch costs no more memory than its largest image).
 */
function kernelFor(size: number): WarpKernel {
  instance ??= (() => {
    const bytes = Uint8Array.from(atob(WARP_WASM_BASE64), (c) => c.charCodeAt(0));
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
    return { memory: exports.memory as WebAssembly.Memory, warp: exports.warp as WarpFunction, lookUp: exports.lookUp as LookUpFunction };
  })();
  const { memory } = instance;
  if (kernel && kernel.size === size && kernel.src.buffer === memory.buffer) return kernel;
  const area = size * size;
  const align = (n: number) => Math.ceil(n / 16) * 16;
  const lutAt = 0;
  const sumsAt = lutAt + 4 * 256;
  const bytesAt = align(sumsAt + 16);
  // lookUp reads up to 3 bytes past the image and writes up to 3 floats past it (into the padding)
  const srcAt = align(bytesAt + area + 4);
  const outAt = align(srcAt + 4 * (area + size + 4));
  const need = outAt + 4 * area + 16;
  if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
  new Uint8Array(memory.buffer, 0, need).fill(0);
  kernel = {
    ...instance,
    size,
    lutAt,
    sumsAt,
    bytesAt,
    srcAt,
    outAt,
    lut: new Float32Array(memory.buffer, lutAt, 256),
    bytes: new Uint8Array(memory.buffer, bytesAt, area),
    src: new Float32Array(memory.buffer, srcAt, area),
    out: new Float32Array(memory.buffer, outAt, area),
    sums: new Float64Array(memory.buffer, sumsAt, 2),
  };
  return kernel;
}

/**
 * Warps the image in k.src by m into k.out (warp.wat): coordinates in fixed point with as many
 * fraction bits as keep every one the kernel computes (columns 0 .. size + 3, the last vector's
 * lanes past the row included) below 2^30 in magnitude: 22 for the sizes and transforms training
 * uses. Each step is rounded on its own and the 4-pixel step's rounding is carried along the row
 * (ex, ey), so a coordinate is off by about 2^-frac px (2.4e-7 px at 22 bits).
 */
function runKernel(k: WarpKernel, m: readonly number[]): void {
  const [a0, a1, a2, b0, b1, b2] = m as [number, number, number, number, number, number];
  const size = k.size;
  let bound = 1;
  for (const x of [0, size + 3]) {
    for (const y of [0, size - 1]) bound = Math.max(bound, Math.abs(a0 * x + a1 * y + a2) + 1, Math.abs(b0 * x + b1 * y + b2) + 1);
  }
  if (!Number.isFinite(bound) || bound >= 2 ** 20) {
    throw new RangeError(`the transform maps pixels ${bound} px away; the warp handles up to 2^20 px`);
  }
  let frac = 22;
  while (bound * 2 ** frac >= 2 ** 30) frac--;
  const one = 2 ** frac;
  const dx = (n: number) => Math.round(a0 * n * one);
  const dy = (n: number) => Math.round(b0 * n * one);
  // what rounding the 4-pixel steps left out, in 2^-16 of the fixed-point unit
  const ex = Math.round((a0 * 4 * one - dx(4)) * 65536);
  const ey = Math.round((b0 * 4 * one - dy(4)) * 65536);
  k.warp(k.srcAt, k.outAt, size, frac, dx(1), dx(2), dx(3), dx(4), dy(1), dy(2), dy(3), dy(4), ex, ey, a2 * one, a1 * one, b2 * one, b1 * one, k.sumsAt);
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

/** 8-bit pixels through one table per image (exact intensity changes), into new floats: the warp's lookup without the warp. */
function lookUp(px: Uint8Array, count: number, size: number, tables: readonly Float32Array[]): Float32Array {
  const area = size * size;
  const out = new Float32Array(count * area);
  const k = kernelFor(size);
  for (let i = 0; i < count; i++) {
    loadThroughTable(k, px, i * area, tables[i]!);
    out.set(k.src, i * area);
  }
  return out;
}

/**
 * The batch's pixels as floats (0..255) with the plan applied: intensity first, then the warp. On
 * 8-bit pixels the intensity change is an exact table lookup as each image enters the warp kernel. When `sums`
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
