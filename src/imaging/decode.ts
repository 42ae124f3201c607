import sharp, { type Metadata } from 'sharp';
import { AppError, isAppError } from '../errors.ts';
import {
  checkDecodeCost,
  DECODE_BUDGET_BYTES,
  DECODE_CONCURRENCY,
  DecodeGate,
  DEFAULT_MAX_DECODE_BYTES,
  type DecodeActivity,
} from './decode-budget.ts';
import {
  describeUnsupported,
  looksTruncated,
  readHeader,
  sniffFormat,
  type ImageFormat,
  type ImageShape,
} from './image-header.ts';

// A server decodes many small images at once: parallelism comes from concurrent decodes (as many
// as the gate below lets run), not from several libvips threads per image.
// The operation cache only helps when the same file is processed repeatedly.
sharp.cache(false);
sharp.concurrency(1);

export const DEFAULT_MAX_PIXELS = 100_000_000;
const MAX_OUTPUT_SIZE = 4096;

/** Every decode of this process waits its turn here, so no number of requests or images adds up past the budget. */
const gate = new DecodeGate(DECODE_CONCURRENCY, DECODE_BUDGET_BYTES);

/** Decodes running and waiting in this process, and the peaks so far. */
export function decodeActivity(): DecodeActivity {
  return gate.snapshot();
}

export interface DecodeLimits {
  /** Largest width x height accepted; default DEFAULT_MAX_PIXELS. */
  maxPixels?: number;
  /** Most memory one decode may take (estimated from the header); default DEFAULT_MAX_DECODE_BYTES. */
  maxDecodeBytes?: number;
}

/** How every image is turned into model input, training and serving alike; goes into model metadata. */
export const PREPROCESSING = Object.freeze({
  formats: Object.freeze(['png', 'jpeg'] as const),
  orientation: 'exif' as const,
  /** Transparent pixels count as black (X-ray background is dark). */
  alpha: 'flatten-on-black' as const,
  colour: 'grey' as const,
  resize: 'fill' as const,
  kernel: 'lanczos3' as const,
  pixels: 'uint8' as const,
  standardisation: 'per-image' as const,
  decoder: 'sharp' as const,
});

export type Preprocessing = typeof PREPROCESSING;

function megapixels(pixels: number): string {
  return `${(pixels / 1e6).toFixed(1)} megapixels`;
}

function checkDimensions(width: number, height: number, maxPixels: number): void {
  if (width === 0 || height === 0) {
    throw new AppError('IMAGE_ZERO_SIZE', `image has a zero-pixel side (${width}x${height})`);
  }
  if (width * height > maxPixels) {
    throw new AppError(
      'IMAGE_TOO_LARGE',
      `image is ${width}x${height} (${megapixels(width * height)}); the limit is ${megapixels(maxPixels)}`,
    );
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim().replace(/:$/, '');
}

/** Turns whatever sharp/libvips threw into a typed error with the reason. */
function decodeError(err: unknown, bytes: Uint8Array, format: ImageFormat, maxPixels: number): AppError {
  if (isAppError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  const name = format.toUpperCase();
  if (/pixel limit/i.test(message)) {
    return new AppError('IMAGE_TOO_LARGE', `image exceeds ${megapixels(maxPixels)}`, undefined, { cause: err });
  }
  const header = readHeader(bytes, format);
  // A header that ends early means truncation; one that is malformed means corruption, whatever
  // the decoder says (libjpeg reports garbage as a premature end, having found no frame in it).
  const truncated =
    header.kind === 'short' ||
    (header.kind === 'ok' &&
      (/premature end|truncat|unexpected end/i.test(message) ||
        (!/corrupt header/i.test(message) && looksTruncated(bytes, format))));
  if (truncated) {
    return new AppError('IMAGE_TRUNCATED', `${name} image is truncated (${firstLine(message)})`, undefined, {
      cause: err,
    });
  }
  return new AppError('IMAGE_CORRUPT', `${name} image is corrupt (${firstLine(message)})`, undefined, { cause: err });
}

/** The shape libvips reports, for files whose header this module could not read itself. */
function shapeOf(meta: Metadata, format: ImageFormat): ImageShape {
  const channels = Math.max(1, meta.channels ?? 4);
  return {
    width: meta.width ?? 0,
    height: meta.height ?? 0,
    channels,
    bytesPerSample: meta.depth === 'uchar' || meta.depth === 'char' ? 1 : 2,
    layered: meta.isProgressive ?? true,
    description: `${meta.isProgressive ? 'progressive ' : ''}${format.toUpperCase()}`,
  };
}

/**
 * Decodes a PNG or JPEG into size*size grey uint8 pixels, row-major: EXIF orientation applied,
 * alpha flattened on black, one channel, resized to exactly size x size ignoring aspect.
 * The header is checked before any pixel is decoded (dimensions, and the memory the decode would
 * take), so oversized or costly images cost nothing; decodes then wait for a turn at the
 * process-wide gate (decode-budget.ts).
 */
export async function decodeXray(bytes: Uint8Array, size: number, limits?: DecodeLimits): Promise<Uint8Array> {
  if (!Number.isInteger(size) || size < 1 || size > MAX_OUTPUT_SIZE) {
    throw new AppError('INTERNAL', `decodeXray: size must be an integer in 1..${MAX_OUTPUT_SIZE}, got ${size}`);
  }
  const maxPixels = limits?.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (bytes.length === 0) throw new AppError('IMAGE_EMPTY', 'image is empty (0 bytes)');
  const format = sniffFormat(bytes);
  if (!format) {
    const kind = describeUnsupported(bytes);
    const seen = kind === 'unknown' ? '' : ` (looks like ${kind})`;
    throw new AppError('UNSUPPORTED_IMAGE_FORMAT', `not a PNG or JPEG image${seen}`);
  }
  const maxDecodeBytes = limits?.maxDecodeBytes ?? DEFAULT_MAX_DECODE_BYTES;
  const header = readHeader(bytes, format);
  let cost: number | undefined;
  if (header.kind === 'ok') {
    checkDimensions(header.width, header.height, maxPixels);
    cost = checkDecodeCost(header, format, size, maxDecodeBytes);
  }
  // A header this module cannot read reserves the most one decode may take until libvips has read it.
  return gate.run(cost ?? maxDecodeBytes, () => decodeNow(bytes, size, format, cost, maxPixels, maxDecodeBytes));
}

async function decodeNow(
  bytes: Uint8Array,
  size: number,
  format: ImageFormat,
  cost: number | undefined,
  maxPixels: number,
  maxDecodeBytes: number,
): Promise<Uint8Array> {
  const input = { failOn: 'error', limitInputPixels: maxPixels } as const;
  try {
    const meta = await sharp(bytes, input).metadata();
    checkDimensions(meta.width ?? 0, meta.height ?? 0, maxPixels);
    if (cost === undefined) checkDecodeCost(shapeOf(meta, format), format, size, maxDecodeBytes);
    const { data, info } = await sharp(bytes, input)
      .rotate()
      .flatten({ background: '#000000' })
      .toColourspace('b-w')
      .resize(size, size, { fit: 'fill' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.width !== size || info.height !== size) {
      throw new AppError('INTERNAL', `decodeXray: got ${info.width}x${info.height}, wanted ${size}x${size}`);
    }
    const pixels = new Uint8Array(size * size);
    if (info.channels === 1) {
      pixels.set(data);
    } else {
      for (let i = 0; i < pixels.length; i++) pixels[i] = data[i * info.channels]!;
    }
    return pixels;
  } catch (err) {
    throw decodeError(err, bytes, format, maxPixels);
  }
}
