/**
 * A real PACS: Debian's Orthanc with its DICOMweb plugin (own ports, own storage) behind
 * RESULTS_DICOMWEB_URL. The service (the real composition, a tiny trained model, real Redis and
 * its results-forward queue) starts while Orthanc is down; the instances POSTed then are analysed,
 * their SRs wait in the queue and arrive once Orthanc is up. They are read back through Orthanc's
 * QIDO-RS and WADO-RS (so Orthanc accepted and parsed them) and checked with dsrdump and dciodvfy.
 * Orthanc and the DICOM tools are required: missing, the test fails saying what to install.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeApi, type ComposedApi } from '../../src/compose.ts';
import { loadConfig } from '../../src/config.ts';
import { COMPREHENSIVE_SR_SOP_CLASS } from '../../src/imaging/dicom-sr/sr.ts';
import { initEngine } from '../../src/ml/engine.ts';
import { RESULT_FORWARD_QUEUE } from '../../src/queue/result-forward-queue.ts';
import { createModelRegistry } from '../../src/storage/model-registry.ts';
import { assertContractHeld, buildCheckedApp } from '../helpers/contract.ts';
import { dciodvfyErrors, PHI } from '../helpers/dicom-files.ts';
import { attribute, dcmdump, dsrdump, runOnFile } from '../helpers/dicom-sr-tools.ts';
import { createOrthanc, multipartParts, requireOrthanc, type Orthanc } from '../helpers/orthanc.ts';
import { METADATA, trainTinyModel, waitFor } from '../helpers/predict-harness.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { freshUids, stowBody, xrayWithUids, type InstanceUids } from '../helpers/stow.ts';

const SECRET = 'results-orthanc-secret-0123456789abcdef';
const PREFIX = uniquePrefix(import.meta.url);
const DICOM_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*';

type DicomJson = Record<string, { vr: string; Value?: unknown[] }>;
const value = (item: DicomJson | undefined, key: string) => item?.[key]?.Value?.[0];

let dataDir: string;
let orthanc: Orthanc | undefined;
let api: ComposedApi | undefined;
let app: FastifyInstance | undefined;
let http: supertest.Agent;
let redis: Redis | undefined;
let queue: Queue | undefined;

const buffered = (req: supertest.Test) =>
  req.buffer(true).parse((res, done) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => done(null, Buffer.concat(chunks)));
  });

/** POSTs instances to the service's STOW-RS endpoint; the result ids of the stored ones. */
async function stowToService(instances: Uint8Array[]): Promise<string[]> {
  const { body, contentType } = stowBody(instances);
  const res = await http.post('/dicomweb/studies').set('content-type', contentType).set('accept', 'application/dicom+json').send(body);
  expect(res.status, res.text).toBe(200);
  const answer = JSON.parse(res.text) as Record<string, { Value?: DicomJson[] }>;
  expect(answer['00081198']?.Value ?? []).toEqual([]);
  const items = answer['00081199']?.Value ?? [];
  expect(items).toHaveLength(instances.length);
  return items.map((i) => String(value(i, '00081190')).split('/').pop()!);
}

/** The forward job of a result, as the queue holds it. */
async function forwardJob(resultId: string) {
  const job = await queue!.getJob(`fwd-${resultId}`);
  if (!job) throw new Error(`no forward job for ${resultId}`);
  return { state: await job.getState(), attemptsMade: job.attemptsMade, failedReason: job.failedReason };
}

/** GET from Orthanc, as JSON. */
async function orthancJson<T>(route: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${orthanc!.url}${route}`, { headers: { accept: 'application/dicom+json' } });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

/** The SR the service answers for a result (GET /v1/results/:id, Accept application/dicom) and its UIDs. */
async function serviceSr(resultId: string) {
  const res = await buffered(http.get(`/v1/results/${resultId}`).set('accept', 'application/dicom'));
  expect(res.status).toBe(200);
  const bytes = res.body as Buffer;
  const dump = (await dcmdump(bytes)).stdout;
  return { bytes, study: attribute(dump, '0020,000d')!, series: attribute(dump, '0020,000e')!, instance: attribute(dump, '0008,0018')! };
}

/** Checks that Orthanc holds the SR of `resultId` (made from `source`) and answers it over DICOMweb, intact. */
async function expectInOrthanc(resultId: string, source: InstanceUids): Promise<void> {
  const sr = await serviceSr(resultId);
  expect(sr.study).toBe(source.study);
  expect(sr.series).toMatch(/^[0-9.]+$/);
  expect(sr.series).not.toBe(source.series);
  expect(sr.instance).not.toBe(source.instance);

  // QIDO-RS: the SR's own series, modality SR, in the source's study.
  const series = await orthancJson<DicomJson[]>(`/dicom-web/studies/${source.study}/series?SeriesInstanceUID=${sr.series}`);
  expect(series.status).toBe(200);
  expect(series.body).toHaveLength(1);
  expect(value(series.body[0], '00080060')).toBe('SR');
  expect(value(series.body[0], '0020000D')).toBe(source.study);
  const instances = await orthancJson<DicomJson[]>(`/dicom-web/studies/${source.study}/series/${sr.series}/instances`);
  expect(instances.status).toBe(200);
  expect(instances.body).toHaveLength(1);
  expect(value(instances.body[0], '00080018')).toBe(sr.instance);
  expect(value(instances.body[0], '00080016')).toBe(COMPREHENSIVE_SR_SOP_CLASS);

  // Orthanc parsed the document: its metadata holds the content tree, with the planted patient.
  const metadata = await orthancJson<DicomJson[]>(`/dicom-web/studies/${source.study}/series/${sr.series}/instances/${sr.instance}/metadata`);
  expect(metadata.status).toBe(200);
  expect(metadata.body).toHaveLength(1);
  const meta = metadata.body[0]!;
  expect(value(meta, '0040A730')).toBeDefined();
  expect(value(meta, '0040A491')).toBe('COMPLETE');
  expect((value(meta, '00100010') as { Alphabetic?: string } | undefined)?.Alphabetic).toBe(PHI.patientName);

  // WADO-RS: the stored bytes, as the service made them.
  const res = await fetch(`${orthanc!.dicomweb}/studies/${source.study}/series/${sr.series}/instances/${sr.instance}`, { headers: { accept: DICOM_ACCEPT } });
  expect(res.status).toBe(200);
  const parts = multipartParts(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type') ?? '');
  expect(parts).toHaveLength(1);
  expect(parts[0]!.headers).toMatch(/content-type:\s*application\/dicom/i);
  const fetched = parts[0]!.body;
  expect(fetched.equals(sr.bytes)).toBe(true);
  const tree = await dsrdump(fetched);
  expect(tree.code, tree.stderr).toBe(0);
  expect(tree.stderr).toBe('');
  expect(tree.stdout).toContain('(122157,DCM,"Probability")');
  expect(await dciodvfyErrors(fetched)).toEqual([]);
  // dciodvfy recognised the IOD it checked against (it names it first, on stderr).
  expect((await runOnFile('dciodvfy', [], fetched)).stderr).toMatch(/^\s*ComprehensiveSR\s*$/m);
  const dump = (await dcmdump(fetched)).stdout;
  expect(attribute(dump, '0008,0016')).toBe(COMPREHENSIVE_SR_SOP_CLASS);
  expect(attribute(dump, '0008,0018')).toBe(sr.instance);
  // The source instance, referenced in the evidence sequence and the image library.
  expect(dump.split(`(0008,1155) UI [${source.instance}]`).length - 1).toBe(2);
  // Nor did Orthanc complain about anything while storing and answering it.
  expect(orthanc!.output().split('\n').filter((l) => /^E\d{4} /.test(l))).toEqual([]);
}

async function requireTool(tool: string): Promise<void> {
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve, reject) =>
    execFile('sh', ['-c', `command -v ${tool}`], (err) => (err ? reject(new Error(`${tool} not found: this test needs dcmtk and dicom3tools (apt-get install dcmtk dicom3tools)`)) : resolve())),
  );
}

beforeAll(async () => {
  await requireOrthanc();
  await requireTool('dsrdump');
  await requireTool('dcmdump');
  await requireTool('dciodvfy');
  orthanc = await createOrthanc();
  dataDir = await mkdtemp(path.join(tmpdir(), 'cxr-results-orthanc-'));
  const registry = createModelRegistry({ dataDir, defaultModel: 'chestxraynet' });
  await registry.publish('chestxraynet', await trainTinyModel(), { ...METADATA });
  const config = loadConfig({
    DATA_DIR: dataDir,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: PREFIX,
    LOG_LEVEL: 'silent',
    RESULTS_KEY_SECRET: SECRET,
    // Orthanc is not running yet: the service starts against a PACS that is down.
    RESULTS_DICOMWEB_URL: orthanc.dicomweb,
    RESULTS_FORWARD_BACKOFF_MS: '100',
  });
  api = composeApi(config, await initEngine(), pino({ level: 'silent' }));
  await api.start();
  app = await buildCheckedApp({ ...api.deps, logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  http = supertest.agent(app.server);
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue(RESULT_FORWARD_QUEUE, { connection: redis, prefix: PREFIX });
}, 90_000);

afterAll(async () => {
  await app?.close();
  await api?.close();
  await queue?.obliterate({ force: true }).catch(() => undefined);
  await queue?.close();
  redis?.disconnect();
  await orthanc?.dispose();
  assertContractHeld();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 30_000);

describe('SRs stored to Orthanc over STOW-RS through the forward queue', () => {
  const study = freshUids().study;
  const sources = [freshUids(study), freshUids(study)];
  let ids: string[] = [];

  it('keeps the SRs of instances analysed while the PACS is down, and stores them once it is up', async () => {
    ids = await stowToService([xrayWithUids(sources[0]!, { positive: true, seed: 21 }).bytes, xrayWithUids(sources[1]!, { positive: false, seed: 22 }).bytes]);
    // Each forward failed at least once (connection refused) and waits for its retry; none gave up.
    await waitFor(async () => (await Promise.all(ids.map(forwardJob))).every((j) => j.attemptsMade >= 1), 10_000, 'failed first attempts');
    for (const id of ids) {
      const job = await forwardJob(id);
      expect(['delayed', 'waiting', 'active']).toContain(job.state);
      expect(job.failedReason).toMatch(/^PACS not reachable/);
    }
    expect(await orthancJson(`/dicom-web/studies/${study}/series`).catch((err: Error) => err.message)).toMatch(/fetch failed/);

    await orthanc!.start();
    await waitFor(async () => (await Promise.all(ids.map(forwardJob))).every((j) => j.state === 'completed'), 20_000, 'SRs stored to Orthanc');
    const series = await orthancJson<DicomJson[]>(`/dicom-web/studies/${study}/series`);
    expect(series.status).toBe(200);
    expect(series.body.map((s) => value(s, '00080060'))).toEqual(['SR', 'SR']);
  }, 40_000);

  it('Orthanc accepted and parsed each SR: QIDO-RS finds it, WADO-RS answers the same bytes, which dsrdump and dciodvfy read without errors', async () => {
    expect(ids).toHaveLength(2);
    for (const [i, id] of ids.entries()) await expectInOrthanc(id, sources[i]!);
  }, 20_000);

  it('loses nothing when Orthanc stops again: an SR made meanwhile arrives after the restart, the earlier ones are still there', async () => {
    await orthanc!.stop();
    const source = freshUids(study);
    const [id] = await stowToService([xrayWithUids(source, { seed: 23 }).bytes]);
    await waitFor(async () => (await forwardJob(id!)).attemptsMade >= 1, 10_000, 'a failed attempt');
    expect((await forwardJob(id!)).state).not.toBe('completed');
    await orthanc!.start();
    await waitFor(async () => (await forwardJob(id!)).state === 'completed', 20_000, 'the SR stored after the restart');
    await expectInOrthanc(id!, source);
    const series = await orthancJson<DicomJson[]>(`/dicom-web/studies/${study}/series`);
    expect(series.body).toHaveLength(3);
  }, 40_000);
});
