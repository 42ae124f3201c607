/**
 * Every transfer syntax the reader supports, on files made by the real tools (dcmtk, OpenJPEG)
 * from a synthetic X-ray at 256x320 in 8 and 12 bits: lossless encodings give exactly the source's
 * stored values and output pixels, lossy ones stay within a stated mean absolute difference.
 */
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeDicom, readStoredValues, type DicomImage } from '../../../../src/imaging/dicom/index.ts';
import {
  dciodvfyErrors,
  encapsulate,
  haveTool,
  openJpegCodestream,
  transcode,
  TS,
  xrayDicom,
  type XrayDicom,
} from '../../../helpers/dicom-files.ts';

const SECRET = 'test-secret-0123456789';
const tools = await Promise.all(['dcmconv', 'dcmcjpeg', 'dcmcjpls', 'dcmcrle', 'img2dcm', 'opj_compress', 'dciodvfy'].map(haveTool));
const toolsMissing = tools.includes(false);
if (toolsMissing) console.warn('DICOM transfer-syntax tests skipped: dcmtk, dicom3tools or opj_compress not installed');

interface Encoding {
  name: string;
  syntax: string;
  /** undefined: lossless (exact); else the allowed mean absolute difference of the 8-bit output. */
  tolerance?: number;
  /** Largest error of any stored value the codec guarantees (JPEG-LS NEAR). */
  maxStoredError?: number;
  /** dciodvfy cannot read this encoding (dicom3tools has no inflater). */
  noDciodvfy?: boolean;
  make: (src: XrayDicom, bits: number) => Promise<Uint8Array>;
  bits?: readonly number[];
}

const dcm = (tool: string, ...args: string[]) => (src: XrayDicom) => transcode(src.bytes, tool, args);

const ENCODINGS: readonly Encoding[] = [
  { name: 'explicit VR little endian', syntax: TS.explicitLE, make: async (src) => src.bytes },
  { name: 'implicit VR little endian (dcmconv +ti)', syntax: TS.implicitLE, make: dcm('dcmconv', '+ti') },
  { name: 'deflated explicit VR (dcmconv +td)', syntax: TS.deflated, make: dcm('dcmconv', '+td'), noDciodvfy: true },
  { name: 'JPEG baseline (dcmcjpeg +eb)', syntax: TS.jpegBaseline, tolerance: 4, make: dcm('dcmcjpeg', '+eb'), bits: [8] },
  { name: 'JPEG extended 8-bit (dcmcjpeg +ee)', syntax: TS.jpegExtended, tolerance: 4, make: dcm('dcmcjpeg', '+ee'), bits: [8] },
  { name: 'JPEG lossless SV1 (dcmcjpeg +e1)', syntax: TS.jpegLosslessSV1, make: dcm('dcmcjpeg', '+e1') },
  { name: 'JPEG lossless SV7 (dcmcjpeg +el +sv 7)', syntax: TS.jpegLossless, make: dcm('dcmcjpeg', '+el', '+sv', '7') },
  { name: 'JPEG-LS lossless (dcmcjpls)', syntax: TS.jpegLsLossless, make: dcm('dcmcjpls', '+el') },
  // NEAR = 2 bounds every stored value's error by 2; the 8-bit output (stretched over the pixel range) by about 2.5.
  {
    name: 'JPEG-LS near-lossless (dcmcjpls +en, NEAR 2)',
    syntax: TS.jpegLsNear,
    tolerance: 2.5,
    maxStoredError: 2,
    make: dcm('dcmcjpls', '+en'),
  },
  { name: 'RLE (dcmcrle)', syntax: TS.rle, make: dcm('dcmcrle') },
  {
    name: 'JPEG 2000 lossless (opj_compress 5/3)',
    syntax: TS.j2kLossless,
    make: async (src, bits) => encapsulate(src, TS.j2kLossless, [await openJpegCodestream(src.stored, src.width, src.height, bits)]),
  },
  {
    name: 'JPEG 2000 lossy (opj_compress 9/7, rate 2)',
    syntax: TS.j2k,
    tolerance: 4,
    make: async (src, bits) => encapsulate(src, TS.j2k, [await openJpegCodestream(src.stored, src.width, src.height, bits, 2)]),
  },
];

function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

describe.skipIf(toolsMissing).each([8, 12])('%i-bit source', (bits) => {
  let src: XrayDicom;
  let reference: DicomImage;
  // Lossy encodings are compared on the 8-bit output (dcmcjpeg's lossy modes rescale the stored range,
  // which the default pixel-range VOI undoes), with the synthetic picture's noise (+-15) to encode.
  beforeAll(async () => {
    src = xrayDicom(bits === 8 ? {} : { bitsAllocated: 16, bitsStored: 12 });
    reference = await decodeDicom(src.bytes, { keySecret: SECRET });
  });

  it('the generated file is a valid CR image (dciodvfy reports no errors)', async () => {
    expect(await dciodvfyErrors(src.bytes)).toEqual([]);
    expect(reference.width).toBe(256);
    expect(reference.height).toBe(320);
  });

  for (const enc of ENCODINGS.filter((e) => !e.bits || e.bits.includes(bits))) {
    it(`${enc.name}: ${enc.tolerance === undefined ? 'exact' : `mean abs diff <= ${enc.tolerance}`}`, async () => {
      const file = await enc.make(src, bits);
      const image = await decodeDicom(file, { keySecret: SECRET });
      expect(image.header.transferSyntaxUid).toBe(enc.syntax);
      expect([image.width, image.height]).toEqual([256, 320]);
      expect(image.header.lossyImageCompression).toBe(enc.tolerance !== undefined);
      if (enc.tolerance === undefined) {
        expect(Buffer.from((await readStoredValues(file)).buffer).equals(Buffer.from(src.stored.buffer))).toBe(true);
        expect(Buffer.from(image.pixels).equals(Buffer.from(reference.pixels))).toBe(true);
      } else {
        const diff = meanAbsDiff(image.pixels, reference.pixels);
        expect(diff).toBeLessThanOrEqual(enc.tolerance);
        expect(diff).toBeGreaterThan(0); // really lossy: the test would notice a codec that ignored the data
      }
      if (enc.maxStoredError !== undefined) {
        const stored = await readStoredValues(file);
        let worst = 0;
        for (let i = 0; i < stored.length; i++) worst = Math.max(worst, Math.abs(stored[i]! - src.stored[i]!));
        expect(worst).toBeLessThanOrEqual(enc.maxStoredError);
      }
      if (!enc.noDciodvfy) expect(await dciodvfyErrors(file)).toEqual([]);
    });
  }
});

describe.skipIf(toolsMissing)('8-bit output equals the source picture when the window is the identity', () => {
  it('window 128/256 LINEAR maps 8-bit stored values to themselves, for a lossless encoding', async () => {
    const src = xrayDicom({
      extra: [
        { tag: 0x00281050, vr: 'DS', value: '128' },
        { tag: 0x00281051, vr: 'DS', value: '256' },
      ],
    });
    const file = await transcode(src.bytes, 'dcmcjpls', []);
    const image = await decodeDicom(file, { keySecret: SECRET });
    expect(image.header.voi).toBe('window-linear');
    expect(Buffer.from(image.pixels).equals(Buffer.from(src.picture))).toBe(true);
  });
});

describe.skipIf(toolsMissing)('JPEG extended with 12-bit samples', () => {
  it('is refused with 415 naming the transfer syntax (no 12-bit JPEG DCT decoder is installed)', async () => {
    const src = xrayDicom({ bitsAllocated: 16, bitsStored: 12 });
    const file = await transcode(src.bytes, 'dcmcjpeg', ['+ee']);
    await expect(decodeDicom(file, { keySecret: SECRET })).rejects.toMatchObject({
      status: 415,
      code: 'DICOM_TRANSFER_SYNTAX_UNSUPPORTED',
      message: expect.stringContaining(TS.jpegExtended),
    });
  });
});

describe.skipIf(toolsMissing)('a JPEG picture wrapped by img2dcm', () => {
  it('decodes to the pixels sharp decodes from the JPEG itself', async () => {
    const src = xrayDicom();
    const jpeg = await sharp(Buffer.from(src.picture), { raw: { width: 256, height: 320, channels: 1 } })
      .toColourspace('b-w')
      .jpeg({ quality: 90 })
      .toBuffer();
    const keys = ['(0008,0060)=CR', '(0020,0060)=', '(0028,1050)=128', '(0028,1051)=256'].flatMap((k) => ['-k', k]);
    const file = await transcode(jpeg, 'img2dcm', ['-i', 'JPEG', ...keys], 'out.dcm', 'in.jpg');
    const image = await decodeDicom(file, { keySecret: SECRET });
    expect(image.header.transferSyntaxUid).toBe(TS.jpegBaseline);
    const viaSharp = await sharp(jpeg).toColourspace('b-w').raw().toBuffer();
    expect(meanAbsDiff(image.pixels, viaSharp)).toBe(0);
    expect(await dciodvfyErrors(file)).toEqual([]);
  });
});
