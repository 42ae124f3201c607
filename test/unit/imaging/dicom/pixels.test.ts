/**
 * The greyscale pipeline against the formulas of PS3.3 C.11 written out here independently:
 * BitsStored masking and sign extension, rescale, Modality and VOI LUT sequences, the three VOI LUT
 * functions with several window values, the pixel-range default, MONOCHROME1, and multi-frame objects.
 */
import { describe, expect, it } from 'vitest';
import { decodeDicom, readStoredValues } from '../../../../src/imaging/dicom/index.ts';
import { haveTool, tag, transcode, xrayDicom, type Element } from '../../../helpers/dicom-files.ts';

const SECRET = 'test-secret-0123456789';
const decode = (bytes: Uint8Array, opts = {}) => decodeDicom(bytes, { keySecret: SECRET, ...opts });
const haveDcmtk = (await haveTool('dcmcjpls')) && (await haveTool('dcmcrle')) && (await haveTool('dcmconv'));

const ds = (t: number, value: string): Element => ({ tag: t, vr: 'DS', value });
const cs = (t: number, value: string): Element => ({ tag: t, vr: 'CS', value });
const WC = tag(0x28, 0x1050);
const WW = tag(0x28, 0x1051);
const RI = tag(0x28, 0x1052);
const RS = tag(0x28, 0x1053);
const VOI_FN = tag(0x28, 0x1056);

const clamp8 = (y: number) => Math.min(255, Math.max(0, Math.round(y)));

/** PS3.3 C.11.2.1.2.1, output range 0..255. */
function linear(x: number, c: number, w: number): number {
  if (x <= c - 0.5 - (w - 1) / 2) return 0;
  if (x > c - 0.5 + (w - 1) / 2) return 255;
  return clamp8(((x - (c - 0.5)) / (w - 1) + 0.5) * 255);
}
/** PS3.3 C.11.2.1.3.2 */
function linearExact(x: number, c: number, w: number): number {
  if (x <= c - w / 2) return 0;
  if (x > c + w / 2) return 255;
  return clamp8(((x - c) / w + 0.5) * 255);
}
/** PS3.3 C.11.2.1.3.1 */
const sigmoid = (x: number, c: number, w: number) => clamp8(255 / (1 + Math.exp(-4 * ((x - c) / w))));

function expectMapped(pixels: Uint8Array, stored: Int32Array, f: (v: number) => number): void {
  const expected = Uint8Array.from(stored, f);
  let mismatches = 0;
  for (let i = 0; i < pixels.length; i++) if (pixels[i] !== expected[i]) mismatches++;
  expect(mismatches).toBe(0);
}

function lutSequence(t: number, first: number, bits: number, data: Uint16Array, signedFirst = false): Element {
  const bytes = new Uint8Array(data.buffer.slice(0));
  return {
    tag: t,
    vr: 'SQ',
    value: [
      [
        { tag: tag(0x28, 0x3002), vr: signedFirst ? 'SS' : 'US', value: [data.length === 65536 ? 0 : data.length, first, bits] },
        { tag: tag(0x28, 0x3006), vr: 'OW', value: bytes },
      ],
    ],
  };
}

describe('stored values', () => {
  it('masks to BitsStored: junk above HighBit (old overlay bits) does not reach the picture', async () => {
    const src = xrayDicom({ bitsAllocated: 16, bitsStored: 12 });
    const bytes = src.bytes.slice();
    const n = src.width * src.height;
    const start = bytes.length - n * 2;
    for (let i = 0; i < n; i++) bytes[start + i * 2 + 1]! |= 0xa0;
    expect(Buffer.from((await readStoredValues(bytes)).buffer).equals(Buffer.from(src.stored.buffer))).toBe(true);
  });

  it('sign-extends signed 12-bit values (PixelRepresentation 1) in native, RLE and JPEG-LS encodings', async () => {
    const src = xrayDicom({ bitsAllocated: 16, bitsStored: 12, signed: true });
    expect(Math.min(...src.stored)).toBeLessThan(-1000);
    const files = [src.bytes];
    if (haveDcmtk) files.push(await transcode(src.bytes, 'dcmcrle', []), await transcode(src.bytes, 'dcmcjpls', []));
    for (const file of files) {
      expect(Buffer.from((await readStoredValues(file)).buffer).equals(Buffer.from(src.stored.buffer))).toBe(true);
    }
  });
});

describe('Modality LUT', () => {
  it('applies RescaleSlope/Intercept before the window (first of several window values)', async () => {
    const src = xrayDicom({
      bitsAllocated: 16,
      bitsStored: 12,
      extra: [ds(RS, '0.5'), ds(RI, '-1024'), ds(WC, '-500\\40'), ds(WW, '700\\400')],
    });
    const img = await decode(src.bytes);
    expect(img.header.voi).toBe('window-linear');
    expectMapped(img.pixels, src.stored, (v) => linear(v * 0.5 - 1024, -500, 700));
  });

  it('applies a Modality LUT Sequence (here an inverting LUT) and then the pixel range', async () => {
    const data = Uint16Array.from({ length: 4096 }, (_, i) => 4095 - i);
    const src = xrayDicom({ bitsAllocated: 16, bitsStored: 12, extra: [lutSequence(tag(0x28, 0x3000), 0, 12, data)] });
    const img = await decode(src.bytes);
    const out = src.stored.map((v) => 4095 - v);
    const lo = Math.min(...out);
    const hi = Math.max(...out);
    expectMapped(img.pixels, src.stored, (v) => clamp8(((4095 - v - lo) / (hi - lo)) * 255));
  });
});

describe('VOI LUT', () => {
  const base = { bitsAllocated: 16 as const, bitsStored: 12 };

  it('LINEAR_EXACT', async () => {
    const src = xrayDicom({ ...base, extra: [ds(WC, '2000'), ds(WW, '1500'), cs(VOI_FN, 'LINEAR_EXACT')] });
    const img = await decode(src.bytes);
    expect(img.header.voi).toBe('window-linear-exact');
    expectMapped(img.pixels, src.stored, (v) => linearExact(v, 2000, 1500));
  });

  it('SIGMOID', async () => {
    const src = xrayDicom({ ...base, extra: [ds(WC, '1800\\1000'), ds(WW, '900\\10'), cs(VOI_FN, 'SIGMOID')] });
    const img = await decode(src.bytes);
    expect(img.header.voi).toBe('window-sigmoid');
    expectMapped(img.pixels, src.stored, (v) => sigmoid(v, 1800, 900));
  });

  it('a signed image with rescale and LINEAR window', async () => {
    const src = xrayDicom({ ...base, signed: true, extra: [ds(RS, '2'), ds(RI, '100'), ds(WC, '0'), ds(WW, '3000')] });
    const img = await decode(src.bytes);
    expectMapped(img.pixels, src.stored, (v) => linear(v * 2 + 100, 0, 3000));
  });

  it('a VOI LUT Sequence (16-bit entries scaled to 8 bits)', async () => {
    const data = Uint16Array.from({ length: 4096 }, (_, i) => Math.round(Math.sqrt(i / 4095) * 65535));
    const src = xrayDicom({ ...base, extra: [lutSequence(tag(0x28, 0x3010), 0, 16, data)] });
    const img = await decode(src.bytes);
    expect(img.header.voi).toBe('voi-lut-sequence');
    expectMapped(img.pixels, src.stored, (v) => clamp8((data[v]! / 65535) * 255));
  });

  it('a VOI LUT Sequence whose first mapped value is above the smallest pixels clamps to the first entry', async () => {
    const data = Uint16Array.from({ length: 1024 }, (_, i) => i * 4);
    const src = xrayDicom({ ...base, extra: [lutSequence(tag(0x28, 0x3010), 1000, 12, data)] });
    const img = await decode(src.bytes);
    expectMapped(img.pixels, src.stored, (v) => clamp8((data[Math.min(1023, Math.max(0, v - 1000))]! / 4095) * 255));
  });

  it('none given: the pixel range is stretched over 0..255', async () => {
    const src = xrayDicom(base);
    const img = await decode(src.bytes);
    expect(img.header.voi).toBe('pixel-range');
    const lo = Math.min(...src.stored);
    const hi = Math.max(...src.stored);
    expectMapped(img.pixels, src.stored, (v) => clamp8(((v - lo) / (hi - lo)) * 255));
    expect(Math.min(...img.pixels)).toBe(0);
    expect(Math.max(...img.pixels)).toBe(255);
  });

  it('MONOCHROME1 is inverted after the VOI LUT', async () => {
    const extra = [ds(WC, '2000'), ds(WW, '3000')];
    const m2 = await decode(xrayDicom({ ...base, extra }).bytes);
    const m1 = await decode(xrayDicom({ ...base, extra, photometric: 'MONOCHROME1' }).bytes);
    expect(m1.header.photometricInterpretation).toBe('MONOCHROME1');
    expectMapped(m1.pixels, Int32Array.from(m2.pixels), (v) => 255 - v);
  });
});

describe('multi-frame objects', () => {
  it('give their first frame, or 422 naming NumberOfFrames when strict', async () => {
    const single = await decode(xrayDicom().bytes);
    const multi = xrayDicom({ frames: 3 });
    const first = await decode(multi.bytes);
    expect(first.header.numberOfFrames).toBe(3);
    expect(Buffer.from(first.pixels).equals(Buffer.from(single.pixels))).toBe(true);
    await expect(decode(multi.bytes, { strictSingleFrame: true })).rejects.toMatchObject({
      status: 422,
      code: 'DICOM_MULTI_FRAME',
      message: expect.stringContaining('(0028,0008) NumberOfFrames'),
    });
  });

  it.skipIf(!haveDcmtk)('encapsulated: with an offset table, and with several fragments per frame and none', async () => {
    const src = xrayDicom({ frames: 3, bitsAllocated: 16, bitsStored: 12 });
    const withTable = await transcode(src.bytes, 'dcmcjpls', []);
    const fragmented = await transcode(src.bytes, 'dcmcjpls', ['-ot', '+fs', '8']);
    const rle = await transcode(src.bytes, 'dcmcrle', ['-ot']);
    for (const file of [withTable, fragmented, rle]) {
      expect(Buffer.from((await readStoredValues(file)).buffer).equals(Buffer.from(src.stored.buffer))).toBe(true);
    }
  });
});

describe('files without the Part 10 preamble', () => {
  it('a bare explicit VR data set is read', async () => {
    const src = xrayDicom({ extra: [ds(WC, '128'), ds(WW, '256')] });
    // Strip preamble and meta: the data set starts after the file meta group.
    const metaLength = new DataView(src.bytes.buffer).getUint32(140, true);
    const bare = src.bytes.subarray(144 + metaLength);
    const img = await decode(bare);
    expect(img.header.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
    expect(Buffer.from(img.pixels).equals(Buffer.from(src.picture))).toBe(true);
  });

  it.skipIf(!haveDcmtk)('a bare implicit VR data set (dcmconv -F +ti) is read', async () => {
    const src = xrayDicom({ extra: [ds(WC, '128'), ds(WW, '256')] });
    const bare = await transcode(src.bytes, 'dcmconv', ['-F', '+ti']);
    expect(bare[128] === 0x44 && bare[129] === 0x49).toBe(false);
    const img = await decode(bare);
    expect(img.header.transferSyntaxUid).toBe('1.2.840.10008.1.2');
    expect(Buffer.from(img.pixels).equals(Buffer.from(src.picture))).toBe(true);
  });
});
