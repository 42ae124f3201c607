/**
 * DICOM through the one preprocessing path (decodeImage / decodeXray): the same model input as the
 * PNG of the same picture, refusals and the cost estimate from the header before anything waits
 * for the decode gate or a thread, and the decoding threads themselves: bounded, replaced when
 * they fail, and the event loop answering while a 2000x2500 JPEG 2000 frame decodes.
 */
import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.ts';
import { decodeActivity, decodeImage, decodeXray, type DecodeLimits } from '../../../src/imaging/decode.ts';
import { DicomDecodePool, dicomPool } from '../../../src/imaging/dicom-pool.ts';
import { decodeDicom, DICOM_HEADER_READ_BYTES } from '../../../src/imaging/dicom/index.ts';
import { encapsulate, haveTool, openJpegCodestream, PHI, tag, transcode, TS, writePart10, xrayDicom, type Element } from '../../helpers/dicom-files.ts';

const SECRET = 'unit-test-secret-0123456789';
const IDENTITY_WINDOW: Element[] = [
  { tag: tag(0x28, 0x1050), vr: 'DS', value: '128' },
  { tag: tag(0x28, 0x1051), vr: 'DS', value: '256' },
];
const tools = await Promise.all(['dcmcjpls', 'opj_compress'].map(haveTool));
const toolsMissing = tools.includes(false);

async function failure(bytes: Uint8Array, size = 32, limits?: DecodeLimits): Promise<AppError> {
  const err = await decodeImage(bytes, size, limits).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

const pngOf = (pixels: Uint8Array, width: number, height: number) =>
  sharp(Buffer.from(pixels), { raw: { width, height, channels: 1 } }).png().toBuffer();

describe('decodeImage on DICOM', () => {
  const src = xrayDicom({ extra: IDENTITY_WINDOW });

  it('gives the model input of the PNG of the same picture, bit for bit, at every size', async () => {
    const png = await pngOf(src.picture, src.width, src.height);
    for (const size of [16, 64, 224]) {
      const fromDicom = await decodeXray(src.bytes, size);
      const fromPng = await decodeXray(png, size);
      expect(fromDicom.length).toBe(size * size);
      expect(Buffer.from(fromDicom).equals(Buffer.from(fromPng))).toBe(true);
    }
    // A picture that differs by one grey level somewhere gives different input: the comparison can fail.
    const other = Uint8Array.from(src.picture);
    for (let i = 0; i < other.length; i += 7) other[i] = Math.min(255, other[i]! + 9);
    expect(Buffer.from(await decodeXray(await pngOf(other, src.width, src.height), 64)).equals(Buffer.from(await decodeXray(src.bytes, 64)))).toBe(false);
  });

  it('says what the object is, de-identified: header subset, keyed hashes, UIDs only for the result', async () => {
    const out = await decodeImage(src.bytes, 32, { dicom: { keySecret: SECRET } });
    expect(out.format).toBe('dicom');
    const facts = out.dicom!;
    const hmac = (purpose: string, v: string) => createHmac('sha256', SECRET).update(`${purpose}\0${v}`).digest('hex').slice(0, 32);
    expect(facts.patientKey).toBe(hmac('patient', PHI.patientId));
    expect(facts.studyKey).toBe(hmac('study', PHI.studyUid));
    expect(facts.instanceKey).toBe(hmac('instance', PHI.instanceUid));
    expect(facts.header).toMatchObject({ modality: 'CR', viewPosition: 'PA', rows: 320, columns: 256, voi: 'window-linear' });
    expect(facts.resultOnly.sopInstanceUid()).toBe(PHI.instanceUid);
    expect(facts.resultOnly.studyInstanceUid()).toBe(PHI.studyUid);
    expect(facts.picture).toMatchObject({ width: 256, height: 320 });
    expect(Buffer.from(facts.picture.pixels).equals(Buffer.from(src.picture))).toBe(true);
    const shown = `${JSON.stringify({ ...out, pixels: [], dicom: { ...facts, picture: null } })}\n${inspect(out, { depth: 5 })}`;
    for (const value of Object.values(PHI)) expect(shown).not.toContain(value);
    // Another secret, other keys; no secret configured: a per-process one, stable within the process.
    const other = await decodeImage(src.bytes, 32, { dicom: { keySecret: `${SECRET}-other` } });
    expect(other.dicom!.patientKey).not.toBe(facts.patientKey);
    const a = await decodeImage(src.bytes, 32);
    const b = await decodeImage(src.bytes, 32);
    expect(a.dicom!.patientKey).toBe(b.dicom!.patientKey);
    expect(a.dicom!.patientKey).not.toBe(facts.patientKey);
  });

  it('sniffs a file without the 128-byte preamble and "DICM" as well', async () => {
    const file = xrayDicom({ extra: IDENTITY_WINDOW });
    const noPreamble = file.bytes.subarray(132);
    expect(Buffer.from(await decodeXray(noPreamble, 32)).equals(Buffer.from(await decodeXray(file.bytes, 32)))).toBe(true);
  });

  it('refuses from the header, before the decode gate or a thread is used, naming the attribute', async () => {
    const before = { gate: decodeActivity().started, threads: dicomPool.activity().started, running: dicomPool.activity().running };
    const cases: { bytes: Uint8Array; limits?: DecodeLimits; status: number; code: string; names: RegExp }[] = [
      { bytes: xrayDicom({ modality: 'CT' }).bytes, status: 422, code: 'DICOM_MODALITY_NOT_ACCEPTED', names: /\(0008,0060\) Modality CT/ },
      {
        bytes: xrayDicom({ viewPosition: 'LL' }).bytes,
        limits: { dicom: { refuseLateral: true } },
        status: 422,
        code: 'DICOM_VIEW_NOT_ACCEPTED',
        names: /\(0018,5101\) ViewPosition LL/,
      },
      {
        bytes: xrayDicom({ width: 16, height: 16, frames: 3 }).bytes,
        limits: { dicom: { strictSingleFrame: true } },
        status: 422,
        code: 'DICOM_MULTI_FRAME',
        names: /\(0028,0008\) NumberOfFrames is 3/,
      },
      {
        bytes: writePart10({ transferSyntax: TS.explicitBE, elements: [] }),
        status: 415,
        code: 'DICOM_TRANSFER_SYNTAX_UNSUPPORTED',
        names: /1\.2\.840\.10008\.1\.2\.2/,
      },
      // Rows x Columns x NumberOfFrames over the pixel limit: the 1 MB of frames is never decoded.
      {
        bytes: xrayDicom({ width: 64, height: 64, frames: 250 }).bytes,
        limits: { maxPixels: 1_000_000 },
        status: 413,
        code: 'IMAGE_TOO_LARGE',
        names: /\(0028,0010\) Rows x \(0028,0011\) Columns x \(0028,0008\) NumberOfFrames = 64 x 64 x 250/,
      },
    ];
    for (const c of cases) {
      const err = await failure(c.bytes, 32, c.limits);
      expect({ code: err.code, status: err.status }).toEqual({ code: c.code, status: c.status });
      expect(err.message).toMatch(c.names);
    }
    // A modality configured as accepted, or any modality (null), is decoded.
    expect((await decodeXray(xrayDicom({ modality: 'CT' }).bytes, 16, { dicom: { modalities: ['CT'] } })).length).toBe(256);
    expect((await decodeXray(xrayDicom({ modality: 'MG' }).bytes, 16, { dicom: { modalities: null } })).length).toBe(256);
    const after = dicomPool.activity();
    expect(decodeActivity().started - before.gate).toBe(2); // only the two accepted ones
    expect(after.started - before.threads).toBeLessThanOrEqual(1);
  });

  it('estimates the decode memory from the header and refuses a costly one (IMAGE_TOO_COSTLY) before decoding', async () => {
    const big = xrayDicom({ width: 1024, height: 1024, bitsAllocated: 16, bitsStored: 12 });
    const gate = decodeActivity().started;
    const err = await failure(big.bytes, 64, { maxDecodeBytes: 24 * 1024 * 1024 });
    expect(err.code).toBe('IMAGE_TOO_COSTLY');
    expect(err.message).toMatch(/1024x1024 16-bit DICOM image \(native\) would take about \d+ MiB of memory; the limit is 24 MiB/);
    expect(decodeActivity().started).toBe(gate);
    expect((await decodeXray(big.bytes, 64, { maxDecodeBytes: 64 * 1024 * 1024 })).length).toBe(64 * 64);
  });

  it('a header past the first MiB reserves the whole budget, and the thread still enforces the limits', async () => {
    // A 1.5 MB private element ahead of the Image Pixel module: the header read here gives up.
    const padding: Element = { tag: tag(0x0019, 0x1001), vr: 'OB', value: new Uint8Array(DICOM_HEADER_READ_BYTES + 500_000) };
    const padded = xrayDicom({ width: 64, height: 64, frames: 250, extra: [...IDENTITY_WINDOW, padding] });
    const plain = xrayDicom({ width: 64, height: 64, extra: IDENTITY_WINDOW });
    expect(Buffer.from(await decodeXray(padded.bytes, 32)).equals(Buffer.from(await decodeXray(plain.bytes, 32)))).toBe(true);
    const tooLarge = await failure(padded.bytes, 32, { maxPixels: 1_000_000 });
    expect(tooLarge.code).toBe('IMAGE_TOO_LARGE');
    const costly = await failure(padded.bytes, 32, { maxDecodeBytes: 4 * 1024 * 1024 });
    expect(costly.code).toBe('IMAGE_TOO_COSTLY');
    const ct = await failure(xrayDicom({ modality: 'CT', extra: [padding] }).bytes);
    expect(ct.code).toBe('DICOM_MODALITY_NOT_ACCEPTED');
  });

  it('maps a corrupt or truncated DICOM to 422, never a 500', async () => {
    const cut = src.bytes.subarray(0, src.bytes.length - 5000);
    expect((await failure(cut)).code).toBe('IMAGE_TRUNCATED');
    const garbled = Uint8Array.from(src.bytes);
    garbled.fill(0xff, 140, 400);
    expect((await failure(garbled)).status).toBe(422);
  });
});

describe('the decoding threads', () => {
  const pools: DicomDecodePool[] = [];
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });
  const options = { keySecret: SECRET, maxPixels: 100_000_000, modalities: null, refuseLateral: false, strictSingleFrame: false };

  it('run at most `threads` decodes at once and answer each job with its own picture', async () => {
    const pool = new DicomDecodePool({ threads: 2, idleMs: 60_000, timeoutMs: 60_000 });
    pools.push(pool);
    const files = Array.from({ length: 6 }, (_, i) => xrayDicom({ width: 96, height: 96, seed: 100 + i, extra: IDENTITY_WINDOW }));
    let peak = 0;
    const jobs = files.map((f) => pool.decode(f.bytes, options, 32, 256 << 20));
    const sampler = setInterval(() => (peak = Math.max(peak, pool.activity().running)), 1);
    const images = await Promise.all(jobs);
    clearInterval(sampler);
    images.forEach((img, i) => expect(Buffer.from(img.pixels).equals(Buffer.from(files[i]!.picture))).toBe(true));
    expect(pool.activity()).toMatchObject({ threads: 2, running: 0, waiting: 0, started: 2 });
    expect(peak).toBeLessThanOrEqual(2);
  });

  it('a decode past the timeout ends its thread with 413, and the next job gets a new thread', async () => {
    const pool = new DicomDecodePool({ threads: 1, idleMs: 60_000, timeoutMs: 1 });
    pools.push(pool);
    const big = xrayDicom({ width: 1024, height: 1024, bitsAllocated: 16, bitsStored: 12 });
    await expect(pool.decode(big.bytes, options, 32, 256 << 20)).rejects.toMatchObject({ code: 'IMAGE_TOO_COSTLY', status: 413 });
    expect(pool.activity().threads).toBe(0);
    const patient = new DicomDecodePool({ threads: 1, idleMs: 60_000, timeoutMs: 60_000 });
    pools.push(patient);
    const small = xrayDicom({ width: 32, height: 32, extra: IDENTITY_WINDOW });
    expect((await patient.decode(small.bytes, options, 32, 256 << 20)).width).toBe(32);
  });

  it('end when idle, and a later job starts a fresh one', async () => {
    const pool = new DicomDecodePool({ threads: 1, idleMs: 50, timeoutMs: 60_000 });
    pools.push(pool);
    const small = xrayDicom({ width: 32, height: 32, extra: IDENTITY_WINDOW });
    await pool.decode(small.bytes, options, 32, 256 << 20);
    const until = Date.now() + 5000;
    while (pool.activity().threads > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(pool.activity().threads).toBe(0);
    await pool.decode(small.bytes, options, 32, 256 << 20);
    expect(pool.activity().started).toBe(2);
  });
});

/** Largest gap between consecutive event-loop turns while `work` runs. */
async function maxLoopLag(work: () => Promise<unknown>): Promise<{ lagMs: number; ms: number }> {
  let last = performance.now();
  let worst = 0;
  let running = true;
  const tick = () => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  // One more turn, so a loop held until now is measured too.
  await new Promise((resolve) => setImmediate(resolve));
  running = false;
  return { lagMs: worst, ms };
}

describe.skipIf(toolsMissing)('the event loop while a 2000x2500 JPEG 2000 frame decodes', () => {
  let j2k: Uint8Array;
  beforeAll(async () => {
    const src = xrayDicom({ width: 2000, height: 2500, extra: IDENTITY_WINDOW });
    j2k = encapsulate(src, TS.j2kLossless, [await openJpegCodestream(src.stored, src.width, src.height, 8)]);
    // Warm codecs (their WebAssembly loads asynchronously on first use), here and in a thread, as in a serving process.
    const small = xrayDicom({ width: 64, height: 64 });
    const smallJ2k = encapsulate(small, TS.j2kLossless, [await openJpegCodestream(small.stored, 64, 64, 8)]);
    await decodeDicom(smallJ2k, { keySecret: SECRET });
    await decodeXray(smallJ2k, 16);
  }, 30_000);

  it('keeps answering: the loop lag stays a fraction of what the same decode on the main thread causes', async () => {
    const onMain = await maxLoopLag(() => decodeDicom(j2k, { keySecret: SECRET }));
    const offMain = await maxLoopLag(() => decodeXray(j2k, 64));
    // On the main thread the loop is held for about the whole decode; in a thread it keeps turning.
    expect(onMain.lagMs).toBeGreaterThan(onMain.ms * 0.5);
    expect(onMain.lagMs).toBeGreaterThan(150);
    expect(offMain.ms).toBeGreaterThan(onMain.lagMs * 0.5); // the thread did the same heavy work
    expect(offMain.lagMs * 4).toBeLessThan(onMain.lagMs);
  }, 30_000);
});

describe.skipIf(toolsMissing)('lossless encodings', () => {
  it('give the input of the uncompressed file (JPEG-LS through the thread)', async () => {
    const src = xrayDicom({ extra: IDENTITY_WINDOW });
    const jls = await transcode(src.bytes, 'dcmcjpls', []);
    expect(Buffer.from(await decodeXray(jls, 64)).equals(Buffer.from(await decodeXray(src.bytes, 64)))).toBe(true);
  });
});
