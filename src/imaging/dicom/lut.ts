/**
 * The greyscale pipeline of PS3.3 C.11 on the stored values: Modality LUT (rescale or LUT sequence),
 * VOI LUT (window with LINEAR / LINEAR_EXACT / SIGMOID, or a VOI LUT sequence, or else the range of
 * the pixels), then MONOCHROME1 inverted, giving 8-bit grey.
 */
import { AppError } from '../../errors.ts';
import type { ImagePixel } from './image-pixel.ts';
import { count, decimal, items, text, type DataSet } from './parse.ts';
import type { Samples } from './codecs/samples.ts';
import { TAGS } from './tags.ts';

export type VoiKind = 'window-linear' | 'window-linear-exact' | 'window-sigmoid' | 'voi-lut-sequence' | 'pixel-range';

/** Masks samples to BitsStored below HighBit and sign-extends when PixelRepresentation is 1. */
export function storedValues(samples: Samples, image: ImagePixel): Int32Array {
  const shift = image.highBit + 1 - image.bitsStored;
  const mask = 2 ** image.bitsStored - 1;
  const sign = image.signed ? 2 ** (image.bitsStored - 1) : Infinity;
  const full = 2 ** image.bitsStored;
  const out = new Int32Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = (samples[i]! >> shift) & mask;
    out[i] = v >= sign ? v - full : v;
  }
  return out;
}

interface Lut {
  first: number;
  data: Uint16Array;
  bits: number;
}

/** A LUT item (LUT Descriptor + LUT Data). firstSigned: the first mapped value is SS, not US. */
function readLut(item: DataSet, firstSigned: boolean, what: string): Lut {
  const desc = item.elements[TAGS.lutDescriptor.key];
  const dataEl = item.elements[TAGS.lutData.key];
  if (!desc || desc.length < 6 || !dataEl) {
    throw new AppError('IMAGE_CORRUPT', `${what} item lacks ${TAGS.lutDescriptor.label} or ${TAGS.lutData.label}`);
  }
  const entries = item.uint16(TAGS.lutDescriptor.key, 0) || 65536;
  const rawFirst = item.uint16(TAGS.lutDescriptor.key, 1)!;
  const first = firstSigned && rawFirst >= 0x8000 ? rawFirst - 0x10000 : rawFirst;
  const bits = item.uint16(TAGS.lutDescriptor.key, 2)!;
  if (bits < 1 || bits > 16) throw new AppError('IMAGE_CORRUPT', `${what} ${TAGS.lutDescriptor.label} declares ${bits}-bit entries`);
  const bytes = item.byteArray;
  const at = dataEl.dataOffset;
  const data = new Uint16Array(entries);
  const packed8 = bits <= 8 && dataEl.length === entries;
  if (dataEl.length < (packed8 ? entries : entries * 2) || at + dataEl.length > bytes.length) {
    throw new AppError('IMAGE_CORRUPT', `${what} ${TAGS.lutData.label} holds fewer than the ${entries} entries its descriptor declares`);
  }
  for (let i = 0; i < entries; i++) data[i] = packed8 ? bytes[at + i]! : bytes[at + 2 * i]! | (bytes[at + 2 * i + 1]! << 8);
  return { first, data, bits };
}

function applyLut(lut: Lut, x: number): number {
  const i = Math.round(x) - lut.first;
  return lut.data[i <= 0 ? 0 : i >= lut.data.length ? lut.data.length - 1 : i]!;
}

/** The Modality LUT; `linear`: its extremes over a range of stored values are at the range's ends. */
function modalityFunction(ds: DataSet, image: ImagePixel): { map: (stored: number) => number; linear: boolean } {
  const seq = items(ds, TAGS.modalityLutSequence);
  if (seq.length > 0) {
    const lut = readLut(seq[0]!, image.signed, TAGS.modalityLutSequence.label);
    return { map: (v) => applyLut(lut, v), linear: false };
  }
  const slope = decimal(ds, TAGS.rescaleSlope) ?? 1;
  const intercept = decimal(ds, TAGS.rescaleIntercept) ?? 0;
  if (slope === 0) throw new AppError('IMAGE_CORRUPT', `${TAGS.rescaleSlope.label} is 0`);
  return { map: (v) => v * slope + intercept, linear: true };
}

type Voi = { kind: VoiKind; map: (x: number) => number } | undefined;

/** Window Center/Width (first of several values) with the VOI LUT Function, PS3.3 C.11.2.1.2. */
function windowFunction(ds: DataSet): Voi {
  if (count(ds, TAGS.windowCenter) === 0 || count(ds, TAGS.windowWidth) === 0) return undefined;
  const c = decimal(ds, TAGS.windowCenter, 0);
  const w = decimal(ds, TAGS.windowWidth, 0);
  if (c === undefined || w === undefined) return undefined;
  const fn = text(ds, TAGS.voiLutFunction) ?? 'LINEAR';
  if (fn === 'SIGMOID') {
    if (!(w > 0)) return undefined;
    return { kind: 'window-sigmoid', map: (x) => 255 / (1 + Math.exp((-4 * (x - c)) / w)) };
  }
  if (fn === 'LINEAR_EXACT') {
    if (!(w > 0)) return undefined;
    return {
      kind: 'window-linear-exact',
      map: (x) => (x <= c - w / 2 ? 0 : x > c + w / 2 ? 255 : ((x - c) / w + 0.5) * 255),
    };
  }
  if (!(w >= 1)) return undefined;
  const lo = c - 0.5 - (w - 1) / 2;
  const hi = c - 0.5 + (w - 1) / 2;
  return {
    kind: 'window-linear',
    map: (x) => (x <= lo ? 0 : x > hi ? 255 : w === 1 ? 255 : ((x - (c - 0.5)) / (w - 1) + 0.5) * 255),
  };
}

function voiLutFunction(ds: DataSet, modalitySigned: boolean): Voi {
  const seq = items(ds, TAGS.voiLutSequence);
  if (seq.length === 0) return undefined;
  const lut = readLut(seq[0]!, modalitySigned, TAGS.voiLutSequence.label);
  const top = 2 ** lut.bits - 1;
  return { kind: 'voi-lut-sequence', map: (x) => (applyLut(lut, x) / top) * 255 };
}

export interface Greyscale {
  pixels: Uint8Array;
  voi: VoiKind;
}

/** Stored values of one frame to 8-bit display grey (0 black, 255 white). */
export function toGreyscale(stored: Int32Array, ds: DataSet, image: ImagePixel): Greyscale {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < stored.length; i++) {
    const v = stored[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const span = max - min + 1;
  const modality = modalityFunction(ds, image);
  // The output range over the values present: a LUT can map unused stored values anywhere.
  let present: Uint8Array | undefined;
  if (!modality.linear) {
    present = new Uint8Array(span);
    for (let i = 0; i < stored.length; i++) present[stored[i]! - min] = 1;
  }
  const values = new Float64Array(span);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < span; i++) {
    const m = modality.map(min + i);
    values[i] = m;
    if (!present || present[i]) {
      if (m < lo) lo = m;
      if (m > hi) hi = m;
    }
  }
  const voi = windowFunction(ds) ?? voiLutFunction(ds, lo < 0) ?? {
    kind: 'pixel-range' as const,
    map: (x: number) => (hi > lo ? ((x - lo) / (hi - lo)) * 255 : 0),
  };
  const invert = image.photometric === 'MONOCHROME1';
  const table = new Uint8Array(span);
  for (let i = 0; i < span; i++) {
    const y = Math.min(255, Math.max(0, Math.round(voi.map(values[i]!))));
    table[i] = invert ? 255 - y : y;
  }
  const pixels = new Uint8Array(stored.length);
  for (let i = 0; i < stored.length; i++) pixels[i] = table[stored[i]! - min]!;
  return { pixels, voi: voi.kind };
}
