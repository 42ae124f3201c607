/** RLE Lossless (PS3.5 Annex G): a 64-byte header of segment offsets, one PackBits segment per byte plane. */
import { AppError } from '../../../errors.ts';
import type { ImagePixel } from '../image-pixel.ts';
import type { Samples } from './samples.ts';

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000;
}

/** PackBits into out; returns how many bytes were written (stops when out is full). */
function unpackSegment(src: Uint8Array, out: Uint8Array): number {
  let i = 0;
  let o = 0;
  while (i < src.length && o < out.length) {
    const n = src[i++]!;
    if (n < 128) {
      const len = Math.min(n + 1, out.length - o, src.length - i);
      out.set(src.subarray(i, i + len), o);
      i += n + 1;
      o += len;
    } else if (n > 128) {
      if (i >= src.length) break;
      const len = Math.min(257 - n, out.length - o);
      out.fill(src[i++]!, o, o + len);
      o += len;
    }
    // n === 128 (-128) is a no-op
  }
  return o;
}

export function decodeRle(frame: Uint8Array, image: ImagePixel): Samples {
  if (frame.length < 64) throw new AppError('IMAGE_TRUNCATED', `RLE frame is ${frame.length} bytes, shorter than its 64-byte header`);
  const planes = image.bitsAllocated / 8;
  const segments = u32(frame, 0);
  if (segments !== planes) {
    throw new AppError('IMAGE_CORRUPT', `RLE header has ${segments} segments; ${planes} expected for (0028,0100) BitsAllocated ${image.bitsAllocated}`);
  }
  const count = image.rows * image.columns;
  const planeBytes: Uint8Array[] = [];
  for (let s = 0; s < segments; s++) {
    const start = u32(frame, 4 + s * 4);
    const end = s + 1 < segments ? u32(frame, 8 + s * 4) : frame.length;
    if (start < 64 || end > frame.length || end < start) {
      throw new AppError('IMAGE_CORRUPT', `RLE segment ${s + 1} lies outside the frame (${start}..${end} of ${frame.length} bytes)`);
    }
    const plane = new Uint8Array(count);
    const written = unpackSegment(frame.subarray(start, end), plane);
    if (written < count) throw new AppError('IMAGE_TRUNCATED', `RLE segment ${s + 1} decodes to ${written} of ${count} bytes`);
    planeBytes.push(plane);
  }
  if (planes === 1) return planeBytes[0]!;
  // Segment 1 holds the most significant byte of every sample.
  const [hi, lo] = planeBytes as [Uint8Array, Uint8Array];
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = (hi[i]! << 8) | lo[i]!;
  return out;
}
