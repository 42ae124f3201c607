/**
 * Composing a heat map with the X-ray it explains, in the image's own geometry (aspect and size,
 * capped): the grey picture to draw on (decoded again, for display only: the model's input still
 * comes from decode.ts alone), the map blended over it, and the map alone as an RGBA layer a
 * client can lay over the original at any opacity.
 */
import sharp, { type Sharp } from 'sharp';
import { AppError, isAppError } from '../errors.ts';
import { checkDecodeCost, DecodeGate, DEFAULT_MAX_DECODE_BYTES } from './decode-budget.ts';
import { readHeader, sniffFormat } from './image-header.ts';

/** Default cap on the long side of an overlay; the API's maxSide can ask for less or more. */
export const DEFAULT_OVERLAY_MAX_SIDE = 1024;
/** Largest long side an overlay may have. */
export const MAX_OVERLAY_SIDE = 2048;
/** Smallest long side asked for (the image itself may be smaller: it is never enlarged). */
export const MIN_OVERLAY_SIDE = 64;

/**
 * Decodes for display wait here, two at a time within one image's budget, beside decode.ts's gate
 * (explain takes one image per request, so this adds at most that budget to the process's).
 */
const displayGate = new DecodeGate(2, DEFAULT_MAX_DECODE_BYTES);

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** The 'jet' colour map: blue (0) -> cyan -> yellow -> red (1); channels in [0,1]. */
export function jet(t: number): [number, number, number] {
  const x = clamp01(t);
  return [
    clamp01(1.5 - Math.abs(4 * x - 3)),
    clamp01(1.5 - Math.abs(4 * x - 2)),
    clamp01(1.5 - Math.abs(4 * x - 1)),
  ];
}

export interface Size {
  readonly width: number;
  readonly height: number;
}

/** The image's size scaled down (never up) so its long side is at most maxSide; at least 1x1. */
export function overlaySize(width: number, height: number, maxSide: number): Size {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** The grey X-ray to draw a heat map on, at overlay size, and the size it had (EXIF orientation applied). */
export interface OverlayBase extends Size {
  /** width * height grey bytes, row-major. */
  readonly grey: Uint8Array;
  readonly source: Size;
}

async function greyAt(img: Sharp, size: Size): Promise<Uint8Array> {
  const { data, info } = await img
    .flatten({ background: '#000000' })
    .toColourspace('b-w')
    .resize(size.width, size.height, { fit: 'fill', kernel: 'lanczos3' })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.width !== size.width || info.height !== size.height) {
    throw new AppError('INTERNAL', `overlay base: got ${info.width}x${info.height}, wanted ${size.width}x${size.height}`);
  }
  if (info.channels === 1) return new Uint8Array(data.buffer, data.byteOffset, data.length);
  const grey = new Uint8Array(size.width * size.height);
  for (let i = 0; i < grey.length; i++) grey[i] = data[i * info.channels]!;
  return grey;
}

/**
 * The PNG or JPEG decoded again, grey, at overlay size (long side <= maxSide, aspect kept, EXIF
 * orientation applied as for the model's input). Call it after decode.ts accepted the same bytes
 * (size and cost limits); the display decode is costed and gated here too. Null for a format it
 * does not draw (e.g. DICOM: give its decoded pixels to overlayBaseFromGrey).
 */
export async function decodeOverlayBase(bytes: Uint8Array, maxSide: number, limits: { maxPixels: number }): Promise<OverlayBase | null> {
  const format = sniffFormat(bytes);
  if (!format) return null;
  const input = { failOn: 'error', limitInputPixels: limits.maxPixels } as const;
  const header = readHeader(bytes, format);
  // The display decode shrinks less than the model's (to maxSide, not the input size): cost it for its own size.
  const cost = header.kind === 'ok' ? checkDecodeCost(header, format, maxSide, DEFAULT_MAX_DECODE_BYTES) : DEFAULT_MAX_DECODE_BYTES;
  return displayGate.run(cost, async () => {
    try {
      const meta = await sharp(bytes, input).metadata();
      const source = { width: meta.autoOrient.width, height: meta.autoOrient.height };
      const size = overlaySize(source.width, source.height, maxSide);
      const grey = await greyAt(sharp(bytes, input).rotate(), size);
      return { grey, ...size, source };
    } catch (err) {
      if (isAppError(err)) throw err;
      // decode.ts read these bytes a moment ago: a failure now is ours, not the client's.
      throw new AppError('INTERNAL', `overlay base: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, undefined, { cause: err });
    }
  });
}

/** A grey image already decoded (width * height bytes, e.g. a DICOM frame), scaled to overlay size. */
export async function overlayBaseFromGrey(pixels: Uint8Array, width: number, height: number, maxSide: number): Promise<OverlayBase> {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || pixels.length !== width * height) {
    throw new AppError('INTERNAL', `overlayBaseFromGrey: ${pixels.length} bytes for ${width}x${height}`);
  }
  const size = overlaySize(width, height, maxSide);
  const grey =
    size.width === width && size.height === height
      ? pixels
      : await greyAt(sharp(pixels, { raw: { width, height, channels: 1 } }), size);
  return { grey, ...size, source: { width, height } };
}

function checkInputs(what: string, width: number, height: number, lengths: readonly number[]): void {
  const n = width * height;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || lengths.some((l) => l !== n)) {
    throw new AppError('INTERNAL', `${what}: need ${width}x${height} inputs, got ${lengths.join(' and ')} values`);
  }
}

/** Opacity of the heat layer at heat h in [0, 1]: proportional, so the faint tail leaves the X-ray readable. */
export function heatAlpha(h: number, maxAlpha: number): number {
  return maxAlpha * clamp01(h);
}

const DEFAULT_MAX_ALPHA = 0.75;

/**
 * PNG (RGB) of the grey X-ray with the jet heat map over it, both width x height (height defaults
 * to width): the heat layer (heatLayerPng) composited over the grey, so where there is no heat the
 * X-ray shows untouched, and the hottest point is `maxAlpha` colour.
 */
export async function heatmapOverlayPng(
  grey: Uint8Array,
  heat: Float32Array,
  width: number,
  height: number = width,
  opts?: { maxAlpha?: number },
): Promise<Buffer> {
  checkInputs('heatmapOverlayPng', width, height, [grey.length, heat.length]);
  const n = width * height;
  const maxAlpha = clamp01(opts?.maxAlpha ?? DEFAULT_MAX_ALPHA);
  const rgb = Buffer.alloc(n * 3);
  for (let i = 0; i < n; i++) {
    const h = Number.isFinite(heat[i]) ? clamp01(heat[i]!) : 0;
    const [r, g, b] = jet(h);
    const w = heatAlpha(h, maxAlpha);
    const base = grey[i]! * (1 - w);
    rgb[i * 3] = Math.round(base + 255 * r * w);
    rgb[i * 3 + 1] = Math.round(base + 255 * g * w);
    rgb[i * 3 + 2] = Math.round(base + 255 * b * w);
  }
  return sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/**
 * PNG (RGBA) of the heat map alone, width x height: jet colours, opacity heatAlpha (transparent
 * where there is no heat, `maxAlpha` where hottest), to lay over the original image at any
 * opacity. Over the grey X-ray it gives exactly heatmapOverlayPng.
 */
export async function heatLayerPng(heat: Float32Array, width: number, height: number, opts?: { maxAlpha?: number }): Promise<Buffer> {
  checkInputs('heatLayerPng', width, height, [heat.length]);
  const n = width * height;
  const maxAlpha = clamp01(opts?.maxAlpha ?? DEFAULT_MAX_ALPHA);
  const rgba = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) {
    const h = Number.isFinite(heat[i]) ? clamp01(heat[i]!) : 0;
    const [r, g, b] = jet(h);
    rgba[i * 4] = Math.round(255 * r);
    rgba[i * 4 + 1] = Math.round(255 * g);
    rgba[i * 4 + 2] = Math.round(255 * b);
    rgba[i * 4 + 3] = Math.round(255 * heatAlpha(h, maxAlpha));
  }
  return sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer();
}
