/**
 * A small DICOM writer: data sets in explicit VR little endian with defined-length sequences and
 * items, and Part 10 files (preamble, "DICM", file meta group). Enough for the structured reports
 * this service writes (src/imaging/dicom-sr/sr.ts); values are given as ASCII text, numbers, raw
 * bytes already encoded in the data set's character set (copied from a source object), or items.
 */

export type DicomItem = readonly DicomElement[];

export type DicomElementValue =
  /** ASCII text; several values are joined with a backslash. */
  | string
  | readonly string[]
  /** US, UL, FD numbers. */
  | readonly number[]
  /** A value already encoded (e.g. a person name in the source's character set). */
  | Uint8Array
  /** Sequence items. */
  | { readonly items: readonly DicomItem[] };

export interface DicomElement {
  /** (group << 16) | element */
  readonly tag: number;
  readonly vr: string;
  readonly value: DicomElementValue;
}

export const tag = (group: number, element: number): number => ((group << 16) | element) >>> 0;

/** VRs whose explicit-VR header has a 4-byte length after two reserved bytes. */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT']);
/** Most characters (bytes) a value of the VR may have, per PS3.5 table 6.2-1, where there is a limit. */
const MAX_CHARS: Readonly<Record<string, number>> = {
  AE: 16, AS: 4, CS: 16, DA: 8, DS: 16, DT: 26, IS: 12, LO: 64, LT: 10240, PN: 324, SH: 16, ST: 1024, TM: 14, UI: 64,
};
const NUMERIC_BYTES: Readonly<Record<string, number>> = { US: 2, UL: 4, FD: 8 };

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** This writer's implementation class (PS3.7 D.3.3.2): a UUID-derived root of its own. */
export const IMPLEMENTATION_CLASS_UID = '2.25.106588573022615557346638974135815289612';
export const IMPLEMENTATION_VERSION_NAME = 'CXRNET_SR_1';

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function hex(t: number): string {
  return `(${(t >>> 16).toString(16).padStart(4, '0')},${(t & 0xffff).toString(16).padStart(4, '0')})`.toUpperCase();
}

/** Printable ASCII (and, for LT/ST/UT, line breaks): the only text this writer encodes itself. */
function asciiBytes(el: DicomElement, text: string): Uint8Array {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const printable = c >= 0x20 && c <= 0x7e;
    const lineBreak = (c === 0x0a || c === 0x0d) && (el.vr === 'LT' || el.vr === 'ST' || el.vr === 'UT');
    if (!printable && !lineBreak) throw new Error(`dicom writer: ${hex(el.tag)} ${el.vr} text has a non-ASCII character at ${i}`);
  }
  return new Uint8Array(Buffer.from(text, 'latin1'));
}

function textBytes(el: DicomElement, values: readonly string[]): Uint8Array {
  const max = MAX_CHARS[el.vr];
  if (max !== undefined) {
    for (const v of values) {
      if (v.length > max) throw new Error(`dicom writer: ${hex(el.tag)} ${el.vr} value is ${v.length} characters (at most ${max})`);
    }
  }
  const bytes = asciiBytes(el, values.join('\\'));
  if (bytes.length % 2 === 0) return bytes;
  // UIDs are padded with NUL, every other text VR with a space (PS3.5 6.2).
  return concat([bytes, Uint8Array.of(el.vr === 'UI' ? 0 : 0x20)]);
}

function numberBytes(el: DicomElement, values: readonly number[]): Uint8Array {
  const size = NUMERIC_BYTES[el.vr];
  if (size === undefined) throw new Error(`dicom writer: ${hex(el.tag)} has no numeric encoding for VR ${el.vr}`);
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    if (el.vr === 'US') view.setUint16(i * 2, v, true);
    else if (el.vr === 'UL') view.setUint32(i * 4, v, true);
    else view.setFloat64(i * 8, v, true);
  });
  return out;
}

function itemBytes(item: DicomItem): Uint8Array {
  const body = encodeDataSet(item);
  return concat([header32(0xfffee000, body.length), body]);
}

function valueBytes(el: DicomElement): Uint8Array {
  const { value } = el;
  if (value instanceof Uint8Array) {
    if (value.length % 2 === 0) return value;
    return concat([value, Uint8Array.of(el.vr === 'UI' || el.vr === 'OB' ? 0 : 0x20)]);
  }
  if (typeof value === 'string') return textBytes(el, [value]);
  if ('items' in value) {
    if (el.vr !== 'SQ') throw new Error(`dicom writer: ${hex(el.tag)} has items but VR ${el.vr}`);
    return concat(value.items.map(itemBytes));
  }
  if (value.length === 0) return new Uint8Array(0);
  return typeof value[0] === 'number' ? numberBytes(el, value as readonly number[]) : textBytes(el, value as readonly string[]);
}

function header32(t: number, length: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint16(0, t >>> 16, true);
  view.setUint16(2, t & 0xffff, true);
  view.setUint32(4, length >>> 0, true);
  return out;
}

function elementBytes(el: DicomElement): Uint8Array {
  if (!/^[A-Z]{2}$/.test(el.vr)) throw new Error(`dicom writer: ${hex(el.tag)} has an invalid VR`);
  const body = valueBytes(el);
  const long = LONG_VRS.has(el.vr);
  const head = new Uint8Array(long ? 12 : 8);
  const view = new DataView(head.buffer);
  view.setUint16(0, el.tag >>> 16, true);
  view.setUint16(2, el.tag & 0xffff, true);
  head[4] = el.vr.charCodeAt(0);
  head[5] = el.vr.charCodeAt(1);
  if (long) view.setUint32(8, body.length, true);
  else {
    if (body.length > 0xffff) throw new Error(`dicom writer: ${hex(el.tag)} ${el.vr} value is too long for a short length`);
    view.setUint16(6, body.length, true);
  }
  return concat([head, body]);
}

/** A data set (or item) in explicit VR little endian, elements in ascending tag order. */
export function encodeDataSet(elements: DicomItem): Uint8Array {
  const sorted = [...elements].sort((a, b) => a.tag - b.tag);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.tag === sorted[i - 1]!.tag) throw new Error(`dicom writer: ${hex(sorted[i]!.tag)} appears twice`);
  }
  return concat(sorted.map(elementBytes));
}

/**
 * A Part 10 file: 128-byte preamble, "DICM", the file meta group (PS3.10 7.1) naming the SOP class
 * and instance of the data set, then the data set in explicit VR little endian.
 */
export function writePart10(dataSet: DicomItem, sopClassUid: string, sopInstanceUid: string): Uint8Array {
  const meta = encodeDataSet([
    { tag: tag(0x0002, 0x0001), vr: 'OB', value: Uint8Array.of(0, 1) },
    { tag: tag(0x0002, 0x0002), vr: 'UI', value: sopClassUid },
    { tag: tag(0x0002, 0x0003), vr: 'UI', value: sopInstanceUid },
    { tag: tag(0x0002, 0x0010), vr: 'UI', value: EXPLICIT_VR_LITTLE_ENDIAN },
    { tag: tag(0x0002, 0x0012), vr: 'UI', value: IMPLEMENTATION_CLASS_UID },
    { tag: tag(0x0002, 0x0013), vr: 'SH', value: IMPLEMENTATION_VERSION_NAME },
  ]);
  const groupLength = elementBytes({ tag: tag(0x0002, 0x0000), vr: 'UL', value: [meta.length] });
  const prefix = new Uint8Array(132);
  prefix.set([0x44, 0x49, 0x43, 0x4d], 128);
  return concat([prefix, groupLength, meta, encodeDataSet(dataSet)]);
}
