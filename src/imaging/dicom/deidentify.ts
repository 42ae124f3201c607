/**
 * What leaves the reader about the object: a de-identified header subset (in the spirit of the
 * PS3.15 Basic Application Confidentiality Profile: no names, ids, dates or instance UIDs), keyed
 * hashes that let results refer to the patient, study and instance without naming them, and the
 * instance UIDs themselves wrapped so they cannot be serialised or logged by accident.
 */
import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import { AppError } from '../../errors.ts';
import type { ImagePixel } from './image-pixel.ts';
import type { VoiKind } from './lut.ts';
import { text, type DataSet } from './parse.ts';
import { sopClassName } from './policy.ts';
import { TAGS } from './tags.ts';
import type { TransferSyntax } from './transfer-syntax.ts';

export interface DicomHeader {
  modality: string | null;
  viewPosition: string | null;
  bodyPartExamined: string | null;
  photometricInterpretation: string;
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  numberOfFrames: number;
  transferSyntaxUid: string;
  transferSyntax: string;
  /** The transfer syntax is lossy (the pixels are not the acquired ones bit for bit). */
  lossyTransferSyntax: boolean;
  /** The pixels were lossy-compressed at some point: LossyImageCompression (0028,2110) is 01, or the syntax is lossy. */
  lossyImageCompression: boolean;
  sopClassUid: string | null;
  sopClass: string | null;
  /** Which VOI transformation made the 8-bit picture. */
  voi: VoiKind;
}

/** Hex digits kept of each HMAC-SHA256 (128 bits). */
export const KEY_HEX_DIGITS = 32;

// Code String values only (PS3.5 6.2: upper case, digits, space, underscore; 16 characters); anything
// else is free text in the wrong place and is not passed on.
const CODE_STRING = /^[A-Z0-9 _]{1,16}$/;

function codeString(ds: DataSet, tag: (typeof TAGS)[keyof typeof TAGS]): string | null {
  const value = text(ds, tag);
  return value !== undefined && CODE_STRING.test(value) ? value : null;
}

const STANDARD_UID = /^1\.2\.840\.10008\.[0-9.]{1,50}$/;

export function deidentifiedHeader(ds: DataSet, image: ImagePixel, syntax: TransferSyntax, voi: VoiKind): DicomHeader {
  const sopClass = text(ds, TAGS.sopClassUid);
  const standardClass = sopClass !== undefined && STANDARD_UID.test(sopClass) ? sopClass : null;
  return {
    modality: codeString(ds, TAGS.modality),
    viewPosition: codeString(ds, TAGS.viewPosition),
    bodyPartExamined: codeString(ds, TAGS.bodyPartExamined),
    photometricInterpretation: image.photometric,
    rows: image.rows,
    columns: image.columns,
    bitsAllocated: image.bitsAllocated,
    bitsStored: image.bitsStored,
    signed: image.signed,
    numberOfFrames: image.frames,
    transferSyntaxUid: syntax.uid,
    transferSyntax: syntax.name,
    lossyTransferSyntax: syntax.lossy,
    lossyImageCompression: syntax.lossy || text(ds, TAGS.lossyImageCompression) === '01',
    // Private SOP class UIDs carry an organisation root, so only standard ones are passed on.
    sopClassUid: standardClass,
    sopClass: sopClassName(standardClass ?? undefined) ?? null,
    voi,
  };
}

export function secretBytes(secret: string | Uint8Array): Uint8Array {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  if (bytes.length < 16) throw new AppError('INTERNAL', 'decodeDicom: keySecret must be at least 16 bytes');
  return bytes;
}

/** HMAC-SHA256(secret, purpose NUL value), hex, truncated; null when the value is absent. */
export function keyOf(secret: Uint8Array, purpose: string, value: string | undefined): string | null {
  if (value === undefined) return null;
  return createHmac('sha256', secret).update(`${purpose}\0${value}`, 'utf8').digest('hex').slice(0, KEY_HEX_DIGITS);
}

const REDACTED = '[DICOM UIDs redacted: for building the result only]';

/** The four UIDs as plain values: what a decoding thread hands back to build ResultOnlyUids again. */
export interface ResultUidValues {
  readonly study: string | null;
  readonly series: string | null;
  readonly instance: string | null;
  readonly sopClass: string | null;
}

/**
 * The object's own UIDs, needed to build a result that references it (FHIR ImagingStudy, DICOM SR).
 * FOR BUILDING THE RESULT ONLY: never store or log them. They are reachable only through the
 * methods; JSON.stringify, util.inspect (console, pino) and object spread show nothing.
 */
export class ResultOnlyUids {
  readonly #study: string | null;
  readonly #series: string | null;
  readonly #instance: string | null;
  readonly #sopClass: string | null;

  constructor(source: DataSet | ResultUidValues) {
    const values: ResultUidValues =
      'elements' in source
        ? {
            study: text(source, TAGS.studyInstanceUid) ?? null,
            series: text(source, TAGS.seriesInstanceUid) ?? null,
            instance: text(source, TAGS.sopInstanceUid) ?? null,
            sopClass: text(source, TAGS.sopClassUid) ?? null,
          }
        : source;
    this.#study = values.study;
    this.#series = values.series;
    this.#instance = values.instance;
    this.#sopClass = values.sopClass;
  }

  studyInstanceUid(): string | null {
    return this.#study;
  }

  seriesInstanceUid(): string | null {
    return this.#series;
  }

  sopInstanceUid(): string | null {
    return this.#instance;
  }

  sopClassUid(): string | null {
    return this.#sopClass;
  }

  /** The plain values, to pass them across a thread boundary (postMessage); never to store or log. */
  values(): ResultUidValues {
    return { study: this.#study, series: this.#series, instance: this.#instance, sopClass: this.#sopClass };
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
