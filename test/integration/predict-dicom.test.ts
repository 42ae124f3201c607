/**
 * DICOM through HTTP against a really trained tiny model: a picture and its DICOM encodings (made
 * by dcmtk and OpenJPEG from generated X-rays) give the PNG's probability within 1e-6 (lossy: the
 * probability of the file as the codec's reference decoder decodes it), whichever way they are sent (application/dicom body, multipart part, base64
 * JSON), on every route an image goes in; refusals answer their catalogue 4xx naming the
 * attribute or transfer syntax; the event loop keeps answering /health/live while a 2000x2500
 * JPEG 2000 image decodes; predictDicom (for DICOM results) gives the same probabilities with the
 * de-identified facts.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encapsulate,
  haveTool,
  IDENTITY_WINDOW,
  openJpegCodestream,
  openJpegDecode8,
  patientXray,
  PHI,
  SOP,
  tag,
  transcode,
  TS,
  writePart10,
  xrayDicom,
  type XrayDicom,
} from '../helpers/dicom-files.ts';
import { startPredictHarness, trainTinyModel, type PredictHarness } from '../helpers/predict-harness.ts';
import { syntheticXray } from '../helpers/synthetic-xray.ts';

const tools = await Promise.all(['dcmconv', 'dcmcjpeg', 'dcmcjpls', 'dcmcrle', 'img2dcm', 'opj_compress'].map(haveTool));
const toolsMissing = tools.includes(false);

let h: PredictHarness;

interface Encoding {
  name: string;
  syntax: string;
  make: (src: XrayDicom) => Promise<Uint8Array>;
  /**
   * Lossy only: the file decoded by the codec's reference tool (dcmtk, OpenJPEG) and rewritten
   * uncompressed. Our decoder must give exactly its probability; the PNG's is no yardstick, since
   * the codec really changed the pixels (up to ~15 grey levels on these small pictures) and the
   * tiny model is steep enough to turn that into any difference.
   */
  reference?: (file: Uint8Array, src: XrayDicom) => Promise<Uint8Array>;
}

const dcm = (tool: string, ...args: string[]) => (src: XrayDicom) => transcode(src.bytes, tool, args);
const j2k = (syntax: string, rate?: number) => async (src: XrayDicom) =>
  encapsulate(src, syntax, [await openJpegCodestream(src.stored, src.width, src.height, 8, rate)]);

/** The same (deterministic) codestream decoded by opj_decompress, as an uncompressed file of the source's header. */
const j2kReference = (rate: number) => async (_file: Uint8Array, src: XrayDicom) => {
  const decoded = await openJpegDecode8(await openJpegCodestream(src.stored, src.width, src.height, 8, rate));
  return xrayDicom({ width: src.width, height: src.height, picture: decoded, extra: IDENTITY_WINDOW }).bytes;
};

const ENCODINGS: readonly Encoding[] = [
  { name: 'explicit VR little endian', syntax: TS.explicitLE, make: async (src) => src.bytes },
  { name: 'implicit VR little endian', syntax: TS.implicitLE, make: dcm('dcmconv', '+ti') },
  { name: 'deflated explicit VR little endian', syntax: TS.deflated, make: dcm('dcmconv', '+td') },
  { name: 'JPEG lossless SV1', syntax: TS.jpegLosslessSV1, make: dcm('dcmcjpeg', '+e1') },
  { name: 'JPEG-LS lossless', syntax: TS.jpegLsLossless, make: dcm('dcmcjpls', '+el') },
  { name: 'JPEG 2000 lossless', syntax: TS.j2kLossless, make: j2k(TS.j2kLossless) },
  { name: 'RLE lossless', syntax: TS.rle, make: dcm('dcmcrle') },
  { name: 'JPEG baseline (lossy)', syntax: TS.jpegBaseline, make: dcm('dcmcjpeg', '+eb'), reference: (f) => transcode(f, 'dcmdjpeg', []) },
  { name: 'JPEG extended 8-bit (lossy)', syntax: TS.jpegExtended, make: dcm('dcmcjpeg', '+ee'), reference: (f) => transcode(f, 'dcmdjpeg', []) },
  { name: 'JPEG-LS near-lossless', syntax: TS.jpegLsNear, make: dcm('dcmcjpls', '+en'), reference: (f) => transcode(f, 'dcmdjpls', []) },
  { name: 'JPEG 2000 lossy (rate 4)', syntax: TS.j2k, make: j2k(TS.j2k, 4), reference: j2kReference(4) },
];

const pngOf = (src: XrayDicom) => sharp(Buffer.from(src.picture), { raw: { width: src.width, height: src.height, channels: 1 } }).png().toBuffer();

async function probability(body: Uint8Array, type: string, url = '/v1/predict'): Promise<number> {
  const res = await h.http.post(url).set('content-type', type).send(Buffer.from(body));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.predictions[0].probability as number;
}

beforeAll(async () => {
  h = await startPredictHarness(import.meta.url, { env: { DICOM_REFUSE_LATERAL: 'true' } });
  await h.publish(h.config.defaultModelName, await trainTinyModel());
}, 60_000);

afterAll(async () => {
  await h?.close();
});

describe.skipIf(toolsMissing)('a picture and its DICOM encodings', () => {
  // An X-ray of each class (at the model's input size, as it was trained), and a blend of the two
  // whose probability is undecided, where a lossy codec's error shows.
  // The tiny model is retrained every run and its threads make it differ a little from run to
  // run and CPU to CPU, so the two pictures are the clearest of a few candidates of each class.
  const dicomOf = (picture: Uint8Array) => xrayDicom({ width: 64, height: 64, picture, extra: IDENTITY_WINDOW });
  const sources: XrayDicom[] = [];
  const files = new Map<string, Uint8Array[]>();
  const lossyDiffs = new Map<string, number>();
  let pngProbs: number[];
  /** The three PNGs in one request: the reference for answers to batches of three (a batch's size moves the last float bits, which the steep tiny model can turn into 1e-5 at its undecided picture). */
  let pngBatchProbs: number[];

  beforeAll(async () => {
    const clearest = async (positiveClass: boolean) => {
      let pick: { picture: Uint8Array; p: number } | undefined;
      for (let seed = 11; seed < 19; seed++) {
        const picture = syntheticXray(64, positiveClass, positiveClass ? seed : seed + 100);
        const p = await probability(await pngOf(dicomOf(picture)), 'image/png');
        if (!pick || (positiveClass ? p > pick.p : p < pick.p)) pick = { picture, p };
      }
      return pick!.picture;
    };
    const positive = await clearest(true);
    const negative = await clearest(false);
    const blend = (w: number) => positive.map((p, i) => Math.round(w * p + (1 - w) * negative[i]!));
    sources.push(dicomOf(positive), dicomOf(negative));
    // The blend nearest 0.5, by bisection on the weight of the positive picture (the trained model
    // decides where that is; a fixed sweep stepped over it when the model was steep).
    let best: { src: XrayDicom; p: number } | undefined;
    let [lo, hi] = [0, 1];
    for (let i = 0; i < 12; i++) {
      const w = (lo + hi) / 2;
      const src = dicomOf(blend(w));
      const p = await probability(await pngOf(src), 'image/png');
      if (!best || Math.abs(p - 0.5) < Math.abs(best.p - 0.5)) best = { src, p };
      if (p < 0.5) lo = w;
      else hi = w;
    }
    sources.push(best!.src);
    pngProbs = [];
    for (const src of sources) pngProbs.push(await probability(await pngOf(src), 'image/png'));
    const batch = await h.http.post('/v1/predict').send({ images: await Promise.all(sources.map(async (src) => (await pngOf(src)).toString('base64'))) });
    expect(batch.status).toBe(200);
    pngBatchProbs = (batch.body.predictions as { probability: number }[]).map((p) => p.probability);
    for (const enc of ENCODINGS) files.set(enc.name, await Promise.all(sources.map((src) => enc.make(src))));
  }, 40_000);

  it('the pictures are told apart, and one is undecided (the comparisons below have something to compare)', () => {
    expect(pngProbs[0]! - pngProbs[1]!).toBeGreaterThan(0.5);
    expect(pngProbs[2]!).toBeGreaterThan(0.05);
    expect(pngProbs[2]!).toBeLessThan(0.95);
  });

  for (const enc of ENCODINGS) {
    const claim = enc.reference
      ? 'the probability of the same file decoded by the reference tool (1e-6), the undecided picture included'
      : "the PNG's probability (1e-6), the undecided picture included";
    it(`${enc.name}: ${claim}`, async () => {
      for (const [i, file] of files.get(enc.name)!.entries()) {
        const p = await probability(file, 'application/dicom');
        const want = enc.reference ? await probability(await enc.reference(file, sources[i]!), 'application/dicom') : pngProbs[i]!;
        const diff = Math.abs(p - want);
        expect({ i, diff, within: diff <= 1e-6 }).toEqual({ i, diff, within: true });
        if (enc.reference && i === 2) lossyDiffs.set(enc.name, Math.abs(p - pngProbs[i]!));
      }
    });
  }

  it('the lossy encodings really lose something (their undecided probability moved)', () => {
    expect(lossyDiffs.size).toBe(4);
    for (const [name, d] of lossyDiffs) expect({ name, moved: d > 1e-6 }).toEqual({ name, moved: true });
  });

  it('a JPEG wrapped by img2dcm: the probability of its decoded pixels, and close to the JPEG\'s (which libjpeg shrinks on load)', async () => {
    const src = sources[0]!;
    const jpeg = await sharp(Buffer.from(src.picture), { raw: { width: src.width, height: src.height, channels: 1 } }).toColourspace('b-w').jpeg({ quality: 85 }).toBuffer();
    const keys = ['(0008,0060)=CR', '(0020,0060)=', '(0028,1050)=128', '(0028,1051)=256'].flatMap((k) => ['-k', k]);
    const file = await transcode(jpeg, 'img2dcm', ['-i', 'JPEG', ...keys], 'out.dcm', 'in.jpg');
    const fromDicom = await probability(file, 'application/dicom');
    const decoded = await sharp(jpeg).toColourspace('b-w').png().toBuffer();
    expect(Math.abs(fromDicom - (await probability(decoded, 'image/png')))).toBeLessThanOrEqual(1e-6);
    expect(Math.abs(fromDicom - (await probability(jpeg, 'image/jpeg')))).toBeLessThanOrEqual(0.03);
  });

  it('sent as multipart parts (declared application/dicom, or .dcm without a type) and as base64 JSON, in order, mixed with a PNG', async () => {
    const rle = files.get('RLE lossless')!;
    const req = h.http
      .post('/v1/predict')
      .attach('image', Buffer.from(rle[0]!), { filename: 'a.dcm', contentType: 'application/dicom' })
      .attach('image', await pngOf(sources[1]!), { filename: 'b.png', contentType: 'image/png' })
      .attach('image', Buffer.from(rle[1]!), { filename: 'c.dcm', contentType: 'application/octet-stream' });
    const res = await req;
    expect(res.status).toBe(200);
    const probs = (res.body.predictions as { probability: number }[]).map((p) => p.probability);
    [pngBatchProbs[0]!, pngBatchProbs[1]!, pngBatchProbs[1]!].forEach((want, i) => expect(Math.abs(probs[i]! - want)).toBeLessThanOrEqual(1e-6));
    const json = await h.http.post('/v1/predict').send({ images: rle.map((f) => Buffer.from(f).toString('base64')) });
    expect(json.status).toBe(200);
    (json.body.predictions as { probability: number }[]).forEach((p, i) => expect(Math.abs(p.probability - pngBatchProbs[i]!)).toBeLessThanOrEqual(1e-6));
    // The answer has the same shape as for PNG: nothing of the DICOM header in it.
    expect(Object.keys(json.body).sort()).toEqual(['model', 'predictions']);
    expect(Object.keys(json.body.predictions[0]).sort()).toEqual(['label', 'probability', 'threshold']);
  });

  it('on every route an image goes in: /predict, /v1/models/{name}/predict, /v1/explain', async () => {
    const file = files.get('JPEG-LS lossless')![0]!;
    for (const url of ['/predict', `/v1/models/${h.config.defaultModelName}/predict`]) {
      expect(Math.abs((await probability(file, 'application/dicom', url)) - pngProbs[0]!)).toBeLessThanOrEqual(1e-6);
    }
    const explain = await h.http.post('/v1/explain').set('content-type', 'application/dicom').send(Buffer.from(file));
    expect(explain.status).toBe(200);
    expect(Math.abs(explain.body.probability - pngProbs[0]!)).toBeLessThanOrEqual(1e-6);
    expect((await sharp(Buffer.from(explain.body.heatmap, 'base64')).metadata()).format).toBe('png');
    // The overlay lies over the DICOM frame in its own geometry, not the model's squashed square.
    const src = sources[0]!;
    expect(explain.body.geometry).toBe('original');
    expect(explain.body.source).toEqual({ width: src.width, height: src.height });
    expect(Math.abs(explain.body.width / explain.body.height - src.width / src.height)).toBeLessThan(0.02);
    const drawn = await sharp(Buffer.from(explain.body.heatmap, 'base64')).metadata();
    expect({ width: drawn.width, height: drawn.height }).toEqual({ width: explain.body.width, height: explain.body.height });
    const png = await h.http.post('/v1/explain').set('content-type', 'application/dicom').set('accept', 'image/png').send(Buffer.from(file));
    expect(png.status).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
  });

  it('predictDicom (what DICOM results are built from): the same probabilities, with de-identified facts', async () => {
    const file = files.get('explicit VR little endian')!;
    const out = await h.predictions.predictDicom(file, { name: h.config.defaultModelName });
    expect(out.predictions).toHaveLength(sources.length);
    out.predictions.forEach((p, i) => expect(Math.abs(p.probability - pngBatchProbs[i]!)).toBeLessThanOrEqual(1e-6));
    const facts = out.predictions[0]!.dicom;
    expect(facts.header).toMatchObject({ modality: 'CR', transferSyntaxUid: TS.explicitLE });
    expect(facts.studyKey).toMatch(/^[0-9a-f]{32}$/);
    expect(facts.resultOnly.studyInstanceUid()).toBe(PHI.studyUid);
    expect(JSON.stringify(out)).not.toContain(PHI.studyUid);
    await expect(h.predictions.predictDicom([await pngOf(sources[0]!)], { name: h.config.defaultModelName })).rejects.toMatchObject({
      status: 415,
      code: 'UNSUPPORTED_IMAGE_FORMAT',
      message: 'image: not a DICOM object (a PNG image)',
    });
  });
});

describe('DICOM refusals answer their catalogue 4xx, naming the attribute or transfer syntax', () => {
  const cases: { what: string; file: () => Promise<Uint8Array> | Uint8Array; status: number; code: string; message: RegExp }[] = [
    { what: 'a refused modality', file: () => xrayDicom({ modality: 'CT' }).bytes, status: 422, code: 'DICOM_MODALITY_NOT_ACCEPTED', message: /\(0008,0060\) Modality CT/ },
    {
      what: 'a lateral view (DICOM_REFUSE_LATERAL=true)',
      file: () => patientXray('X', 1, { viewPosition: 'LL' }).bytes,
      status: 422,
      code: 'DICOM_VIEW_NOT_ACCEPTED',
      message: /\(0018,5101\) ViewPosition LL/,
    },
    {
      what: 'a structured report',
      file: () => xrayDicom({ sopClass: SOP.basicTextSr, modality: 'SR', noPixelData: true }).bytes,
      status: 422,
      code: 'DICOM_NOT_AN_IMAGE',
      message: /\(0008,0016\) SOPClassUID .*Basic Text SR/,
    },
    {
      what: 'an unsupported transfer syntax',
      file: () => writePart10({ transferSyntax: '1.2.840.10008.1.2.4.201', elements: [{ tag: tag(8, 0x60), vr: 'CS', value: 'CR' }] }),
      status: 415,
      code: 'DICOM_TRANSFER_SYNTAX_UNSUPPORTED',
      message: /1\.2\.840\.10008\.1\.2\.4\.201 \(High-Throughput JPEG 2000/,
    },
    {
      what: 'Rows x Columns x NumberOfFrames over MAX_IMAGE_PIXELS',
      file: () => writePart10({
        transferSyntax: TS.explicitLE,
        elements: [
          { tag: tag(8, 0x16), vr: 'UI', value: SOP.cr },
          { tag: tag(8, 0x60), vr: 'CS', value: 'CR' },
          { tag: tag(0x28, 0x02), vr: 'US', value: 1 },
          { tag: tag(0x28, 0x04), vr: 'CS', value: 'MONOCHROME2' },
          { tag: tag(0x28, 0x08), vr: 'IS', value: '40' },
          { tag: tag(0x28, 0x10), vr: 'US', value: 60000 },
          { tag: tag(0x28, 0x11), vr: 'US', value: 60000 },
          { tag: tag(0x28, 0x100), vr: 'US', value: 16 },
          { tag: tag(0x28, 0x101), vr: 'US', value: 12 },
        ],
        pixelData: new Uint8Array(64),
      }),
      status: 413,
      code: 'IMAGE_TOO_LARGE',
      message: /60000 x 60000 x 40/,
    },
    { what: 'a truncated file', file: () => xrayDicom().bytes.subarray(0, 3000), status: 422, code: 'IMAGE_TRUNCATED', message: /truncated/ },
  ];
  for (const c of cases) {
    it(`${c.what}: ${c.status} ${c.code}`, async () => {
      const res = await h.http.post('/v1/predict').set('content-type', 'application/dicom').send(Buffer.from(await c.file()));
      expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: c.status, code: c.code });
      expect(res.body.error.message).toMatch(c.message);
      expect(res.body.error.details).toMatchObject({ index: 0 });
    });
  }

  it('names the failing image of several', async () => {
    const ok = patientXray('X', 2).bytes;
    const res = await h.http
      .post('/v1/predict')
      .attach('image', Buffer.from(ok), { filename: 'a.dcm', contentType: 'application/dicom' })
      .attach('image', Buffer.from(xrayDicom({ modality: 'MR' }).bytes), { filename: 'b.dcm', contentType: 'application/dicom' });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'DICOM_MODALITY_NOT_ACCEPTED', details: { index: 1 } });
    expect(res.body.error.message).toMatch(/^image 1: \(0008,0060\) Modality MR is not accepted; accepted: CR, DX$/);
  });
});

describe.skipIf(toolsMissing)('while a 2000x2500 JPEG 2000 image decodes', () => {
  it('/health/live keeps answering in a fraction of the decode time', async () => {
    const src = xrayDicom({ width: 2000, height: 2500, seed: 3, extra: IDENTITY_WINDOW });
    const file = encapsulate(src, TS.j2kLossless, [await openJpegCodestream(src.stored, src.width, src.height, 8)]);
    const started = performance.now();
    let done = false;
    const predicted = h.http
      .post('/v1/predict')
      .set('content-type', 'application/dicom')
      .send(Buffer.from(file))
      .then((res) => {
        done = true;
        return res;
      });
    const latencies: number[] = [];
    while (!done) {
      const t = performance.now();
      const live = await fetch(`http://127.0.0.1:${(h.app.server.address() as { port: number }).port}/health/live`);
      expect(live.status).toBe(200);
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 10));
    }
    const predictMs = performance.now() - started;
    expect((await predicted).status).toBe(200);
    expect(latencies.length).toBeGreaterThan(3);
    // Were the decode on the event loop, one health check would wait about the whole decode.
    expect(Math.max(...latencies)).toBeLessThan(predictMs / 3);
  }, 30_000);
});
