/**
 * The DICOM reader: a Part 10 file (or bare little-endian data set) in, the first frame as 8-bit
 * grey out, with a de-identified header and keyed hashes for result references. Parser (parse.ts),
 * transfer-syntax table (transfer-syntax.ts), codec adapters (codecs/, frames.ts), pixel pipeline
 * (image-pixel.ts, lut.ts), acceptance policy (policy.ts), PHI handling (deidentify.ts).
 * It never logs. Every refusal is an AppError with a 4xx whose message names the attribute.
 */
import { AppError, isAppError } from '../../errors.ts';
import { deidentifiedHeader, keyOf, ResultOnlyUids, secretBytes, type DicomHeader } from './deidentify.ts';
import { decodeFrame } from './frames.ts';
import { readImagePixel, type ImagePixel } from './image-pixel.ts';
import { storedValues, toGreyscale } from './lut.ts';
import { parseDicomBytes, parseDicomHeader, parseFailure, text, type DataSet } from './parse.ts';
import { checkModality, checkPixelData, checkSopClass, checkViewPosition, DEFAULT_MODALITIES } from './policy.ts';
import { TAGS } from './tags.ts';
import type { Codec, TransferSyntax } from './transfer-syntax.ts';

export { looksLikeDicom } from './parse.ts';
export { SUPPORTED_TRANSFER_SYNTAXES, type TransferSyntax } from './transfer-syntax.ts';
export { DEFAULT_MODALITIES, LATERAL_VIEW_POSITIONS } from './policy.ts';
export { KEY_HEX_DIGITS, ResultOnlyUids, type DicomHeader, type ResultUidValues } from './deidentify.ts';
export type { VoiKind } from './lut.ts';

export const DICOM_DEFAULT_MAX_PIXELS = 100_000_000;

export interface DicomDecodeOptions {
  /** Secret for the HMAC-SHA256 keys (patientKey, studyKey, instanceKey); at least 16 bytes. */
  keySecret: string | Uint8Array;
  /** Rows x Columns x NumberOfFrames above this is refused (413) before decoding. */
  maxPixels?: number;
  /** Accepted Modality (0008,0060) values; null accepts any. Default CR, DX. */
  modalities?: readonly string[] | null;
  /** Refuse lateral ViewPosition (0018,5101) values (LL, RL, ...). Default false. */
  refuseLateral?: boolean;
  /** Refuse multi-frame objects (422) instead of reading their first frame. Default false. */
  strictSingleFrame?: boolean;
  /**
   * Called with the declared shape once every attribute is checked, before any pixel is decoded;
   * throw to refuse (e.g. the decode would cost more memory than allowed).
   */
  beforeDecode?: (shape: DicomShape) => void;
}

/** What decoding the object involves, from its header: the input of a memory estimate. */
export interface DicomShape {
  rows: number;
  columns: number;
  frames: number;
  bitsAllocated: 8 | 16;
  codec: Codec;
  deflated: boolean;
  /** Bytes of the whole file. */
  fileBytes: number;
}

export interface DicomImage {
  width: number;
  height: number;
  /** width * height 8-bit grey, row-major, 0 black: feed sharp raw { width, height, channels: 1 }. */
  pixels: Uint8Array;
  header: DicomHeader;
  /** HMAC of PatientID (0010,0020), or null when absent: the patient grouping key. */
  patientKey: string | null;
  /** HMAC of StudyInstanceUID / SOPInstanceUID, or null when absent: storable references. */
  studyKey: string | null;
  instanceKey: string | null;
  /** The object's UIDs for building the result only; never store or log them (they redact themselves). */
  resultOnly: ResultOnlyUids;
}

/** Whatever escaped as a non-AppError came from reading untrusted bytes: a 422, never a 500. */
function asDataError(err: unknown): AppError {
  if (isAppError(err)) return err;
  if (err instanceof RangeError) {
    return new AppError('IMAGE_CORRUPT', `DICOM data is inconsistent (${err.message.slice(0, 120)})`, undefined, { cause: err });
  }
  return parseFailure(err, 'data set');
}

type Policy = Omit<DicomDecodeOptions, 'keySecret' | 'beforeDecode'>;

/** Every check that needs no pixel: SOP class, PixelData, modality, view, Image Pixel module, frames. */
function acceptedImage(ds: DataSet, opts: Policy, maxPixels: number): ImagePixel {
  checkSopClass(ds);
  checkPixelData(ds);
  checkModality(ds, opts.modalities === undefined ? DEFAULT_MODALITIES : opts.modalities);
  checkViewPosition(ds, opts.refuseLateral ?? false);
  const image = readImagePixel(ds, maxPixels);
  if (image.frames > 1 && opts.strictSingleFrame) {
    throw new AppError('DICOM_MULTI_FRAME', `${TAGS.numberOfFrames.label} is ${image.frames}; single-frame images only`);
  }
  return image;
}

function shapeOf(image: ImagePixel, syntax: TransferSyntax, fileBytes: number): DicomShape {
  return {
    rows: image.rows,
    columns: image.columns,
    frames: image.frames,
    bitsAllocated: image.bitsAllocated,
    codec: syntax.codec,
    deflated: syntax.deflated === true,
    fileBytes,
  };
}

/** Bytes of the file (and of an inflated data set) inspectDicom reads at most. */
export const DICOM_HEADER_READ_BYTES = 1 << 20;

/**
 * The header checks of decodeDicom from the first DICOM_HEADER_READ_BYTES only, cheap enough for
 * the event loop: throws the same refusals (transfer syntax, SOP class, modality, view, frames,
 * pixel limit, Image Pixel module), returns the shape to estimate the decode's cost, or undefined
 * when the header does not end within the bytes read (or does not parse: decodeDicom then says why).
 */
export function inspectDicom(bytes: Uint8Array, opts: Policy = {}): DicomShape | undefined {
  if (bytes.length === 0) throw new AppError('IMAGE_EMPTY', 'DICOM file is empty (0 bytes)');
  const header = parseDicomHeader(bytes, DICOM_HEADER_READ_BYTES);
  if (!header?.complete) return undefined;
  const image = acceptedImage(header.dataSet, opts, opts.maxPixels ?? DICOM_DEFAULT_MAX_PIXELS);
  return shapeOf(image, header.syntax, bytes.length);
}

export async function decodeDicom(bytes: Uint8Array, opts: DicomDecodeOptions): Promise<DicomImage> {
  const secret = secretBytes(opts.keySecret);
  const maxPixels = opts.maxPixels ?? DICOM_DEFAULT_MAX_PIXELS;
  if (bytes.length === 0) throw new AppError('IMAGE_EMPTY', 'DICOM file is empty (0 bytes)');
  try {
    // Deflated data sets inflate to at most one 16-bit frame at the pixel limit plus headers.
    const { dataSet: ds, syntax } = parseDicomBytes(bytes, maxPixels * 2 + (1 << 20));
    const image = acceptedImage(ds, opts, maxPixels);
    opts.beforeDecode?.(shapeOf(image, syntax, bytes.length));
    const samples = await decodeFrame(ds, image, syntax, 0);
    const { pixels, voi } = toGreyscale(storedValues(samples, image), ds, image);
    return {
      width: image.columns,
      height: image.rows,
      pixels,
      header: deidentifiedHeader(ds, image, syntax, voi),
      patientKey: keyOf(secret, 'patient', text(ds, TAGS.patientId)),
      studyKey: keyOf(secret, 'study', text(ds, TAGS.studyInstanceUid)),
      instanceKey: keyOf(secret, 'instance', text(ds, TAGS.sopInstanceUid)),
      resultOnly: new ResultOnlyUids(ds),
    };
  } catch (err) {
    throw asDataError(err);
  }
}

/** Raw stored values of the first frame (masked, sign-extended): for tests and tools that need them. */
export async function readStoredValues(bytes: Uint8Array, maxPixels = DICOM_DEFAULT_MAX_PIXELS): Promise<Int32Array> {
  try {
    const { dataSet: ds, syntax } = parseDicomBytes(bytes, maxPixels * 2 + (1 << 20));
    checkPixelData(ds);
    const image = readImagePixel(ds, maxPixels);
    return storedValues(await decodeFrame(ds, image, syntax, 0), image);
  } catch (err) {
    throw asDataError(err);
  }
}
