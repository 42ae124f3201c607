/**
 * DICOM in over STOW-RS, results out as JSON, FHIR R4 and DICOM SR: the real composition
 * (composeApi, as the api process builds it) with a tiny trained model in a fresh DATA_DIR, real
 * Redis, real HTTP, real tfjs, and the real tools (dsrdump, dciodvfy, the FHIR R4 JSON schema).
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import sharp from 'sharp';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeApi, type ComposedApi } from '../../src/compose.ts';
import { loadConfig } from '../../src/config.ts';
import { decodeDicom } from '../../src/imaging/dicom/index.ts';
import { initEngine } from '../../src/ml/engine.ts';
import { createModelRegistry } from '../../src/storage/model-registry.ts';
import { assertContractHeld, buildCheckedApp } from '../helpers/contract.ts';
import { dciodvfyErrors, haveTool, PHI, SOP, xrayDicom } from '../helpers/dicom-files.ts';
import { attribute, dcmdump, dsrdump } from '../helpers/dicom-sr-tools.ts';
import { fhirErrors } from '../helpers/fhir.ts';
import { METADATA, trainTinyModel } from '../helpers/predict-harness.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { freshUids, stowBody, xrayWithUids } from '../helpers/stow.ts';

const SECRET = 'results-test-secret-0123456789abcdef';

type DicomJson = Record<string, { vr: string; Value?: Record<string, { vr: string; Value?: unknown[] }>[] }>;

interface Running {
  api: ComposedApi;
  app: FastifyInstance;
  http: supertest.Agent;
  url: string;
}

async function start(dataDir: string, env: Record<string, string>): Promise<Running> {
  const config = loadConfig({
    DATA_DIR: dataDir,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: uniquePrefix(import.meta.url),
    LOG_LEVEL: 'silent',
    MAX_IMAGES_PER_REQUEST: '4',
    ...env,
  });
  const api = composeApi(config, await initEngine(), pino({ level: 'silent' }));
  await api.start();
  const app = await buildCheckedApp({ ...api.deps, logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  return { api, app, http: supertest.agent(app.server), url: `http://127.0.0.1:${port}` };
}

async function stop(r: Running | undefined): Promise<void> {
  if (!r) return;
  await r.app.close();
  await r.api.close();
}

const stow = (r: Running, instances: Uint8Array[], opts?: { type?: string }) => {
  const { body, contentType } = stowBody(instances, opts);
  return r.http.post('/dicomweb/studies').set('content-type', contentType).set('accept', 'application/dicom+json').send(body);
};

const stored = (body: DicomJson) => body['00081199']?.Value ?? [];
const failed = (body: DicomJson) => body['00081198']?.Value ?? [];
const first = (item: Record<string, { Value?: unknown[] }>, key: string) => item[key]?.Value?.[0];

/** The response body of a binary answer (supertest buffers only some types by itself). */
const binary = (res: supertest.Response) => res.body as Buffer;
const buffered = (req: supertest.Test) =>
  req.buffer(true).parse((res, done) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => done(null, Buffer.concat(chunks)));
  });

let dataDir: string;
let model: Awaited<ReturnType<typeof trainTinyModel>>;
let on: Running;
let off: Running | undefined;
let tools = false;

beforeAll(async () => {
  tools = (await haveTool('dsrdump')) && (await haveTool('dciodvfy'));
  dataDir = await mkdtemp(path.join(tmpdir(), 'cxr-results-stow-'));
  const registry = createModelRegistry({ dataDir, defaultModel: 'chestxraynet' });
  model = await trainTinyModel();
  await registry.publish('chestxraynet', model, { ...METADATA });
  on = await start(dataDir, { RESULTS_KEY_SECRET: SECRET });
}, 90_000);

afterAll(async () => {
  await stop(on);
  await stop(off);
  assertContractHeld();
  await rm(dataDir, { recursive: true, force: true });
});

describe('STOW-RS in, results out', () => {
  const study = freshUids().study;
  const negativeUids = freshUids(study);
  const positive = xrayWithUids(freshUids(study), { positive: true, seed: 11 });
  const negative = xrayWithUids(negativeUids, { positive: false, seed: 12 });
  let urls: string[] = [];

  it('stores every instance as a result and answers the PS3.18 store response (200)', async () => {
    const res = await stow(on, [positive.bytes, negative.bytes]);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/dicom\+json/);
    const body = JSON.parse(res.text) as DicomJson;
    expect(failed(body)).toEqual([]);
    const items = stored(body);
    expect(items).toHaveLength(2);
    for (const item of items) expect(first(item, '00081150')).toBe(SOP.cr);
    urls = items.map((i) => String(first(i, '00081190')));
    for (const u of urls) expect(u).toMatch(new RegExp(`^${on.url}/v1/results/res_[a-z2-7]{16}$`));
  });

  it('gives the probability POST /v1/predict gives for the decoded frame as a PNG (one preprocessing path)', async () => {
    for (const [i, x] of [positive, negative].entries()) {
      const id = urls[i]!.split('/').pop()!;
      const result = await on.http.get(`/v1/results/${id}`);
      expect(result.status).toBe(200);
      expect(result.headers['content-type']).toMatch(/^application\/json/);
      const frame = await decodeDicom(x.bytes, { keySecret: SECRET });
      const png = await sharp(Buffer.from(frame.pixels), { raw: { width: frame.width, height: frame.height, channels: 1 } }).png().toBuffer();
      const predicted = await on.http.post('/v1/predict').set('content-type', 'image/png').send(png);
      expect(predicted.status).toBe(200);
      const p = predicted.body.predictions[0] as { probability: number; label: string; threshold: number };
      // Batches of one and of two may differ in the last float bits, nothing more.
      expect(result.body.probability).toBeCloseTo(p.probability, 6);
      expect(result.body.label).toBe(p.label);
      expect(result.body.threshold).toBe(p.threshold);
      expect(result.body.finding.code).toBe(p.label === 'PNEUMONIA' ? '233604007' : '17621005');
      expect(result.body.model).toMatchObject({ name: 'chestxraynet', version: 1 });
      expect(result.body.model.contentHash).toMatch(/^[0-9a-f]{64}$/);
      expect(result.body.source).toMatchObject({ modality: 'CR', viewPosition: 'PA', rows: 320, columns: 256 });
      expect(JSON.stringify(result.body)).not.toContain(PHI.instanceUid);
    }
  });

  it('answers a valid FHIR R4 Bundle for application/fhir+json', async () => {
    const id = urls[0]!.split('/').pop()!;
    const res = await on.http.get(`/v1/results/${id}`).set('accept', 'application/fhir+json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.headers.vary).toBe('Accept');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking FHIR JSON in assertions
    const bundle = JSON.parse(res.text) as { resourceType: string; entry: { resource: Record<string, any> }[] };
    expect(fhirErrors(bundle)).toEqual([]);
    const types = bundle.entry.map((e) => e.resource.resourceType).sort();
    expect(types).toEqual(['Device', 'DiagnosticReport', 'ImagingStudy', 'Observation', 'Patient']);
    const imaging = bundle.entry.find((e) => e.resource.resourceType === 'ImagingStudy')!.resource;
    expect(imaging.identifier[0]).toEqual({ system: 'urn:dicom:uid', value: `urn:oid:${study}` });
    expect(imaging.series[0].instance[0].sopClass.code).toBe(`urn:oid:${SOP.cr}`);
  });

  it('answers a DICOM SR for application/dicom that dsrdump and dciodvfy read without errors, the same bytes each time', async ({ skip }) => {
    if (!tools) skip();
    const id = urls[1]!.split('/').pop()!;
    const res = await buffered(on.http.get(`/v1/results/${id}`).set('accept', 'application/dicom'));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/dicom');
    const sr = binary(res);
    const again = binary(await buffered(on.http.get(`/v1/results/${id}`).set('accept', 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1')));
    expect(sr.equals(again)).toBe(true);
    const tree = await dsrdump(sr);
    expect(tree.code, tree.stderr).toBe(0);
    expect(tree.stdout).toContain('(122157,DCM,"Probability")');
    expect(await dciodvfyErrors(sr)).toEqual([]);
    const d = (await dcmdump(sr)).stdout;
    expect(attribute(d, '0010,0010')).toBe(PHI.patientName);
    expect(attribute(d, '0008,0060')).toBe('SR');
    expect(attribute(d, '0020,000d')).toBe(study);
    // The source instance, referenced in the evidence sequence and the image library.
    expect(d.split(`(0008,1155) UI [${negativeUids.instance}]`).length - 1).toBe(2);
  });

  it('answers 406 for an Accept it has no form for, 404 for unknown ids, 400 for malformed ones', async () => {
    const id = urls[0]!.split('/').pop()!;
    const notAcceptable = await on.http.get(`/v1/results/${id}`).set('accept', 'text/html');
    expect(notAcceptable.status).toBe(406);
    expect(notAcceptable.body.error.code).toBe('NOT_ACCEPTABLE');
    const lossy = await on.http.get(`/v1/results/${id}`).set('accept', 'application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50');
    expect(lossy.status).toBe(406);
    const unknown = await on.http.get('/v1/results/res_aaaaaaaaaaaaaaaa').set('accept', 'application/dicom');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('RESULT_NOT_FOUND');
    expect((await on.http.get('/v1/results/..%2F..%2Fetc')).status).toBe(400);
  });

  it('answers 202 with a FailedSOPSequence when some instances fail, 409 when all do', async () => {
    const ct = xrayWithUids(freshUids(study), { modality: 'CT', sopClass: '1.2.840.10008.5.1.4.1.1.2' });
    const good = xrayWithUids(freshUids(study), { seed: 13 });
    const mixed = await stow(on, [ct.bytes, good.bytes]);
    expect(mixed.status).toBe(202);
    const body = JSON.parse(mixed.text) as DicomJson;
    expect(stored(body)).toHaveLength(1);
    const [f] = failed(body);
    expect(first(f!, '00081197')).toBe(0xa900);
    expect(first(f!, '00081150')).toBe('1.2.840.10008.5.1.4.1.1.2');
    expect(String(first(f!, '00000902'))).toMatch(/^DICOM_MODALITY_NOT_ACCEPTED: /);

    const report = xrayDicom({ sopClass: SOP.basicTextSr, noPixelData: true });
    const lateral = xrayWithUids(freshUids(study), { viewPosition: 'LL' });
    const none = await stow(on, [Buffer.from('not dicom at all, just text'), report.bytes, lateral.bytes]);
    expect(none.status).toBe(409);
    const reasons = failed(JSON.parse(none.text) as DicomJson).map((i) => [first(i, '00081197'), String(first(i, '00000902')).split(':')[0]]);
    expect(reasons).toEqual([
      [0xc000, 'IMAGE_CORRUPT'],
      [0x0122, 'DICOM_NOT_AN_IMAGE'],
      [0xa900, 'DICOM_VIEW_NOT_ACCEPTED'],
    ]);
  });

  it('refuses other content types (415), malformed bodies (400) and too many parts (413)', async () => {
    const single = await on.http.post('/dicomweb/studies').set('content-type', 'application/dicom').send(Buffer.from(positive.bytes));
    expect(single.status).toBe(415);
    expect(single.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const json = await on.http.post('/dicomweb/studies').send({ instances: [] });
    expect(json.status).toBe(415);
    const metadata = await stow(on, [positive.bytes], { type: 'application/dicom+json' });
    expect(metadata.status).toBe(415);
    const noBoundary = await on.http.post('/dicomweb/studies').set('content-type', 'multipart/related; type="application/dicom"').send(Buffer.from('x'));
    expect(noBoundary.status).toBe(400);
    const cut = stowBody([positive.bytes]);
    const truncated = await on.http.post('/dicomweb/studies').set('content-type', cut.contentType).send(cut.body.subarray(0, 5000));
    expect(truncated.status).toBe(400);
    expect(truncated.body.error.code).toBe('BAD_REQUEST');
    const five = await stow(on, Array.from({ length: 5 }, () => positive.bytes));
    expect(five.status).toBe(413);
  });

  it('keeps no patient data in clear on disk', async () => {
    const dir = path.join(dataDir, 'results');
    const files = await readdir(dir);
    expect(files.length).toBeGreaterThanOrEqual(3);
    const all = (await Promise.all(files.map((f) => readFile(path.join(dir, f), 'utf8')))).join('\n');
    for (const value of [PHI.patientName, PHI.patientId, PHI.birthDate, PHI.accession, PHI.referringPhysician, study, PHI.instanceUid]) {
      expect(all).not.toContain(value);
    }
    expect(all).not.toMatch(/2\.25\.\d{10,}/);
  });
});

describe('POST /v1/predict with one DICOM image: the same content negotiation as the results', () => {
  const uids = freshUids();
  const x = xrayWithUids(uids, { positive: true, seed: 21 });
  const dicomPredict = (accept: string | undefined, bytes: Uint8Array = x.bytes) => {
    const req = on.http.post('/v1/predict').set('content-type', 'application/dicom');
    return accept === undefined ? req.send(Buffer.from(bytes)) : req.set('accept', accept).send(Buffer.from(bytes));
  };

  it('answers JSON predictions without Accept (nothing kept), a FHIR R4 Bundle kept as a result for application/fhir+json', async () => {
    const plain = await dicomPredict(undefined);
    expect(plain.status).toBe(200);
    expect(plain.headers['content-location']).toBeUndefined();
    const p = plain.body.predictions[0] as { probability: number; label: string };

    const res = await dicomPredict('application/fhir+json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.headers.vary).toBe('Accept');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking FHIR JSON in assertions
    const bundle = JSON.parse(res.text) as { entry: { resource: Record<string, any> }[] };
    expect(fhirErrors(bundle)).toEqual([]);
    const observation = bundle.entry.find((e) => e.resource.resourceType === 'Observation')!.resource;
    expect(observation.valueQuantity.value).toBeCloseTo(p.probability, 6);
    const report = bundle.entry.find((e) => e.resource.resourceType === 'DiagnosticReport')!.resource;
    expect(report.conclusionCode[0].coding[0].code).toBe(p.label === 'PNEUMONIA' ? '233604007' : '17621005');
    const location = String(res.headers['content-location']);
    expect(location).toMatch(/^\/v1\/results\/res_[a-z2-7]+$/);
    const kept = await on.http.get(location);
    expect(kept.status).toBe(200);
    expect(kept.body).toMatchObject({ via: 'predict', label: p.label });
    expect(kept.body.probability).toBeCloseTo(p.probability, 6);
    const again = await on.http.get(location).set('accept', 'application/fhir+json');
    expect(JSON.parse(again.text)).toEqual(bundle);
  });

  it('answers a DICOM SR for application/dicom that references the source instance', async ({ skip }) => {
    if (!tools) skip();
    const res = await buffered(dicomPredict('application/dicom'));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/dicom');
    const sr = binary(res);
    const tree = await dsrdump(sr);
    expect(tree.code, tree.stderr).toBe(0);
    expect(await dciodvfyErrors(sr)).toEqual([]);
    const d = (await dcmdump(sr)).stdout;
    expect(d).toContain(`(0008,1155) UI [${uids.instance}]`);
    const kept = await buffered(on.http.get(String(res.headers['content-location'])).set('accept', 'application/dicom'));
    expect(binary(kept).equals(sr)).toBe(true);
  });

  it('answers 406 when FHIR or SR is asked for anything but one DICOM image, JSON when the Accept also allows it', async () => {
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 90, g: 90, b: 90 } } }).png().toBuffer();
    const fhirPng = await on.http.post('/v1/predict').set('content-type', 'image/png').set('accept', 'application/fhir+json').send(png);
    expect(fhirPng.status).toBe(406);
    expect(fhirPng.body.error.code).toBe('NOT_ACCEPTABLE');
    expect(fhirPng.body.error.message).toMatch(/one DICOM image/);
    const either = await on.http.post('/v1/predict').set('content-type', 'image/png').set('accept', 'application/fhir+json, application/json;q=0.5').send(png);
    expect(either.status).toBe(200);
    expect(either.body.predictions).toHaveLength(1);
    const two = await on.http
      .post('/v1/predict')
      .set('accept', 'application/dicom')
      .attach('image', Buffer.from(x.bytes), { filename: 'a.dcm', contentType: 'application/dicom' })
      .attach('image', Buffer.from(x.bytes), { filename: 'b.dcm', contentType: 'application/dicom' });
    expect(two.status).toBe(406);
    const none = await dicomPredict('image/png');
    expect(none.status).toBe(406);
    expect(none.body.error.code).toBe('NOT_ACCEPTABLE');
    const otherSyntax = await dicomPredict('application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50');
    expect(otherSyntax.status).toBe(406);
  });

  it('refuses a bad DICOM with its catalogue 4xx whatever form is asked for', async () => {
    const truncated = x.bytes.subarray(0, Math.floor(x.bytes.length / 2));
    for (const accept of ['application/json', 'application/fhir+json', 'application/dicom']) {
      const res = await dicomPredict(accept, truncated);
      expect(res.status, accept).toBeGreaterThanOrEqual(400);
      expect(res.status, accept).toBeLessThan(500);
      expect(typeof res.body.error?.code, accept).toBe('string');
    }
  });
});

describe('without RESULTS_KEY_SECRET', () => {
  it('keeps results under a secret of its own in the data dir (0600), still readable after a restart', async () => {
    const ownDir = await mkdtemp(path.join(tmpdir(), 'cxr-results-own-'));
    try {
      await createModelRegistry({ dataDir: ownDir, defaultModel: 'chestxraynet' }).publish('chestxraynet', model, { ...METADATA });
      off = await start(ownDir, {});
      const res = await stow(off, [xrayDicom().bytes]);
      expect(res.status).toBe(200);
      const url = String(first(stored(JSON.parse(res.text) as DicomJson)[0]!, '00081190'));
      const id = url.split('/').pop()!;
      const before = await off.http.get(`/v1/results/${id}`).set('accept', 'application/json');
      expect(before.status).toBe(200);
      const kept = path.join(ownDir, 'secrets', 'results-key-secret');
      expect((await stat(kept)).mode & 0o777).toBe(0o600);
      expect((await readFile(kept, 'utf8')).trim()).toMatch(/^[0-9a-f]{64}$/);
      await stop(off);
      off = await start(ownDir, {});
      const after = await off.http.get(`/v1/results/${id}`).set('accept', 'application/json');
      expect(after.status).toBe(200);
      expect(after.body).toEqual(before.body);
    } finally {
      await stop(off);
      off = undefined;
      await rm(ownDir, { recursive: true, force: true });
    }
  });
});
