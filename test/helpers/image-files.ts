/** Generated X-ray-like pictures (synthetic-xray.ts) encoded as PNG/JPEG in various flavours, and costly images. */
import zlib from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { syntheticXray } from './synthetic-xray.ts';

export type Encoding = 'png' | 'jpeg' | 'png-rgb' | 'jpeg-rgb' | 'png-rgba' | 'png-16';

export interface EncodeOptions {
  /** EXIF orientation tag (1-8) written into the file; pixels are stored as given. */
  orientation?: number;
  /** Alpha for png-rgba (0 = fully transparent); default 255. */
  alpha?: number;
  /** Non-square pictures: pixels are width*height. */
  width?: number;
  height?: number;
}

/** Encodes grey pixels (size*size, or width*height) as a file of the given encoding. */
export async function encodeGrey(
  grey: Uint8Array,
  size: number,
  encoding: Encoding = 'png',
  opts: EncodeOptions = {},
): Promise<Buffer> {
  const width = opts.width ?? size;
  const height = opts.height ?? size;
  const n = width * height;
  let image: Sharp;
  if (encoding === 'png-16') {
    const wide = new Uint16Array(n);
    for (let i = 0; i < n; i++) wide[i] = grey[i]! * 257;
    image = sharp(wide, { raw: { width, height, channels: 1 } }).toColourspace('grey16');
  } else if (encoding === 'png-rgb' || encoding === 'jpeg-rgb' || encoding === 'png-rgba') {
    const channels = encoding === 'png-rgba' ? 4 : 3;
    const data = Buffer.alloc(n * channels);
    for (let i = 0; i < n; i++) {
      data.fill(grey[i]!, i * channels, i * channels + 3);
      if (channels === 4) data[i * 4 + 3] = opts.alpha ?? 255;
    }
    image = sharp(data, { raw: { width, height, channels } });
  } else {
    image = sharp(Buffer.from(grey.buffer, grey.byteOffset, n), { raw: { width, height, channels: 1 } });
  }
  image = encoding.startsWith('png') ? image.png() : image.jpeg({ quality: 95 });
  if (opts.orientation !== undefined) image = image.withMetadata({ orientation: opts.orientation });
  return image.toBuffer();
}

/** One synthetic X-ray file; the same (seed, positive) always gives the same bytes. */
export function xrayFile(seed: number, positive: boolean, size = 32, encoding: Encoding = 'png'): Promise<Buffer> {
  return encodeGrey(syntheticXray(size, positive, seed), size, encoding);
}

// Costly images: small files that are expensive to decode (interlaced, progressive, very wide).

function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body) >>> 0);
  return Buffer.concat([length, body, crc]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 4: 2, 6: 4 };
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

export interface PngShape {
  /** 8 (default) or 16. */
  bitDepth?: 8 | 16;
  /** PNG colour type: 0 grey (default), 2 RGB, 4 grey+alpha, 6 RGBA. */
  colourType?: 0 | 2 | 4 | 6;
  interlaced?: boolean;
  /** A tEXt chunk, e.g. to make otherwise identical files differ. */
  text?: string;
}

function ihdr(width: number, height: number, shape: PngShape): Buffer {
  const data = Buffer.alloc(13);
  data.writeUInt32BE(width, 0);
  data.writeUInt32BE(height, 4);
  data[8] = shape.bitDepth ?? 8;
  data[9] = shape.colourType ?? 0;
  data[12] = shape.interlaced ? 1 : 0;
  return pngChunk('IHDR', data);
}

/** Bytes of the filtered scanlines (every pass of an interlaced image) before compression. */
function scanlineBytes(width: number, height: number, shape: PngShape): number {
  const bits = PNG_CHANNELS[shape.colourType ?? 0]! * (shape.bitDepth ?? 8);
  let total = 0;
  for (const [x0, y0, dx, dy] of shape.interlaced ? ADAM7 : ([[0, 0, 1, 1]] as const)) {
    const w = Math.ceil((width - x0) / dx);
    const h = Math.ceil((height - y0) / dy);
    if (w > 0 && h > 0) total += h * (1 + Math.ceil((w * bits) / 8));
  }
  return total;
}

/**
 * A complete, valid, all-black PNG of any size and shape, deflated from zeros in 4 MiB steps: a
 * 10000x10000 16-bit RGBA interlaced one is 0.78 MB on disk and 800 MB as pixels.
 */
export async function blankPng(width: number, height: number, shape: PngShape = {}): Promise<Buffer> {
  const deflate = zlib.createDeflate({ level: 9, memLevel: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((resolve, reject) => deflate.on('end', resolve).on('error', reject));
  const zeros = Buffer.alloc(1 << 22);
  for (let left = scanlineBytes(width, height, shape); left > 0; left -= zeros.length) {
    if (!deflate.write(left >= zeros.length ? zeros : zeros.subarray(0, left))) {
      await new Promise((resolve) => deflate.once('drain', resolve));
    }
  }
  deflate.end();
  await done;
  const text = shape.text === undefined ? [] : [pngChunk('tEXt', Buffer.from(`Comment\0${shape.text}`, 'latin1'))];
  return Buffer.concat([
    PNG_SIGNATURE,
    ihdr(width, height, shape),
    ...text,
    pngChunk('IDAT', Buffer.concat(out)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A PNG header claiming width x height in the given shape, then a few bytes of pixels and IEND. */
export function pngHeaderOnly(width: number, height: number, shape: PngShape = {}): Buffer {
  const text = shape.text === undefined ? [] : [pngChunk('tEXt', Buffer.from(`Comment\0${shape.text}`, 'latin1'))];
  return Buffer.concat([
    PNG_SIGNATURE,
    ihdr(width, height, shape),
    ...text,
    pngChunk('IDAT', zlib.deflateSync(Buffer.alloc(64))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A flat grey JPEG (sharp's encoder), progressive or baseline; 10000x10000 progressive is ~1.2 MB. */
export function flatJpeg(
  width: number,
  height: number,
  opts: { progressive?: boolean; grey?: boolean; chromaSubsampling?: '4:4:4' | '4:2:0' } = {},
): Promise<Buffer> {
  let image = sharp({ create: { width, height, channels: 3, background: { r: 40, g: 40, b: 40 } } });
  if (opts.grey) image = image.toColourspace('b-w');
  return image
    .jpeg({ progressive: opts.progressive ?? false, chromaSubsampling: opts.chromaSubsampling ?? '4:4:4', quality: 50 })
    .toBuffer();
}

/** The file with its JPEG start-of-frame dimensions replaced (the scan data stays as it was). */
export function withJpegDimensions(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let at = 2; at + 9 < out.length; ) {
    const marker = out[at + 1]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      out.writeUInt16BE(height, at + 5);
      out.writeUInt16BE(width, at + 7);
      return out;
    }
    at += 2 + out.readUInt16BE(at + 2);
  }
  throw new Error('no start-of-frame marker found');
}
