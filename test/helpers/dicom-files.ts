/**
 * DICOM test files: a small Part 10 writer (explicit VR little endian, native or encapsulated pixel
 * data), X-ray-like datasets built from the synthetic generator, and transcoding through the real
 * tools (dcmtk, OpenJPEG). Every generated file carries planted PHI (PHI below) so tests can prove
 * none of it comes out of the reader.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import { syntheticXray } from './synthetic-xray.ts';

const run = promisify(execFile);

export const TS = {
  implicitLE: '1.2.840.10008.1.2',
  explicitLE: '1.2.840.10008.1.2.1',
  deflated: '1.2.840.10008.1.2.1.99',
  explicitBE: '1.2.840.10008.1.2.2',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegExtended: '1.2.840.10008.1.2.4.51',
  jpegLossless: '1.2.840.10008.1.2.4.57',
  jpegLosslessSV1: '1.2.840.10008.1.2.4.70',
  jpegLsLossless: '1.2.840.10008.1.2.4.80',
  jpegLsNear: '1.2.840.10008.1.2.4.81',
  j2kLossless: '1.2.840.10008.1.2.4.90',
  j2k: '1.2.840.10008.1.2.4.91',
  rle: '1.2.840.10008.1.2.5',
} as const;

export const SOP = {
  cr: '1.2.840.10008.5.1.4.1.1.1',
  dx: '1.2.840.10008.5.1.4.1.1.1.1',
  sc: '1.2.840.10008.5.1.4.1.1.7',
  basicTextSr: '1.2.840.10008.5.1.4.1.1.88.11',
} as const;

/** Identifying values planted in every generated file. */
export const PHI = {
  patientName: 'DOE^JANE^Q',
  patientId: 'PID-7731-XQ',
  birthDate: '19610417',
  studyDate: '20240229',
  accession: 'ACC99887766',
  studyUid: '1.2.826.0.1.3680043.10.1471.7.1',
  seriesUid: '1.2.826.0.1.3680043.10.1471.7.2',
  instanceUid: '1.2.826.0.1.3680043.10.1471.7.3',
  institution: 'ST ELSEWHERE GENERAL',
  referringPhysician: 'HOUSE^GREGORY',
} as const;

export type Value = string | number | readonly number[] | Uint8Array | readonly Element[][];

export interface Element {
  /** (group << 16) | element */
  tag: number;
  vr: string;
  value: Value;
}

export const tag = (group: number, element: number): number => ((group << 16) | element) >>> 0;

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT']);
const UID_VRS = new Set(['UI']);

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function numbers(vr: string, values: readonly number[]): Uint8Array {
  const size = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8, OW: 2, AT: 4 }[vr];
  if (size === undefined) throw new Error(`dicom-files: no numeric encoding for VR ${vr}`);
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    const at = i * size;
    if (vr === 'US' || vr === 'OW') view.setUint16(at, v, true);
    else if (vr === 'SS') view.setInt16(at, v, true);
    else if (vr === 'UL') view.setUint32(at, v, true);
    else if (vr === 'SL') view.setInt32(at, v, true);
    else if (vr === 'FL') view.setFloat32(at, v, true);
    else if (vr === 'FD') view.setFloat64(at, v, true);
    else {
      view.setUint16(at, v >>> 16, true);
      view.setUint16(at + 2, v & 0xffff, true);
    }
  });
  return out;
}

function valueBytes(el: Element): Uint8Array {
  const { vr, value } = el;
  if (value instanceof Uint8Array) return value.length % 2 ? concat([value, new Uint8Array(1)]) : value;
  if (typeof value === 'string') {
    const text = Buffer.from(value, 'latin1');
    if (text.length % 2 === 0) return text;
    return concat([text, Uint8Array.of(UID_VRS.has(vr) || vr === 'OB' ? 0 : 0x20)]);
  }
  if (typeof value === 'number') return numbers(vr, [value]);
  if (vr === 'SQ') {
    const items = (value as readonly Element[][]).map((item) => {
      const body = writeElements(item);
      return concat([header32(0xfffee000, body.length), body]);
    });
    return concat(items);
  }
  return numbers(vr, value as readonly number[]);
}

function header32(t: number, length: number): Uint8Array {
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint16(0, t >>> 16, true);
  v.setUint16(2, t & 0xffff, true);
  v.setUint32(4, length >>> 0, true);
  return out;
}

function elementBytes(el: Element): Uint8Array {
  const body = valueBytes(el);
  const long = LONG_VRS.has(el.vr);
  const head = new Uint8Array(long ? 12 : 8);
  const v = new DataView(head.buffer);
  v.setUint16(0, el.tag >>> 16, true);
  v.setUint16(2, el.tag & 0xffff, true);
  head[4] = el.vr.charCodeAt(0);
  head[5] = el.vr.charCodeAt(1);
  if (long) v.setUint32(8, body.length, true);
  else {
    if (body.length > 0xffff) throw new Error(`dicom-files: value too long for VR ${el.vr}`);
    v.setUint16(6, body.length, true);
  }
  return concat([head, body]);
}

export function writeElements(elements: readonly Element[]): Uint8Array {
  return concat([...elements].sort((a, b) => a.tag - b.tag).map(elementBytes));
}

/** Encapsulated pixel data (PS3.5 A.4): undefined length, empty offset table, one item per fragment. */
function encapsulated(fragments: readonly Uint8Array[]): Uint8Array {
  const head = new Uint8Array(12);
  const v = new DataView(head.buffer);
  v.setUint16(0, 0x7fe0, true);
  v.setUint16(2, 0x0010, true);
  head[4] = 0x4f; // O
  head[5] = 0x42; // B
  v.setUint32(8, 0xffffffff, true);
  const items = fragments.map((f) => {
    const even = f.length % 2 ? concat([f, new Uint8Array(1)]) : f;
    return concat([header32(0xfffee000, even.length), even]);
  });
  return concat([head, header32(0xfffee000, 0), ...items, header32(0xfffee0dd, 0)]);
}

export interface Part10 {
  transferSyntax: string;
  elements: readonly Element[];
  /** Native pixel bytes (written as OW/OB with the elements), or encapsulated fragments. */
  pixelData?: Uint8Array | { fragments: readonly Uint8Array[] };
  /** Write 128-byte preamble + DICM + meta (default) or only the data set. */
  preamble?: boolean;
  /** Deflate the data set (PS3.5 A.5); give the deflated transfer syntax with it. */
  deflate?: boolean;
}

/** A Part 10 file: preamble, "DICM", file meta group (explicit VR LE), the data set in explicit VR LE. */
export function writePart10(file: Part10): Uint8Array {
  const find = (t: number): string => {
    const v = file.elements.find((e) => e.tag === t)?.value;
    if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1').replace(/[\0 ]+$/, '');
    return typeof v === 'string' ? v : '';
  };
  const meta = writeElements([
    { tag: tag(2, 0x0001), vr: 'OB', value: Uint8Array.of(0, 1) },
    { tag: tag(2, 0x0002), vr: 'UI', value: find(tag(8, 0x0016)) },
    { tag: tag(2, 0x0003), vr: 'UI', value: find(tag(8, 0x0018)) },
    { tag: tag(2, 0x0010), vr: 'UI', value: file.transferSyntax },
    { tag: tag(2, 0x0012), vr: 'UI', value: '1.2.826.0.1.3680043.10.1471.1' },
    { tag: tag(2, 0x0013), vr: 'SH', value: 'CXRNET_TEST' },
  ]);
  const groupLength = elementBytes({ tag: tag(2, 0), vr: 'UL', value: meta.length });
  const pd = file.pixelData;
  let pixel: Uint8Array = new Uint8Array(0);
  if (pd instanceof Uint8Array) {
    const bits = file.elements.find((e) => e.tag === tag(0x28, 0x0100))?.value;
    pixel = elementBytes({ tag: tag(0x7fe0, 0x0010), vr: bits === 8 ? 'OB' : 'OW', value: pd });
  } else if (pd) {
    pixel = encapsulated(pd.fragments);
  }
  const plain = concat([writeElements(file.elements), pixel]);
  const dataset = file.deflate ? new Uint8Array(deflateRawSync(plain)) : plain;
  if (file.preamble === false) return dataset;
  const prefix = new Uint8Array(132);
  prefix.set([0x44, 0x49, 0x43, 0x4d], 128);
  return concat([prefix, groupLength, meta, dataset]);
}

export interface XrayOptions {
  width?: number;
  height?: number;
  bitsAllocated?: 8 | 16;
  bitsStored?: number;
  signed?: boolean;
  photometric?: 'MONOCHROME1' | 'MONOCHROME2';
  modality?: string;
  sopClass?: string;
  viewPosition?: string;
  frames?: number;
  seed?: number;
  positive?: boolean;
  /** Extra or overriding elements (same tag replaces). */
  extra?: readonly Element[];
  /** Leave out these tags. */
  omit?: readonly number[];
  /** Write no PixelData element. */
  noPixelData?: boolean;
  /** The 8-bit picture to store (width x height) instead of a generated one. */
  picture?: Uint8Array;
}

export interface XrayDicom {
  /** Explicit VR little endian Part 10 file. */
  bytes: Uint8Array;
  width: number;
  height: number;
  /** Stored values per pixel of frame 1 (already signed when signed). */
  stored: Int32Array;
  /** The 8-bit picture the values were made from (stored = f(picture)). */
  picture: Uint8Array;
}

/**
 * A synthetic chest X-ray as a CR image. 8-bit: the picture itself. Wider BitsStored: the picture
 * spread over the stored range with low-bit texture, so lossless codecs are tested on every bit;
 * signed: shifted to centre on zero.
 */
export function xrayDicom(opts: XrayOptions = {}): XrayDicom {
  const width = opts.width ?? 256;
  const height = opts.height ?? 320;
  const bitsAllocated = opts.bitsAllocated ?? 8;
  const bitsStored = opts.bitsStored ?? bitsAllocated;
  const signed = opts.signed ?? false;
  const frames = opts.frames ?? 1;
  const side = Math.max(width, height);
  let picture = opts.picture;
  if (picture && picture.length !== width * height) throw new Error('dicom-files: picture must be width x height');
  if (!picture) {
    const square = syntheticXray(side, opts.positive ?? true, opts.seed ?? 7);
    picture = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) picture[y * width + x] = square[y * side + x]!;
  }

  const n = width * height;
  const stored = new Int32Array(n);
  const max = 2 ** bitsStored - 1;
  const offset = signed ? 2 ** (bitsStored - 1) : 0;
  for (let i = 0; i < n; i++) {
    const spread = bitsStored === 8 ? picture[i]! : Math.min(max, Math.round((picture[i]! / 255) * (max - 15)) + ((i * 7919) % 16));
    stored[i] = spread - offset;
  }
  const bytesPer = bitsAllocated / 8;
  const pixels = new Uint8Array(n * bytesPer * frames);
  const view = new DataView(pixels.buffer);
  for (let f = 0; f < frames; f++) {
    for (let i = 0; i < n; i++) {
      // Later frames are the first one inverted, so a test can tell which frame came out.
      const v = f === 0 ? stored[i]! : max - 2 * offset - stored[i]!;
      const raw = v & ((1 << bitsStored) - 1);
      if (bytesPer === 1) pixels[f * n + i] = raw;
      else view.setUint16((f * n + i) * 2, raw, true);
    }
  }

  const base: Element[] = [
    { tag: tag(8, 0x0005), vr: 'CS', value: 'ISO_IR 100' },
    { tag: tag(8, 0x0008), vr: 'CS', value: 'ORIGINAL\\PRIMARY' },
    { tag: tag(8, 0x0016), vr: 'UI', value: opts.sopClass ?? SOP.cr },
    { tag: tag(8, 0x0018), vr: 'UI', value: PHI.instanceUid },
    { tag: tag(8, 0x0020), vr: 'DA', value: PHI.studyDate },
    { tag: tag(8, 0x0030), vr: 'TM', value: '101500' },
    { tag: tag(8, 0x0050), vr: 'SH', value: PHI.accession },
    { tag: tag(8, 0x0060), vr: 'CS', value: opts.modality ?? 'CR' },
    { tag: tag(8, 0x0070), vr: 'LO', value: 'CXRNET TEST' },
    { tag: tag(8, 0x0080), vr: 'LO', value: PHI.institution },
    { tag: tag(8, 0x0090), vr: 'PN', value: PHI.referringPhysician },
    { tag: tag(0x10, 0x0010), vr: 'PN', value: PHI.patientName },
    { tag: tag(0x10, 0x0020), vr: 'LO', value: PHI.patientId },
    { tag: tag(0x10, 0x0030), vr: 'DA', value: PHI.birthDate },
    { tag: tag(0x10, 0x0040), vr: 'CS', value: 'F' },
    { tag: tag(0x18, 0x0015), vr: 'CS', value: 'CHEST' },
    { tag: tag(0x18, 0x5101), vr: 'CS', value: opts.viewPosition ?? 'PA' },
    { tag: tag(0x20, 0x000d), vr: 'UI', value: PHI.studyUid },
    { tag: tag(0x20, 0x000e), vr: 'UI', value: PHI.seriesUid },
    { tag: tag(0x20, 0x0010), vr: 'SH', value: '4711' },
    { tag: tag(0x20, 0x0011), vr: 'IS', value: '1' },
    { tag: tag(0x20, 0x0013), vr: 'IS', value: '1' },
    { tag: tag(0x20, 0x0020), vr: 'CS', value: 'L\\F' },
    { tag: tag(0x28, 0x0002), vr: 'US', value: 1 },
    { tag: tag(0x28, 0x0004), vr: 'CS', value: opts.photometric ?? 'MONOCHROME2' },
    { tag: tag(0x28, 0x0010), vr: 'US', value: height },
    { tag: tag(0x28, 0x0011), vr: 'US', value: width },
    { tag: tag(0x28, 0x0100), vr: 'US', value: bitsAllocated },
    { tag: tag(0x28, 0x0101), vr: 'US', value: bitsStored },
    { tag: tag(0x28, 0x0102), vr: 'US', value: bitsStored - 1 },
    { tag: tag(0x28, 0x0103), vr: 'US', value: signed ? 1 : 0 },
  ];
  if (frames > 1) base.push({ tag: tag(0x28, 0x0008), vr: 'IS', value: String(frames) });
  const extra = opts.extra ?? [];
  const omit = new Set([...(opts.omit ?? []), ...extra.map((e) => e.tag)]);
  const elements = [...base.filter((e) => !omit.has(e.tag)), ...extra];
  const bytes = writePart10({ transferSyntax: TS.explicitLE, elements, ...(opts.noPixelData ? {} : { pixelData: pixels }) });
  return { bytes, width, height, stored, picture };
}

/** Runs a tool on a file in a private temporary directory and returns the output file's bytes. */
export async function transcode(
  input: Uint8Array,
  tool: string,
  args: readonly string[],
  outName = 'out.dcm',
  inName = 'in.dcm',
): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'dicom-'));
  try {
    await writeFile(join(dir, inName), input);
    await run(tool, [...args, join(dir, inName), join(dir, outName)], { maxBuffer: 16 << 20 });
    return new Uint8Array(await readFile(join(dir, outName)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A binary PGM (P5) of stored values (maxval up to 65535, big-endian samples as PGM requires). */
export function pgm(values: Int32Array, width: number, height: number, bits: number): Uint8Array {
  const wide = bits > 8;
  const head = Buffer.from(`P5\n${width} ${height}\n${2 ** bits - 1}\n`, 'latin1');
  const body = new Uint8Array(values.length * (wide ? 2 : 1));
  for (let i = 0; i < values.length; i++) {
    if (wide) {
      body[i * 2] = values[i]! >> 8;
      body[i * 2 + 1] = values[i]! & 0xff;
    } else body[i] = values[i]!;
  }
  return concat([head, body]);
}

/** A JPEG 2000 codestream made by OpenJPEG's opj_compress (lossless 5/3 unless rates are given). */
export async function openJpegCodestream(
  values: Int32Array,
  width: number,
  height: number,
  bits: number,
  lossyRate?: number,
): Promise<Uint8Array> {
  const args = lossyRate === undefined ? [] : ['-r', String(lossyRate), '-I'];
  const dir = await mkdtemp(join(tmpdir(), 'j2k-'));
  try {
    await writeFile(join(dir, 'in.pgm'), pgm(values, width, height, bits));
    await run('opj_compress', ['-i', join(dir, 'in.pgm'), '-o', join(dir, 'out.j2k'), ...args], { maxBuffer: 16 << 20 });
    return new Uint8Array(await readFile(join(dir, 'out.j2k')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** 8-bit samples of a JPEG 2000 codestream as OpenJPEG's opj_decompress decodes it (the reference decoder). */
export async function openJpegDecode8(codestream: Uint8Array): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'j2k-'));
  try {
    await writeFile(join(dir, 'in.j2k'), codestream);
    await run('opj_decompress', ['-i', join(dir, 'in.j2k'), '-o', join(dir, 'out.pgm')], { maxBuffer: 16 << 20 });
    const file = new Uint8Array(await readFile(join(dir, 'out.pgm')));
    // P5 header: magic, width, height, maxval, separated by whitespace or # comment lines (OpenJPEG writes one).
    const head = /^P5(?:\s|#[^\n]*\n)+(\d+)(?:\s|#[^\n]*\n)+(\d+)(?:\s|#[^\n]*\n)+(\d+)\s/.exec(Buffer.from(file.subarray(0, 256)).toString('latin1'));
    if (!head || Number(head[3]) > 255) throw new Error('opj_decompress did not write an 8-bit PGM');
    return file.slice(head[0].length, head[0].length + Number(head[1]) * Number(head[2]));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The same data set with encapsulated pixel data (fragments) under another transfer syntax. */
export function encapsulate(source: XrayDicom, transferSyntax: string, fragments: readonly Uint8Array[], extra: readonly Element[] = []): Uint8Array {
  const elements = readBackElements(source.bytes).filter((e) => !extra.some((x) => x.tag === e.tag));
  return writePart10({ transferSyntax, elements: [...elements, ...extra], pixelData: { fragments } });
}

/** Reads back the top-level data set elements (not pixel data) of a file this module wrote. */
function readBackElements(bytes: Uint8Array): Element[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 132;
  const out: Element[] = [];
  while (at + 8 <= bytes.length) {
    const group = view.getUint16(at, true);
    const element = view.getUint16(at + 2, true);
    const vr = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!);
    const long = LONG_VRS.has(vr);
    const length = long ? view.getUint32(at + 8, true) : view.getUint16(at + 6, true);
    const start = at + (long ? 12 : 8);
    if (group === 0x7fe0) break;
    if (group !== 2) out.push({ tag: tag(group, element), vr, value: bytes.slice(start, start + length) });
    at = start + length;
  }
  return out;
}

/** Tool presence: tests that need a tool fail under CI=true when it is missing, else skip with a reason. */
export async function haveTool(tool: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${tool}`]);
    return true;
  } catch {
    if (process.env.CI === 'true') throw new Error(`${tool} is required under CI=true (apt-get install dcmtk dicom3tools libopenjp2-tools)`);
    return false;
  }
}

/** dciodvfy's error lines for a file (warnings are ignored). */
export async function dciodvfyErrors(bytes: Uint8Array): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'dciodvfy-'));
  try {
    await writeFile(join(dir, 'f.dcm'), bytes);
    const result = await run('dciodvfy', [join(dir, 'f.dcm')]).catch((err: { stdout?: string; stderr?: string }) => ({
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    }));
    return `${result.stdout}\n${result.stderr}`.split('\n').filter((l) => l.startsWith('Error'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Window Center 128 / Width 256 (LINEAR): 8-bit stored values map to themselves, so the output is the picture. */
export const IDENTITY_WINDOW: readonly Element[] = Object.freeze([
  { tag: tag(0x28, 0x1050), vr: 'DS', value: '128' },
  { tag: tag(0x28, 0x1051), vr: 'DS', value: '256' },
]);

/**
 * A CR X-ray of one patient: the planted PHI of PHI, but PatientID `patientId` and a SOPInstanceUID
 * of its own (`instance`), an identity window (the 8-bit output is the picture itself).
 */
export function patientXray(patientId: string, instance: number, opts: XrayOptions = {}): XrayDicom {
  return xrayDicom({
    ...opts,
    extra: [
      ...IDENTITY_WINDOW,
      { tag: tag(0x10, 0x0020), vr: 'LO', value: patientId },
      { tag: tag(8, 0x0018), vr: 'UI', value: `${PHI.instanceUid}.${instance}` },
      ...(opts.extra ?? []),
    ],
  });
}
