/**
 * JPEG baseline/extended (libjpeg-turbo), JPEG lossless process 14 (jpeg-lossless-decoder-js) and
 * JPEG-LS (CharLS). The codec is chosen by the codestream's start-of-frame marker, and its declared
 * size is checked against the data set before anything is decoded.
 */
import { createRequire } from 'node:module';
import type * as LosslessModule from 'jpeg-lossless-decoder-js';
import { AppError, isAppError } from '../../../errors.ts';
import type { ImagePixel } from '../image-pixel.ts';
import type { TransferSyntax } from '../transfer-syntax.ts';
import { jpegFrameHeader } from './codestream.ts';
import { checkDecodedSize, samplesFromBytes, type Samples } from './samples.ts';
import { CHARLS, LIBJPEG_TURBO } from './wasm.ts';

const lossless = createRequire(import.meta.url)('jpeg-lossless-decoder-js') as typeof LosslessModule;

const LOSSLESS_SOF = 0xc3;
const JPEG_LS_SOF = 0xf7;
const DCT_SOF = new Set([0xc0, 0xc1, 0xc2]);

function decodeLossless(frame: Uint8Array, image: ImagePixel): Samples {
  let out: Uint8Array | Uint16Array;
  try {
    out = new lossless.Decoder().decode(frame.buffer as ArrayBuffer, frame.byteOffset, frame.length);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new AppError('IMAGE_CORRUPT', `JPEG lossless codestream does not decode (${reason.slice(0, 120)})`, undefined, { cause: err });
  }
  const count = image.rows * image.columns;
  if (out.length < count) throw new AppError('IMAGE_TRUNCATED', `JPEG lossless codestream decodes to ${out.length} of ${count} samples`);
  return out.length === count ? out : out.slice(0, count);
}

export async function decodeJpegFamily(frame: Uint8Array, image: ImagePixel, syntax: TransferSyntax): Promise<Samples> {
  const header = jpegFrameHeader(frame);
  if (!header) {
    throw new AppError('IMAGE_CORRUPT', `${syntax.name} frame has no readable JPEG start-of-frame header`);
  }
  checkDecodedSize('JPEG', header, image);
  if (header.precision > 16 || header.precision < 2) {
    throw new AppError('IMAGE_CORRUPT', `JPEG codestream declares ${header.precision}-bit samples`);
  }
  if (header.marker === LOSSLESS_SOF) return decodeLossless(frame, image);
  if (header.marker !== JPEG_LS_SOF && !DCT_SOF.has(header.marker)) {
    throw new AppError(
      'DICOM_TRANSFER_SYNTAX_UNSUPPORTED',
      `JPEG process with start-of-frame marker 0xFF${header.marker.toString(16).toUpperCase()} (hierarchical or arithmetic coding) in transfer syntax ${syntax.uid} is not supported`,
    );
  }
  if (DCT_SOF.has(header.marker) && header.precision > 8) {
    throw new AppError(
      'DICOM_TRANSFER_SYNTAX_UNSUPPORTED',
      `transfer syntax ${syntax.uid} (${syntax.name}) with ${header.precision}-bit samples is not supported: only 8-bit JPEG DCT decoding is available`,
    );
  }
  const codec = header.marker === JPEG_LS_SOF ? CHARLS : LIBJPEG_TURBO;
  try {
    const { info, bytes } = await codec.decode(frame);
    checkDecodedSize(codec.label, { width: info.width, height: info.height, components: info.componentCount }, image);
    return samplesFromBytes(bytes, info.bitsPerSample > 8 ? 2 : 1, image.rows * image.columns);
  } catch (err) {
    if (isAppError(err)) throw err;
    throw new AppError('IMAGE_CORRUPT', `${codec.label} codestream does not decode`, undefined, { cause: err });
  }
}
