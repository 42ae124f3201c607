/**
 * External evaluations through HTTP with the real queue (Redis) and the real worker: the BullMQ
 * worker runs in this process with its SANDBOXED child (workers/processor.ts under tsx), as
 * `npm run worker` runs it. The version is trained in process first (64x64, 2 epochs, tiny
 * generated datasets); its evaluation is then recomputed here with the same functions to check
 * the worker's numbers.
 */
import { readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRAINING_PARAMS } from '../../src/domain/training-params.ts';
import { labelling, labelOf } from '../../src/domain/labelling.ts';
import { initEngine } from '../../src/ml/engine.ts';
import { evaluateModel } from '../../src/ml/evaluate.ts';
import { evaluateBinary } from '../../src/ml/metrics.ts';
import { modelInputSize } from '../../src/ml/predict.ts';
import { modelFromArtifacts } from '../../src/ml/serialize.ts';
import { EVALUATION_BATCH_SIZE, runEvaluation } from '../../src/services/evaluation-run.ts';
import { servedProbabilities } from '../../src/services/evaluation-scoring.ts';
import type { EvaluationRecord } from '../../src/services/evaluation-types.ts';
import { runTraining } from '../../src/services/training.ts';
import type { DatasetManifest } from '../../src/storage/dataset-store.ts';
import { createEvaluationStore, type EvaluationStore } from '../../src/storage/evaluation-store.ts';
import { startTrainingWorker, type TrainingWorker } from '../../workers/worker.ts';
import { datasetZip } from '../helpers/api-archives.ts';
import { startJobsHarness, type JobsHarness } from '../helpers/jobs-harness.ts';
import { freePort } from '../helpers/service-process.ts';

const MODEL = 'evalnet';
let h: JobsHarness;
let worker: TrainingWorker | undefined;
let store: EvaluationStore<EvaluationRecord>;
let trainDs: DatasetManifest;
let evalDs: DatasetManifest;
let covidDs: DatasetManifest;
const base = `/v1/models/${MODEL}/versions/1/evaluations`;
const final = (r: EvaluationRecord) => ['completed', 'failed', 'cancelled'].includes(r.status);

async function waitFor(id: string, done: (r: EvaluationRecord) => boolean = final, ms = 60_000): Promise<{ last: EvaluationRecord; seen: Set<string> }> {
  const deadline = Date.now() + ms;
  const seen = new Set<string>();
  let last: EvaluationRecord | undefined;
  while (Date.now() < deadline) {
    last = (await h.http.get(`${base}/${id}`).expect(200)).body as EvaluationRecord;
    seen.add(last.status);
    if (done(last)) return { last, seen };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`evaluation ${id} did not finish in ${ms} ms; last: ${JSON.stringify(last)}`);
}

async function startWorker(): Promise<void> {
  worker ??= startTrainingWorker({ config: h.config, logger: pino({ level: 'warn' }) });
  await worker.worker.waitUntilReady();
}

beforeAll(async () => {
  await initEngine();
  h = await startJobsHarness(import.meta.url);
  store = createEvaluationStore<EvaluationRecord>({ dataDir: h.dataDir });
  trainDs = await h.dataset({ perClass: 16 });
  evalDs = await h.dataset({ perClass: 11 });
  const zip = path.join(h.dataDir, 'covid.zip');
  await writeFile(zip, await datasetZip({ perClass: 5, size: 64, classes: ['NORMAL', 'COVID'] }));
  covidDs = await h.store.importArchive(zip, { name: 'covid', size: 64, positiveClass: 'COVID' });
  await rm(zip);
  await runTraining(
    { datasets: h.store, registry: h.registry },
    { datasetId: trainDs.id, modelName: MODEL, params: { ...DEFAULT_TRAINING_PARAMS, inputSize: 64, epochs: 2, batchSize: 8 } },
  );
}, 120_000);

afterAll(async () => {
  await worker?.shutdown();
  await h?.close();
});

describe('POST /v1/models/{name}/versions/{v}/evaluations', () => {
  let queued: EvaluationRecord;
  let doomed: EvaluationRecord;

  it('answers 202 with the queued record and its Location; while queued the dataset cannot be deleted', async () => {
    const res = await h.http.post(base).send({ datasetId: evalDs.id }).expect(202);
    queued = res.body as EvaluationRecord;
    expect(queued.id).toMatch(/^ev_[a-z2-7]{16}$/);
    expect(res.headers.location).toBe(`${base}/${queued.id}`);
    expect(queued).toMatchObject({
      model: MODEL,
      version: 1,
      status: 'queued',
      dataset: { id: evalDs.id, name: evalDs.name, contentHash: evalDs.contentHash },
      progress: { done: 0, total: evalDs.counts.images },
    });
    expect((await h.http.get(`${base}/${queued.id}`).expect(200)).body).toMatchObject({ id: queued.id, status: 'queued' });
    const del = await h.http.delete(`/v1/datasets/${evalDs.id}`).expect(409);
    expect(del.body.error.code).toBe('DATASET_IN_USE');
    // the evaluation job shares the queue but is no training job
    expect((await h.http.get('/v1/training-jobs').expect(200)).body.jobs).toEqual([]);
    expect((await h.jobs.counts()).queued).toBe(0);
  });

  it('refuses bad input before queueing anything', async () => {
    const bad = async (url: string, body: unknown, status: number, code: string) => {
      const res = await h.http.post(url).send(body as object);
      expect({ status: res.status, code: res.body.error?.code }, JSON.stringify(res.body)).toEqual({ status, code });
    };
    await bad(base, {}, 400, 'VALIDATION_FAILED');
    await bad(base, { datasetId: evalDs.id, extra: 1 }, 400, 'VALIDATION_FAILED');
    await bad(base, { datasetId: 'hospital-b' }, 400, 'VALIDATION_FAILED');
    await bad(base, { datasetId: evalDs.id, groupPattern: 'person\\d+' }, 400, 'INVALID_GROUP_PATTERN');
    await bad(base, { datasetId: evalDs.id, groupPattern: '((a+)+)' }, 400, 'INVALID_GROUP_PATTERN');
    await bad(`/v1/models/${MODEL}/versions/0x1/evaluations`, { datasetId: evalDs.id }, 400, 'VALIDATION_FAILED');
    await bad(`/v1/models/nope/versions/1/evaluations`, { datasetId: evalDs.id }, 404, 'MODEL_NOT_FOUND');
    await bad(`/v1/models/${MODEL}/versions/9/evaluations`, { datasetId: evalDs.id }, 404, 'VERSION_NOT_FOUND');
    await bad(base, { datasetId: 'ds_aaaaaaaaaaaaaaaa' }, 404, 'DATASET_NOT_FOUND');
    await bad(base, { datasetId: covidDs.id }, 422, 'DATASET_CLASSES_MISMATCH');
    const text = await h.http.post(base).set('content-type', 'text/plain').send('datasetId');
    expect(text.status).toBe(415);
    await h.http.get(`${base}/ev_1`).expect(400);
    expect((await h.http.get(`${base}/ev_aaaaaaaaaaaaaaaa`).expect(404)).body.error.code).toBe('EVALUATION_NOT_FOUND');
    expect((await h.http.get(`/v1/models/${MODEL}/versions/9/evaluations`).expect(404)).body.error.code).toBe('VERSION_NOT_FOUND');
    expect((await h.http.get(`/v1/models/nope/versions/1/evaluations`).expect(404)).body.error.code).toBe('MODEL_NOT_FOUND');
    // only the one evaluation was stored
    expect(((await h.http.get(base).expect(200)).body.evaluations as EvaluationRecord[]).map((e) => e.id)).toEqual([queued.id]);
  });

  it('a dataset removed while its evaluation waits: the evaluation fails cleanly with the reason', async () => {
    const gone = await h.dataset({ perClass: 5 });
    doomed = (await h.http.post(base).send({ datasetId: gone.id }).expect(202)).body as EvaluationRecord;
    await h.store.delete(gone.id); // behind the service's back (its delete would answer 409)
    await startWorker();
    const { last } = await waitFor(doomed.id);
    expect(last).toMatchObject({ status: 'failed', error: { code: 'DATASET_NOT_FOUND' } });
    expect(last.result).toBeUndefined();
    expect(last.finishedAt).toBeDefined();
  }, 90_000);

  it('the worker scores every image: counts are the dataset, the AUC is evaluateBinary on the served probabilities', async () => {
    await startWorker();
    const { last: done } = await waitFor(queued.id);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    const n = evalDs.counts.images;
    expect(done.progress).toEqual({ done: n, total: n });
    expect(done.startedAt).toBeDefined();
    const r = done.result!;
    expect(r.images).toBe(n);
    expect(r.patients).toBeUndefined();
    const m = r.metrics;
    expect(m.count).toBe(n);
    expect(m.confusion.tp + m.confusion.fp + m.confusion.tn + m.confusion.fn).toBe(n);
    expect({ positives: m.positives, negatives: m.negatives }).toEqual({ positives: evalDs.counts.byClass.PNEUMONIA, negatives: evalDs.counts.byClass.NORMAL });

    // The same evaluation recomputed here: weights, input size and images as the worker reads them.
    const info = await h.registry.getVersion(MODEL, 1);
    const served = labelling(info.metadata);
    const model = await modelFromArtifacts(await h.registry.loadArtifacts(MODEL, 1));
    const images = await h.store.openImages(evalDs.id, modelInputSize(model));
    try {
      const all = Array.from({ length: images.count }, (_, i) => i);
      const { probs, labels } = await evaluateModel(model, images, all, EVALUATION_BATCH_SIZE);
      const direct = evaluateBinary(servedProbabilities(probs, served), labels, served.threshold);
      expect(m.auc.value).toBeCloseTo(direct.auc.value, 12);
      expect(m.auc.low).toBeCloseTo(direct.auc.low, 12);
      expect(r.threshold).toBe(served.threshold);
      expect(r.calibrated).toBe(served.calibration !== null);
      // the decisions are the labels POST /v1/predict gives
      const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
      probs.forEach((p, i) => {
        const positive = labelOf(served, p).label === served.classNames[1];
        if (labels[i] === 1) c[positive ? 'tp' : 'fn']++;
        else c[positive ? 'fp' : 'tn']++;
      });
      expect(m.confusion).toEqual(c);
    } finally {
      model.dispose();
      await images.close();
    }
    // the dataset is free again
    expect(await h.jobs.datasetInUse(evalDs.id)).toBe(false);
  }, 90_000);

  it('counts patients with a group pattern', async () => {
    const rec = (await h.http.post(base).send({ datasetId: evalDs.id, groupPattern: '(img-\\d)' }).expect(202)).body as EvaluationRecord;
    expect(rec.groupPattern).toBe('(img-\\d)');
    const { last } = await waitFor(rec.id);
    expect(last.status, JSON.stringify(last.error)).toBe('completed');
    // generated names are NORMAL/img-0..10.png and PNEUMONIA/img-0..10.png: img-0 .. img-9 name ten "patients", img-10 too
    const sources = (await h.store.get(evalDs.id)).images.map((i) => /(img-\d)/.exec(i.source)![1]);
    expect(last.result!.patients).toBe(new Set(sources).size);
    expect(last.result!.patients).toBe(10);
    expect(last.result!.grouping).toEqual({ pattern: '(img-\\d)', matched: evalDs.counts.images, unmatched: 0 });
  }, 60_000);

  it('lists newest first, with a limit; a record whose job is gone is shown failed (WORKER_LOST)', async () => {
    const all = (await h.http.get(base).expect(200)).body.evaluations as EvaluationRecord[];
    expect(all.length).toBe(3);
    const times = all.map((e) => Date.parse(e.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(all.map((e) => e.id)).toContain(doomed.id);
    expect((await h.http.get(`${base}?limit=1`).expect(200)).body.evaluations).toHaveLength(1);
    await h.http.get(`${base}?limit=0`).expect(400);
    expect(await h.evaluations.listEvaluations(MODEL, 1)).toEqual(all);

    // A "running" record with no job behind it (a worker killed more often than allowed).
    const orphan: EvaluationRecord = { ...all[0]!, id: 'ev_orphanorphanorph', status: 'running', createdAt: new Date().toISOString(), startedAt: new Date().toISOString() };
    delete (orphan as { result?: unknown }).result;
    delete (orphan as { finishedAt?: unknown }).finishedAt;
    await store.write(MODEL, 1, orphan);
    const lost = (await h.http.get(`${base}/${orphan.id}`).expect(200)).body as EvaluationRecord;
    expect(lost).toMatchObject({ status: 'failed', error: { code: 'WORKER_LOST' } });
    expect((await store.get(MODEL, 1, orphan.id))!.status).toBe('failed');
    expect(((await h.http.get(base).expect(200)).body.evaluations as EvaluationRecord[])[0]!.id).toBe(orphan.id);
  });

  it('runEvaluation in process reports progress and writes it to the record, ending completed', async () => {
    const writes: EvaluationRecord[] = [];
    const watched: EvaluationStore<EvaluationRecord> = { ...store, write: async (n, v, rec) => void (writes.push(rec), await store.write(n, v, rec)) };
    const progress: number[] = [];
    const rec = await runEvaluation(
      { registry: h.registry, datasets: h.store, store: watched },
      { evaluationId: 'ev_inprocessinproce', modelName: MODEL, version: 1, datasetId: evalDs.id, submittedAt: new Date().toISOString() },
      { onProgress: (done) => progress.push(done), progressEveryMs: 0 },
    );
    const n = evalDs.counts.images;
    expect(progress[0]).toBe(0);
    expect(progress.at(-1)).toBe(n);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(progress.length).toBe(1 + Math.ceil(n / EVALUATION_BATCH_SIZE));
    expect(writes.map((w) => w.status)).toEqual([...writes.slice(0, -1).map(() => 'running'), 'completed']);
    expect(writes.filter((w) => w.status === 'running').map((w) => w.progress!.done)).toEqual(progress.slice(0, -1));
    expect(rec).toEqual(await store.get(MODEL, 1, rec.id));
  }, 60_000);

  it('deleting the version deletes its evaluations', async () => {
    const dir = path.join(h.dataDir, 'models', MODEL, 'versions', '1', 'evaluations');
    expect((await readdir(dir)).length).toBeGreaterThan(0);
    await h.http.delete(`/v1/models/${MODEL}/versions/1`).expect(204);
    await expect(readdir(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await h.http.get(base).expect(404)).body.error.code).toBe('VERSION_NOT_FOUND');
    await expect(h.evaluations.listEvaluations(MODEL, 1)).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
  });
});

describe('Redis unreachable', () => {
  it('submitting answers 503 QUEUE_UNAVAILABLE and stores nothing; reading still works', async () => {
    const down = await startJobsHarness(import.meta.url, { serviceRedisUrl: `redis://127.0.0.1:${await freePort()}` });
    try {
      const ds = await down.dataset({ perClass: 8 });
      const { version: v } = await runTraining(
        { datasets: down.store, registry: down.registry },
        { datasetId: ds.id, modelName: MODEL, params: { ...DEFAULT_TRAINING_PARAMS, inputSize: 64, epochs: 1, batchSize: 8 } },
      );
      const t0 = Date.now();
      const res = await down.http.post(`/v1/models/${MODEL}/versions/${v}/evaluations`).send({ datasetId: ds.id });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('QUEUE_UNAVAILABLE');
      expect(Date.now() - t0).toBeLessThan(1500);
      expect((await down.http.get(`/v1/models/${MODEL}/versions/${v}/evaluations`).expect(200)).body.evaluations).toEqual([]);
    } finally {
      await down.close();
    }
  }, 60_000);
});
