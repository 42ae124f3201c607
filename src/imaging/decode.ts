import { randomBytes } from 'node:crypto';
import sharp, { type Metadata, type Sharp } from 'sharp';
import type { Config } from '../config.ts';
import { AppError, isAppError } from '../errors.ts';
import {
  checkDecodeCost,
  checkDicomDecodeCost,
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
import { DEFAULT_MODALITIES, inspectDicom, looksLikeDicom, type DicomHeader, type ResultOnlyUids } from './dicom/index.ts';
import { dicomPool } from './dicom-pool.ts';

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

/** What DICOM input is accepted, and the secret of its keyed hashes (src/imaging/dicom decodeDicom options). */
export interface DicomPolicy {
  /** HMAC secret (16+ bytes) of patientKey/studyKey/instanceKey; default: random per process (keys then mean nothing elsewhere). */
  keySecret?: string | Uint8Array;
  /** Accepted Modality values; null accepts any; default CR, DX. */
  modalities?: readonly string[] | null;
  refuseLateral?: boolean;
  strictSingleFrame?: boolean;
}

/** The policy of the configuration (DICOM_*); `keySecret` when the configuration names none (the data dir's). */
export function dicomPolicyOf(settings: Config['dicom'], keySecret?: string): DicomPolicy {
  const secret = settings.keySecret ?? keySecret;
  return {
    modalities: settings.modalities,
    refuseLateral: settings.refuseLateral,
    strictSingleFrame: settings.strictSingleFrame,
    ...(secret !== undefined ? { keySecret: secret } : {}),
  };
}

export interface DecodeLimits {
  /** Largest width x height accepted (x frames for DICOM); default DEFAULT_MAX_PIXELS. */
  maxPixels?: number;
  /** Most memory one decode may take (estimated from the header); default DEFAULT_MAX_DECODE_BYTES. */
  maxDecodeBytes?: number;
  /** DICOM acceptance and key secret; default: DicomPolicy's defaults. */
  dicom?: DicomPolicy;
}

/** What a DICOM input says about itself, de-identified: no name, id, date or UID in clear. */
export interface DicomFacts {
  /** The de-identified header subset (modality, view, pixel module, transfer syntax, VOI used...). */
  header: DicomHeader;
  /** HMAC of PatientID (the patient grouping key), of StudyInstanceUID and SOPInstanceUID; null when absent. */
  patientKey: string | null;
  studyKey: string | null;
  instanceKey: string | null;
  /** The object's UIDs for building a result that references it; never store or log them. */
  resultOnly: ResultOnlyUids;
  /** The 8-bit picture at full resolution before the resize (what a de-identified copy keeps). */
  picture: { width: number; height: number; pixels: Uint8Array };
}

export interface DecodedImage {
  /** size*size grey uint8, row-major: the model's input before standardisation. */
  pixels: Uint8Array;
  format: ImageFormat | 'dicom';
  /** Present for DICOM input. */
  dicom?: DicomFacts;
}

/** How every image is turned into model input, training and serving alike; goes into model metadata. */
export const PREPROCESSING = Object.freeze({
  formats: Object.freeze(['png', 'jpeg', 'dicom'] as const),
  /** DICOM: the first frame through Modality LUT, VOI LUT (window, else the pixel range), MONOCHROME1 inverted, to 8 bits; then the same resize. */
  dicom: 'first-frame-modality-voi-8bit' as const,
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

/** A secret for processes that configure none: keys stay consistent within the process only. */
const PROCESS_KEY_SECRET = randomBytes(32);

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 1 || size > MAX_OUTPUT_SIZE) {
    throw new AppError('INTERNAL', `decodeXray: size must be an integer in 1..${MAX_OUTPUT_SIZE}, got ${size}`);
  }
}

/**
 * The one standardising pipeline after decoding, for every format: EXIF orientation applied,
 * alpha flattened on black, one grey channel, resized to exactly size x size ignoring aspect
 * (lanczos3), 8 bits.
 */
async function standardise(image: Sharp, size: number): Promise<Uint8Array> {
  const { data, info } = await image
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
}

/**
 * Decodes a PNG, JPEG or DICOM into size*size grey uint8 pixels, row-major, by the one
 * standardising pipeline (standardise above). The header is checked before any pixel is decoded
 * (dimensions, and the memory the decode would take), so oversized or costly images cost nothing;
 * decodes then wait for a turn at the process-wide gate (decode-budget.ts). DICOM (sniffed: the
 * "DICM" prefix or a bare data set) is read by src/imaging/dicom in a worker thread
 * (dicom-pool.ts): its 8-bit first frame then goes through the same resize as a grey PNG would.
 */
export async function decodeImage(bytes: Uint8Array, size: number, limits?: DecodeLimits): Promise<DecodedImage> {
  checkSize(size);
  const maxPixels = limits?.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (bytes.length === 0) throw new AppError('IMAGE_EMPTY', 'image is empty (0 bytes)');
  const maxDecodeBytes = limits?.maxDecodeBytes ?? DEFAULT_MAX_DECODE_BYTES;
  const format = sniffFormat(bytes);
  if (!format) {
    if (looksLikeDicom(bytes)) return decodeDicomImage(bytes, size, maxPixels, maxDecodeBytes, limits?.dicom ?? {});
    const kind = describeUnsupported(bytes);
    const seen = kind === 'unknown' ? '' : ` (looks like ${kind})`;
    throw new AppError('UNSUPPORTED_IMAGE_FORMAT', `not a PNG, JPEG or DICOM image${seen}`);
  }
  const header = readHeader(bytes, format);
  let cost: number | undefined;
  if (header.kind === 'ok') {
    checkDimensions(header.width, header.height, maxPixels);
    cost = checkDecodeCost(header, format, size, maxDecodeBytes);
  }
  // A header this module cannot read reserves the most one decode may take until libvips has read it.
  const pixels = await gate.run(cost ?? maxDecodeBytes, () => decodeNow(bytes, size, format, cost, maxPixels, maxDecodeBytes));
  return { pixels, format };
}

/**
 * A lossless grey PNG of a DICOM input's 8-bit picture, and nothing else of it: what is kept of a
 * DICOM file to build the model input again (decodeImage gives the same pixels from it as from
 * the DICOM itself, at any size).
 */
export function deidentifiedPng(facts: Pick<DicomFacts, 'picture'>): Promise<Buffer> {
  const { width, height, pixels } = facts.picture;
  return sharp(pixels, { raw: { width, height, channels: 1 } }).png().toBuffer();
}

/** decodeImage's pixels: the model input of a PNG, JPEG or DICOM. */
export async function decodeXray(bytes: Uint8Array, size: number, limits?: DecodeLimits): Promise<Uint8Array> {
  return (await decodeImage(bytes, size, limits)).pixels;
}

async function decodeDicomImage(
  bytes: Uint8Array,
  size: number,
  maxPixels: number,
  maxDecodeBytes: number,
  policy: DicomPolicy,
): Promise<DecodedImage> {
  const options = {
    keySecret: policy.keySecret ?? PROCESS_KEY_SECRET,
    maxPixels,
    modalities: policy.modalities === undefined ? DEFAULT_MODALITIES : policy.modalities,
    refuseLateral: policy.refuseLateral ?? false,
    strictSingleFrame: policy.strictSingleFrame ?? false,
  };
  // Refusals (syntax, SOP class, modality, view, frames, Rows x Columns x NumberOfFrames) and the
  // cost estimate come from the header, here, before anything waits for the gate or a thread.
  const shape = inspectDicom(bytes, options);
  const cost = shape ? checkDicomDecodeCost(shape, size, maxDecodeBytes) : undefined;
  // A header not read here (past the first MiB, or unparsable) reserves the most one decode may
  // take; the thread checks the same limits itself before decoding a pixel.
  return gate.run(cost ?? maxDecodeBytes, async () => {
    const image = await dicomPool.decode(bytes, options, size, maxDecodeBytes);
    const raw = { width: image.width, height: image.height, channels: 1 as const };
    let pixels: Uint8Array;
    try {
      pixels = await standardise(sharp(image.pixels, { raw, limitInputPixels: maxPixels }), size);
    } catch (err) {
      if (isAppError(err)) throw err;
      throw new AppError('INTERNAL', 'resizing a decoded DICOM image failed', undefined, { cause: err });
    }
    return {
      pixels,
      format: 'dicom',
      dicom: {
        header: image.header,
        patientKey: image.patientKey,
        studyKey: image.studyKey,
        instanceKey: image.instanceKey,
        resultOnly: image.resultOnly,
        picture: { width: image.width, height: image.height, pixels: image.pixels },
      },
    };
  });
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
    return await standardise(sharp(bytes, input), size);
  } catch (err) {
    throw decodeError(err, bytes, format, maxPixels);
  }
}
