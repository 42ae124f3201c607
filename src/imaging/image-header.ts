/** Format sniffing and the image's shape read from the first bytes of a file, without decoding pixels. */

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

/** What decoding an image costs depends on more than its dimensions; this is what the header says. */
export interface ImageShape extends Dimensions {
  /** Samples per decoded pixel: PNG grey 1, grey+alpha 2, RGB 3, RGBA and palette 4 (at most); JPEG components. */
  channels: number;
  /** 1, or 2 for 16-bit PNG and 12/16-bit JPEG. */
  bytesPerSample: 1 | 2;
  /**
   * Adam7-interlaced PNG, or a JPEG in several scans (progressive, or baseline with non-interleaved
   * scans): the decoder keeps the whole image (PNG pixels, JPEG DCT coefficients) in memory.
   */
  layered: boolean;
  /** JPEG: bytes of DCT coefficients of every component, as a multi-scan decode buffers them. */
  coefficientBytes?: number;
  /** For messages, e.g. "interlaced 16-bit RGBA PNG", "progressive 3-component JPEG". */
  description: string;
}

/** 'short': the bytes end before the header does; 'unreadable': not laid out as expected. */
export type HeaderRead = ({ kind: 'ok' } & ImageShape) | { kind: 'short' } | { kind: 'unreadable' };

function readU32BE(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function readU16BE(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

const PNG_COLOUR: Readonly<Record<number, { channels: number; name: string } | undefined>> = {
  0: { channels: 1, name: 'grey' },
  2: { channels: 3, name: 'RGB' },
  3: { channels: 4, name: 'palette' },
  4: { channels: 2, name: 'grey+alpha' },
  6: { channels: 4, name: 'RGBA' },
};

/** PNG: the IHDR chunk must come first, right after the signature. */
function pngHeader(b: Uint8Array): HeaderRead {
  if (b.length < 29) return { kind: 'short' };
  if (ascii(b, 12, 4) !== 'IHDR') return { kind: 'unreadable' };
  const width = readU32BE(b, 16);
  const height = readU32BE(b, 20);
  const bitDepth = b[24]!;
  const colour = PNG_COLOUR[b[25]!];
  const interlaced = b[28] === 1;
  if (!colour || ![1, 2, 4, 8, 16].includes(bitDepth)) return { kind: 'unreadable' };
  const bytesPerSample = bitDepth === 16 ? 2 : 1;
  return {
    kind: 'ok',
    width,
    height,
    channels: colour.channels,
    bytesPerSample,
    layered: interlaced,
    description: `${interlaced ? 'interlaced ' : ''}${bitDepth}-bit ${colour.name} PNG`,
  };
}

const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
/** Start-of-frame markers of progressive JPEGs (Huffman and arithmetic, plain and differential). */
const PROGRESSIVE_SOF = new Set([0xc2, 0xc6, 0xca, 0xce]);
const SOS = 0xda;

interface Frame extends Dimensions {
  marker: number;
  precision: number;
  components: { h: number; v: number }[];
}

function coefficientBytes(frame: Frame): number {
  const hMax = Math.max(...frame.components.map((c) => c.h));
  const vMax = Math.max(...frame.components.map((c) => c.v));
  const mcuColumns = Math.ceil(frame.width / (8 * hMax));
  const mcuRows = Math.ceil(frame.height / (8 * vMax));
  // libjpeg keeps 64 16-bit coefficients per 8x8 block, blocks padded to whole MCUs.
  return frame.components.reduce((sum, c) => sum + mcuColumns * c.h * mcuRows * c.v * 64 * 2, 0);
}

function jpegShape(frame: Frame, scanComponents: number | undefined): HeaderRead {
  const n = frame.components.length;
  // Without the first scan in view (the bytes end first) the frame is taken as multi-scan.
  const layered = PROGRESSIVE_SOF.has(frame.marker) || scanComponents === undefined || scanComponents < n;
  const kind = PROGRESSIVE_SOF.has(frame.marker) ? 'progressive' : layered ? 'multi-scan' : 'baseline';
  return {
    kind: 'ok',
    width: frame.width,
    height: frame.height,
    channels: n,
    bytesPerSample: frame.precision > 8 ? 2 : 1,
    layered,
    coefficientBytes: coefficientBytes(frame),
    description: `${kind} ${n === 1 ? 'grey' : `${n}-component`} JPEG`,
  };
}

/** JPEG: walk the marker segments to the first start-of-frame, then on to the first scan. */
function jpegHeader(b: Uint8Array): HeaderRead {
  let at = 2;
  let frame: Frame | undefined;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) return frame ? jpegShape(frame, undefined) : { kind: 'unreadable' };
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
    if (length < 2) return frame ? jpegShape(frame, undefined) : { kind: 'unreadable' };
    if (SOF_MARKERS.has(marker) && !frame) {
      if (at + 10 > b.length) return { kind: 'short' };
      const count = b[at + 9]!;
      if (count === 0 || at + 10 + 3 * count > b.length) {
        return count === 0 ? { kind: 'unreadable' } : { kind: 'short' };
      }
      const components = [];
      for (let i = 0; i < count; i++) {
        const sampling = b[at + 11 + 3 * i]!;
        components.push({ h: Math.max(1, sampling >> 4), v: Math.max(1, sampling & 15) });
      }
      frame = { marker, precision: b[at + 4]!, height: readU16BE(b, at + 5), width: readU16BE(b, at + 7), components };
    } else if (marker === SOS) {
      if (!frame) return { kind: 'unreadable' };
      return jpegShape(frame, at + 4 < b.length ? b[at + 4] : undefined);
    }
    at += 2 + length;
  }
  return frame ? jpegShape(frame, undefined) : { kind: 'short' };
}

/** Dimensions and shape declared in the header, read without decoding anything. */
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
