/** Raw sample arrays the codecs hand to the pixel pipeline: unsigned bit patterns, one per pixel. */
import { endianness } from 'node:os';
import { AppError } from '../../../errors.ts';
import type { ImagePixel } from '../image-pixel.ts';

export type Samples = Uint8Array | Uint16Array;

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** Little-endian bytes (1 or 2 per sample) as samples, copied so no view outlives its source. */
export function samplesFromBytes(bytes: Uint8Array, bytesPerSample: 1 | 2, count: number): Samples {
  if (bytes.length < count * bytesPerSample) {
    throw new AppError('IMAGE_TRUNCATED', `pixel data holds ${bytes.length} bytes; the image needs ${count * bytesPerSample}`);
  }
  if (bytesPerSample === 1) return bytes.slice(0, count);
  if (LITTLE_ENDIAN_HOST && bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, count).slice();
  const out = new Uint16Array(count);
  for (let i = 0, j = 0; i < count; i++, j += 2) out[i] = bytes[j]! | (bytes[j + 1]! << 8);
  return out;
}

/** A codec's output must have exactly the size the header declared. */
export function checkDecodedSize(
  label: string,
  got: { width: number; height: number; components: number },
  image: ImagePixel,
): void {
  if (got.width !== image.columns || got.height !== image.rows || got.components !== 1) {
    throw new AppError(
      'IMAGE_CORRUPT',
      `${label} codestream is ${got.width}x${got.height} with ${got.components} component(s); ` +
        `the data set declares ${image.columns}x${image.rows} greyscale ((0028,0011) Columns x (0028,0010) Rows)`,
    );
  }
}
