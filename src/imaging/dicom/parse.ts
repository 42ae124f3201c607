/**
 * Parsing with dicom-parser: Part 10 files (preamble + "DICM" + file meta group) and bare data sets
 * in little endian (with or without the meta group), the deflated syntax inflated under a size cap.
 * Everything dicom-parser throws (strings, objects, errors) becomes a typed 4xx.
 */
import { createRequire } from 'node:module';
import { constants as zlibConstants, inflateRawSync } from 'node:zlib';
import type * as DicomParserModule from 'dicom-parser';
import { AppError, isAppError } from '../../errors.ts';
import { TAGS, type Tag } from './tags.ts';
import { refusedSyntaxName, transferSyntax, type TransferSyntax } from './transfer-syntax.ts';

const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof DicomParserModule;

export type DataSet = DicomParserModule.DataSet;
export type Element = DicomParserModule.Element;

export interface Parsed {
  dataSet: DataSet;
  syntax: TransferSyntax;
}

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const VRS = new Set(
  'AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(' '),
);

function hasPrefix(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
}

/**
 * How a file without the 128-byte preamble starts, judged from its first element only: a file meta
 * group (0002,xxxx) in explicit VR, or a data set whose first element is in group 0008 with a valid
 * explicit VR or a small implicit length. Anything else is not taken for DICOM.
 */
function bareLayout(bytes: Uint8Array): 'meta' | 'explicit' | 'implicit' | undefined {
  if (bytes.length < 12) return undefined;
  const group = bytes[0]! | (bytes[1]! << 8);
  const element = bytes[2]! | (bytes[3]! << 8);
  const vr = String.fromCharCode(bytes[4]!, bytes[5]!);
  if (group === 0x0002 && element <= 0x0002 && VRS.has(vr)) return 'meta';
  if (group !== 0x0008 || element > 0x0020) return undefined;
  if (VRS.has(vr)) return 'explicit';
  const length = (bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16)) + bytes[7]! * 0x1000000;
  return length < 256 ? 'implicit' : undefined;
}

/** True when the bytes are a DICOM file or a bare little-endian data set this reader would try. */
export function looksLikeDicom(bytes: Uint8Array): boolean {
  return hasPrefix(bytes) || bareLayout(bytes) !== undefined;
}

function parserMessage(err: unknown): string {
  if (typeof err === 'string') return err;
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object' && 'exception' in err) return String((err as { exception: unknown }).exception);
  return String(err);
}

/** Maps whatever dicom-parser threw to truncated (ran past the end) or corrupt. */
export function parseFailure(err: unknown, what: string): AppError {
  if (isAppError(err)) return err;
  const message = parserMessage(err).replace(/^dicomParser\.\w+: /, '');
  const short = /overread|overrun|past end|end of buffer|beyond|outside the bounds|out of range/i.test(message);
  const code = short ? 'IMAGE_TRUNCATED' : 'IMAGE_CORRUPT';
  return new AppError(code, `DICOM ${what} is ${short ? 'truncated' : 'corrupt'} (${shown(message, 200)})`, undefined, {
    cause: err,
  });
}

function unsupported(uid: string): AppError {
  const name = refusedSyntaxName(uid);
  return new AppError(
    'DICOM_TRANSFER_SYNTAX_UNSUPPORTED',
    `transfer syntax ${shown(uid)}${name ? ` (${name})` : ''} in ${TAGS.transferSyntaxUid.label} is not supported`,
  );
}

function inflater(maxBytes: number) {
  return (whole: Uint8Array, position: number): Uint8Array => {
    let inflated: Buffer;
    try {
      inflated = inflateRawSync(whole.subarray(position), { maxOutputLength: maxBytes });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new AppError('IMAGE_TOO_LARGE', `deflated DICOM data set inflates to more than ${maxBytes} bytes`, undefined, {
          cause: err,
        });
      }
      throw new AppError('IMAGE_CORRUPT', `deflated DICOM data set does not inflate (${parserMessage(err)})`, undefined, {
        cause: err,
      });
    }
    const out = new Uint8Array(position + inflated.length);
    out.set(whole.subarray(0, position));
    out.set(inflated, position);
    return out;
  };
}

/** The transfer syntax named in the file meta group, refused with 415 unless the reader decodes it. */
function metaSyntax(bytes: Uint8Array): TransferSyntax {
  let uid: string | undefined;
  try {
    uid = dicomParser.readPart10Header(bytes).string(TAGS.transferSyntaxUid.key);
  } catch (err) {
    throw parseFailure(err, 'file meta information');
  }
  if (!uid) throw new AppError('IMAGE_CORRUPT', `DICOM file meta information has no ${TAGS.transferSyntaxUid.label}`);
  const syntax = transferSyntax(uid);
  if (!syntax) throw unsupported(uid);
  return syntax;
}

interface ParseOptions {
  /** Inflates the deflated data set (the whole of it, or a bounded prefix for a header read). */
  inflate: (whole: Uint8Array, position: number) => Uint8Array;
  /** Stop at the PixelData element (its value is not read). */
  untilPixelData?: boolean;
}

function parseWith(bytes: Uint8Array, opts: ParseOptions): Parsed {
  let input = bytes;
  let bare: 'explicit' | 'implicit' | undefined;
  if (!hasPrefix(bytes)) {
    const layout = bareLayout(bytes);
    if (!layout) {
      throw new AppError('IMAGE_CORRUPT', 'not a DICOM file: no "DICM" prefix at byte 128 and no recognisable data set');
    }
    if (layout === 'meta') {
      input = new Uint8Array(132 + bytes.length);
      input.set([0x44, 0x49, 0x43, 0x4d], 128);
      input.set(bytes, 132);
    } else bare = layout;
  }
  let syntax: TransferSyntax;
  if (bare) syntax = transferSyntax(bare === 'explicit' ? EXPLICIT_LE : IMPLICIT_LE)!;
  else syntax = metaSyntax(input);
  try {
    const dataSet = dicomParser.parseDicom(input, {
      ...(bare ? { TransferSyntaxUID: syntax.uid } : {}),
      ...(opts.untilPixelData ? { untilTag: TAGS.pixelData.key } : {}),
      inflater: opts.inflate,
    } as DicomParserModule.ParseDicomOptions);
    return { dataSet, syntax };
  } catch (err) {
    throw parseFailure(err, 'data set');
  }
}

export function parseDicomBytes(bytes: Uint8Array, maxInflatedBytes: number): Parsed {
  return parseWith(bytes, { inflate: inflater(maxInflatedBytes) });
}

/** Inflates at most `maxOutput` bytes from the first `maxInput` deflated bytes (a truncated stream is fine). */
function prefixInflater(maxInput: number, maxOutput: number) {
  return (whole: Uint8Array, position: number): Uint8Array => {
    let inflated: Buffer;
    try {
      inflated = inflateRawSync(whole.subarray(position, position + maxInput), {
        finishFlush: zlibConstants.Z_SYNC_FLUSH,
        maxOutputLength: maxOutput,
      });
    } catch (err) {
      throw new AppError('IMAGE_CORRUPT', `deflated DICOM data set does not inflate (${parserMessage(err)})`, undefined, { cause: err });
    }
    const out = new Uint8Array(position + inflated.length);
    out.set(whole.subarray(0, position));
    out.set(inflated, position);
    return out;
  };
}

export interface HeaderParse extends Parsed {
  /** The parse reached PixelData: every attribute before it is in the data set. */
  complete: boolean;
}

/**
 * The data set up to (not including the value of) PixelData, read from at most `maxBytes` of the
 * file, and of the inflated data set when it is deflated: a cost bounded by maxBytes whatever the
 * file holds. Throws the 415 of an unsupported transfer syntax; any other failure may come from the
 * cut and says nothing about the file (the full decode decides).
 */
export function parseDicomHeader(bytes: Uint8Array, maxBytes: number): HeaderParse | undefined {
  let parsed: Parsed;
  try {
    parsed = parseWith(bytes.length > maxBytes ? bytes.subarray(0, maxBytes) : bytes, {
      inflate: prefixInflater(maxBytes, maxBytes),
      untilPixelData: true,
    });
  } catch (err) {
    if (isAppError(err) && err.code === 'DICOM_TRANSFER_SYNTAX_UNSUPPORTED') throw err;
    return undefined;
  }
  return { ...parsed, complete: parsed.dataSet.elements[TAGS.pixelData.key] !== undefined };
}

// Attribute reading. Values come from untrusted bytes, so every accessor returns undefined for
// absent or empty values and callers decide whether that is an error.

export function text(ds: DataSet, tag: Tag, index = 0): string | undefined {
  const value = ds.string(tag.key, index);
  return value === undefined || value === '' ? undefined : value;
}

export function uint16(ds: DataSet, tag: Tag): number | undefined {
  const el = ds.elements[tag.key];
  if (!el || el.length < 2) return undefined;
  return ds.uint16(tag.key);
}

export function decimal(ds: DataSet, tag: Tag, index = 0): number | undefined {
  const value = text(ds, tag, index);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new AppError('IMAGE_CORRUPT', `${tag.label} is not a number ("${shown(value, 32)}")`);
  return n;
}

export function count(ds: DataSet, tag: Tag): number {
  return ds.numStringValues(tag.key) ?? 0;
}

export function items(ds: DataSet, tag: Tag): DataSet[] {
  return (ds.elements[tag.key]?.items ?? []).flatMap((item) => (item.dataSet ? [item.dataSet] : []));
}

export function required(ds: DataSet, tag: Tag): number {
  const value = uint16(ds, tag);
  if (value === undefined) throw new AppError('IMAGE_CORRUPT', `DICOM image has no ${tag.label}`);
  return value;
}

/** A value echoed in an error message: printable ASCII only, bounded. */
export function shown(value: string, max = 64): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}
