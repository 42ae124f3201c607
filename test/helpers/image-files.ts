/** Generated X-ray-like pictures (synthetic-xray.ts) encoded as PNG/JPEG files in various flavours. */
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
