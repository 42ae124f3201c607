import sharp from 'sharp';
import { AppError, isAppError } from '../errors.ts';
import { describeUnsupported, looksTruncated, readHeader, sniffFormat, type ImageFormat } from './image-header.ts';

// A server decodes many small images at once: parallelism comes from concurrent decodes (the
// dataset import pool, concurrent requests), not from several libvips threads per image.
// The operation cache only helps when the same file is processed repeatedly.
sharp.cache(false);
sharp.concurrency(1);

export const DEFAULT_MAX_PIXELS = 100_000_000;
const MAX_OUTPUT_SIZE = 4096;

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

/**
 * Decodes a PNG or JPEG into size*size grey uint8 pixels, row-major: EXIF orientation applied,
 * alpha flattened on black, one channel, resized to exactly size x size ignoring aspect.
 * The header is checked before any pixel is decoded, so oversized images cost nothing.
 */
export async function decodeXray(
  bytes: Uint8Array,
  size: number,
  limits?: { maxPixels?: number },
): Promise<Uint8Array> {
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
  const header = readHeader(bytes, format);
  if (header.kind === 'ok') checkDimensions(header.width, header.height, maxPixels);

  const input = { failOn: 'error', limitInputPixels: maxPixels } as const;
  try {
    const meta = await sharp(bytes, input).metadata();
    checkDimensions(meta.width ?? 0, meta.height ?? 0, maxPixels);
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
