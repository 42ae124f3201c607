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
import { readImagePixel } from './image-pixel.ts';
import { storedValues, toGreyscale } from './lut.ts';
import { parseDicomBytes, parseFailure, text } from './parse.ts';
import { checkModality, checkPixelData, checkSopClass, checkViewPosition, DEFAULT_MODALITIES } from './policy.ts';
import { TAGS } from './tags.ts';

export { looksLikeDicom } from './parse.ts';
export { SUPPORTED_TRANSFER_SYNTAXES, type TransferSyntax } from './transfer-syntax.ts';
export { DEFAULT_MODALITIES, LATERAL_VIEW_POSITIONS } from './policy.ts';
export { KEY_HEX_DIGITS, ResultOnlyUids, type DicomHeader } from './deidentify.ts';
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

export async function decodeDicom(bytes: Uint8Array, opts: DicomDecodeOptions): Promise<DicomImage> {
  const secret = secretBytes(opts.keySecret);
  const maxPixels = opts.maxPixels ?? DICOM_DEFAULT_MAX_PIXELS;
  if (bytes.length === 0) throw new AppError('IMAGE_EMPTY', 'DICOM file is empty (0 bytes)');
  try {
    // Deflated data sets inflate to at most one 16-bit frame at the pixel limit plus headers.
    const { dataSet: ds, syntax } = parseDicomBytes(bytes, maxPixels * 2 + (1 << 20));
    checkSopClass(ds);
    checkPixelData(ds);
    checkModality(ds, opts.modalities === undefined ? DEFAULT_MODALITIES : opts.modalities);
    checkViewPosition(ds, opts.refuseLateral ?? false);
    const image = readImagePixel(ds, maxPixels);
    if (image.frames > 1 && opts.strictSingleFrame) {
      throw new AppError('DICOM_MULTI_FRAME', `${TAGS.numberOfFrames.label} is ${image.frames}; single-frame images only`);
    }
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
