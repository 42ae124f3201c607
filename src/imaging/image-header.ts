/** Format sniffing and dimensions read from the first bytes of a file, without decoding pixels. */

export type ImageFormat = 'png' | 'jpeg';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(bytes: Uint8Array, prefix: readonly number[], at = 0): boolean {
  if (bytes.length < at + prefix.length) return false;
  return prefix.every((b, i) => bytes[at + i] === b);
}

function ascii(bytes: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(at, at + length));
}

export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (startsWith(bytes, PNG_SIGNATURE)) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  return undefined;
}

/** A human name for common formats we refuse, so error messages can say what was sent. */
export function describeUnsupported(bytes: Uint8Array): string {
  if (ascii(bytes, 0, 4) === 'GIF8') return 'GIF';
  if (ascii(bytes, 0, 2) === 'BM') return 'BMP';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'TIFF';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return 'WebP';
  if (ascii(bytes, 4, 4) === 'ftyp') return 'HEIF/AVIF';
  if (ascii(bytes, 128, 4) === 'DICM') return 'DICOM';
  if (ascii(bytes, 0, 5) === '%PDF-') return 'PDF';
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) return 'ZIP';
  return 'unknown';
}

export interface Dimensions {
  width: number;
  height: number;
}

/** 'short': the bytes end before the header does; 'unreadable': not laid out as expected. */
export type HeaderRead = ({ kind: 'ok' } & Dimensions) | { kind: 'short' } | { kind: 'unreadable' };

function readU32BE(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function readU16BE(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

/** PNG: the IHDR chunk must come first, right after the signature. */
function pngHeader(b: Uint8Array): HeaderRead {
  if (b.length < 24) return { kind: 'short' };
  if (ascii(b, 12, 4) !== 'IHDR') return { kind: 'unreadable' };
  return { kind: 'ok', width: readU32BE(b, 16), height: readU32BE(b, 20) };
}

const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** JPEG: walk the marker segments up to the first start-of-frame. */
function jpegHeader(b: Uint8Array): HeaderRead {
  let at = 2;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) return { kind: 'unreadable' };
    const marker = b[at + 1]!;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // markers without a length
      continue;
    }
    const length = readU16BE(b, at + 2);
    if (length < 2) return { kind: 'unreadable' };
    if (SOF_MARKERS.has(marker)) {
      if (at + 9 > b.length) return { kind: 'short' };
      return { kind: 'ok', height: readU16BE(b, at + 5), width: readU16BE(b, at + 7) };
    }
    at += 2 + length;
  }
  return { kind: 'short' };
}

/** Dimensions declared in the header, read without decoding anything. */
export function readHeader(bytes: Uint8Array, format: ImageFormat): HeaderRead {
  return format === 'png' ? pngHeader(bytes) : jpegHeader(bytes);
}

/** True when the file visibly stops before its end marker (PNG IEND chunk, JPEG EOI). */
export function looksTruncated(bytes: Uint8Array, format: ImageFormat): boolean {
  if (format === 'png') {
    const iend = [0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82];
    return !startsWith(bytes, iend, bytes.length - 8);
  }
  // Some encoders append bytes after EOI; look for it near the end only.
  const tail = bytes.subarray(Math.max(0, bytes.length - 1024));
  for (let i = tail.length - 2; i >= 0; i--) {
    if (tail[i] === 0xff && tail[i + 1] === 0xd9) return false;
  }
  return true;
}
