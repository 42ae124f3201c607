/** Dimensions declared by a JPEG-family or JPEG 2000 codestream, read without decoding it. */

export interface StreamHeader {
  width: number;
  height: number;
  components: number;
  precision: number;
  /** JPEG start-of-frame marker (0xc0..0xcf, 0xf7 for JPEG-LS); 0 for JPEG 2000. */
  marker: number;
}

const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number): number => u16(b, at) * 0x10000 + u16(b, at + 2);

/** JPEG, JPEG lossless and JPEG-LS: walks marker segments to the first start-of-frame. */
export function jpegFrameHeader(b: Uint8Array): StreamHeader | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let at = 2;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) return undefined;
    const marker = b[at + 1]!;
    if (marker === 0xff) {
      at += 1;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      at += 2;
      continue;
    }
    const length = u16(b, at + 2);
    if (length < 2) return undefined;
    const sof = (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) || marker === 0xf7;
    if (sof) {
      if (at + 10 > b.length) return undefined;
      return { precision: b[at + 4]!, height: u16(b, at + 5), width: u16(b, at + 7), components: b[at + 9]!, marker };
    }
    at += 2 + length;
  }
  return undefined;
}

/** JPEG 2000 codestream: SOC then the SIZ segment (ISO 15444-1 A.5.1). */
export function j2kSize(b: Uint8Array): StreamHeader | undefined {
  if (b.length < 42 || u16(b, 0) !== 0xff4f || u16(b, 2) !== 0xff51) return undefined;
  const width = u32(b, 8) - u32(b, 16);
  const height = u32(b, 12) - u32(b, 20);
  const components = u16(b, 40);
  if (b.length < 43) return undefined;
  const precision = (b[42]! & 0x7f) + 1;
  return { width, height, components, precision, marker: 0 };
}

/** The codestream inside a JP2 file ('jp2c' box), for writers that encapsulate JP2 instead of J2K. */
export function j2kCodestream(b: Uint8Array): Uint8Array {
  if (b.length < 12 || u32(b, 0) !== 12 || u32(b, 4) !== 0x6a502020) return b;
  let at = 0;
  while (at + 8 <= b.length) {
    let size = u32(b, at);
    const type = u32(b, at + 4);
    let head = 8;
    if (size === 1 && at + 16 <= b.length) {
      size = u32(b, at + 8) * 2 ** 32 + u32(b, at + 12);
      head = 16;
    }
    if (type === 0x6a703263) return b.subarray(at + head, size === 0 ? b.length : Math.min(b.length, at + size));
    if (size < head) return b;
    at += size;
  }
  return b;
}
