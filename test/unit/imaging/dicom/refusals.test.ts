/**
 * What the reader refuses, each with a 4xx whose message names the attribute or transfer syntax,
 * and what it lets out about the patient: a de-identified header and keyed hashes, never the PHI
 * planted in the test files.
 */
import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { decodeDicom } from '../../../../src/imaging/dicom/index.ts';
import {
  encapsulate,
  haveTool,
  PHI,
  SOP,
  tag,
  transcode,
  TS,
  writePart10,
  xrayDicom,
  type Element,
} from '../../../helpers/dicom-files.ts';

const SECRET = 'test-secret-0123456789';
const decode = (bytes: Uint8Array, opts = {}) => decodeDicom(bytes, { keySecret: SECRET, ...opts });
const refused = (status: number, code: string, ...parts: string[]) =>
  expect.objectContaining({
    status,
    code,
    message: expect.stringMatching(new RegExp(parts.map((p) => p.replace(/[()[\]\\.^$*+?{}|]/g, '\\$&')).join('.*'))),
  });
const us = (t: number, value: number): Element => ({ tag: t, vr: 'US', value });

describe('refusals', () => {
  it('no PixelData', async () => {
    await expect(decode(xrayDicom({ noPixelData: true }).bytes)).rejects.toEqual(
      refused(422, 'DICOM_NOT_AN_IMAGE', '(7FE0,0010) PixelData'),
    );
  });

  it('a SOP class that is not an image (Basic Text SR)', async () => {
    const sr = xrayDicom({ sopClass: SOP.basicTextSr, modality: 'SR', noPixelData: true });
    await expect(decode(sr.bytes)).rejects.toEqual(refused(422, 'DICOM_NOT_AN_IMAGE', '(0008,0016) SOPClassUID', 'Basic Text SR'));
  });

  it('a Modality outside the accepted list (default CR, DX; configurable; null accepts any)', async () => {
    const ct = xrayDicom({ modality: 'CT' });
    await expect(decode(ct.bytes)).rejects.toEqual(refused(422, 'DICOM_MODALITY_NOT_ACCEPTED', '(0008,0060) Modality', 'CT'));
    await expect(decode(ct.bytes, { modalities: ['CT'] })).resolves.toBeTruthy();
    await expect(decode(ct.bytes, { modalities: null })).resolves.toBeTruthy();
    await expect(decode(xrayDicom({ modality: 'DX', sopClass: SOP.dx }).bytes)).resolves.toBeTruthy();
    await expect(decode(xrayDicom({ omit: [tag(8, 0x60)] }).bytes)).rejects.toEqual(
      refused(422, 'DICOM_MODALITY_NOT_ACCEPTED', '(0008,0060) Modality'),
    );
  });

  it('a lateral ViewPosition when configured', async () => {
    const lateral = xrayDicom({ viewPosition: 'LL' });
    await expect(decode(lateral.bytes)).resolves.toBeTruthy();
    await expect(decode(lateral.bytes, { refuseLateral: true })).rejects.toEqual(
      refused(422, 'DICOM_VIEW_NOT_ACCEPTED', '(0018,5101) ViewPosition', 'LL'),
    );
    await expect(decode(xrayDicom({ viewPosition: 'AP' }).bytes, { refuseLateral: true })).resolves.toBeTruthy();
  });

  it('unsupported transfer syntaxes: 415 naming the UID', async () => {
    const src = xrayDicom();
    const htj2k = encapsulate(src, '1.2.840.10008.1.2.4.201', [Uint8Array.of(0xff, 0x4f, 0xff, 0x51)]);
    await expect(decode(htj2k)).rejects.toEqual(refused(415, 'DICOM_TRANSFER_SYNTAX_UNSUPPORTED', '1.2.840.10008.1.2.4.201', 'High-Throughput'));
    const unknown = writePart10({ transferSyntax: '1.2.3.4.5', elements: [] });
    await expect(decode(unknown)).rejects.toEqual(refused(415, 'DICOM_TRANSFER_SYNTAX_UNSUPPORTED', '1.2.3.4.5', '(0002,0010)'));
    if (await haveTool('dcmconv')) {
      const bigEndian = await transcode(src.bytes, 'dcmconv', ['+tb']);
      await expect(decode(bigEndian)).rejects.toEqual(refused(415, 'DICOM_TRANSFER_SYNTAX_UNSUPPORTED', '1.2.840.10008.1.2.2'));
    }
  });

  it('pixel formats other than greyscale 8/16-bit: 415 naming the attribute', async () => {
    const rgb = xrayDicom({ extra: [{ tag: tag(0x28, 4), vr: 'CS', value: 'RGB' }] });
    await expect(decode(rgb.bytes)).rejects.toEqual(refused(415, 'UNSUPPORTED_IMAGE_FORMAT', '(0028,0004) PhotometricInterpretation', 'RGB'));
    const wide = xrayDicom({ extra: [us(tag(0x28, 0x100), 32)] });
    await expect(decode(wide.bytes)).rejects.toEqual(refused(415, 'UNSUPPORTED_IMAGE_FORMAT', '(0028,0100) BitsAllocated', '32'));
  });
});

describe('decompression bombs never reach a decoder', () => {
  const huge = [us(tag(0x28, 0x10), 60000), us(tag(0x28, 0x11), 60000)];

  it('a header claiming 60000x60000 with tiny data: 413 from the header alone, for native and every codec', async () => {
    const src = xrayDicom();
    const tiny = Uint8Array.of(0xff, 0xd8, 0xff, 0xd9);
    const files = [
      xrayDicom({ extra: huge }).bytes,
      ...[TS.jpegBaseline, TS.jpegLossless, TS.jpegLsLossless, TS.j2k, TS.rle].map((ts) => encapsulate(src, ts, [tiny], huge)),
    ];
    for (const file of files) {
      expect(file.length).toBeLessThan(200_000);
      // A decoder given this fragment would report a corrupt codestream, not the size.
      await expect(decode(file)).rejects.toEqual(refused(413, 'IMAGE_TOO_LARGE', '(0028,0010) Rows', '(0028,0011) Columns', '60000 x 60000'));
    }
  });

  it('Rows x Columns x NumberOfFrames counts every frame', async () => {
    const many = xrayDicom({ extra: [{ tag: tag(0x28, 8), vr: 'IS', value: '2000' }] });
    await expect(decode(many.bytes, { maxPixels: 50_000_000 })).rejects.toEqual(refused(413, 'IMAGE_TOO_LARGE', '(0028,0008) NumberOfFrames', '2000'));
  });

  it('a codestream declaring a bigger picture than the data set is refused before decoding', async () => {
    const src = xrayDicom();
    // SIZ: 60000x60000, one 8-bit component; the data set says 256x320.
    const siz = new Uint8Array(47);
    const v = new DataView(siz.buffer);
    v.setUint16(0, 0xff4f);
    v.setUint16(2, 0xff51);
    v.setUint16(4, 41);
    v.setUint32(8, 60000);
    v.setUint32(12, 60000);
    v.setUint32(24, 60000);
    v.setUint32(28, 60000);
    v.setUint16(40, 1);
    siz[42] = 7;
    const sof = Uint8Array.of(0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0xea, 0x60, 0xea, 0x60, 1, 1, 0x11, 0);
    for (const [ts, stream] of [[TS.j2k, siz], [TS.jpegBaseline, sof]] as const) {
      await expect(decode(encapsulate(src, ts, [stream]))).rejects.toEqual(refused(422, 'IMAGE_CORRUPT', '60000x60000', '256x320'));
    }
  });

  it('a deflated data set that inflates past the limit: 413', async () => {
    const src = xrayDicom();
    const zeros: Element = { tag: tag(0x0009, 0x1010), vr: 'OB', value: new Uint8Array(8 << 20) };
    const bomb = writePart10({ transferSyntax: TS.deflated, elements: [zeros], deflate: true });
    expect(bomb.length).toBeLessThan(100_000);
    await expect(decode(bomb, { maxPixels: src.width * src.height })).rejects.toEqual(refused(413, 'IMAGE_TOO_LARGE', 'inflates'));
  });
});

describe('not DICOM, empty, truncated', () => {
  it('answers 4xx with the reason', async () => {
    await expect(decode(new Uint8Array(0))).rejects.toMatchObject({ status: 422, code: 'IMAGE_EMPTY' });
    await expect(decode(Buffer.from('\x89PNG\r\n\x1a\n0000000000000000'))).rejects.toMatchObject({ status: 422, code: 'IMAGE_CORRUPT' });
    const src = xrayDicom({ bitsAllocated: 16, bitsStored: 12 });
    await expect(decode(src.bytes.subarray(0, src.bytes.length - 1000))).rejects.toMatchObject({ status: 422, code: 'IMAGE_TRUNCATED' });
    await expect(decode(src.bytes.subarray(0, 300))).rejects.toMatchObject({ status: 422 });
  });
});

describe('PHI', () => {
  const planted = Object.values(PHI);

  it('the result carries a de-identified header and keyed hashes, and no planted identifier in any serialisation', async () => {
    const img = await decode(xrayDicom().bytes);
    expect(img.header).toMatchObject({
      modality: 'CR',
      viewPosition: 'PA',
      bodyPartExamined: 'CHEST',
      photometricInterpretation: 'MONOCHROME2',
      rows: 320,
      columns: 256,
      bitsStored: 8,
      transferSyntaxUid: TS.explicitLE,
      sopClassUid: SOP.cr,
      sopClass: 'Computed Radiography Image Storage',
    });
    const hmac = (purpose: string, value: string) =>
      createHmac('sha256', SECRET).update(`${purpose}\0${value}`).digest('hex').slice(0, 32);
    expect(img.patientKey).toBe(hmac('patient', PHI.patientId));
    expect(img.studyKey).toBe(hmac('study', PHI.studyUid));
    expect(img.instanceKey).toBe(hmac('instance', PHI.instanceUid));
    const { pixels: _pixels, ...rest } = img;
    const renderings = [JSON.stringify(rest), inspect(rest, { depth: 10, showHidden: true }), String(img.resultOnly), JSON.stringify({ ...img.resultOnly })];
    for (const text of renderings) for (const value of planted) expect(text).not.toContain(value);
    // The UIDs are there for whoever builds the result, through the methods only.
    expect(img.resultOnly.studyInstanceUid()).toBe(PHI.studyUid);
    expect(img.resultOnly.seriesInstanceUid()).toBe(PHI.seriesUid);
    expect(img.resultOnly.sopInstanceUid()).toBe(PHI.instanceUid);
  });

  it('another secret gives other keys; no PatientID gives a null key', async () => {
    const a = await decode(xrayDicom().bytes);
    const b = await decodeDicom(xrayDicom().bytes, { keySecret: 'another-secret-456789' });
    expect(b.patientKey).not.toBe(a.patientKey);
    expect((await decode(xrayDicom({ omit: [tag(0x10, 0x20)] }).bytes)).patientKey).toBeNull();
  });

  it('free text in a code-string attribute is not passed on', async () => {
    const img = await decode(xrayDicom({ extra: [{ tag: tag(0x18, 0x15), vr: 'CS', value: 'Jane Doe chest' }] }).bytes);
    expect(img.header.bodyPartExamined).toBeNull();
  });

  it('refusal messages name attributes, never their identifying values', async () => {
    const errors = await Promise.all(
      [xrayDicom({ modality: 'CT' }), xrayDicom({ noPixelData: true }), xrayDicom({ extra: [us(tag(0x28, 0x10), 60000), us(tag(0x28, 0x11), 60000)] })].map(
        (f) => decode(f.bytes).catch((e: unknown) => e as Error),
      ),
    );
    for (const err of errors) for (const value of planted) expect(`${(err as Error).message}`).not.toContain(value);
  });

  it('a short secret is a programming error', async () => {
    await expect(decodeDicom(xrayDicom().bytes, { keySecret: 'short' })).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});
