/**
 * Training jobs through HTTP with a real worker on the real queue: the BullMQ worker runs in this
 * (vitest) process with its SANDBOXED processor forked as a child (workers/processor.ts under the
 * tsx loader), exactly as `npm run worker` runs it. 64x64 models, tiny generated datasets.
 */
import http from 'node:http';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainingJobView } from '../../src/services/training-jobs.ts';
import type { DatasetManifest } from '../../src/storage/dataset-store.ts';
import { startTrainingWorker, type TrainingWorker } from '../../workers/worker.ts';
import { startJobsHarness, type JobsHarness } from '../helpers/jobs-harness.ts';

let h: JobsHarness;
let worker: TrainingWorker;
let ds: DatasetManifest;
const small = (extra: Record<string, unknown> = {}) => ({ datasetId: ds.id, model: { inputSize: 64 }, epochs: 2, batchSize: 8, ...extra });
const running = (v: TrainingJobView) => v.status === 'running' && v.progress?.phase === 'training';

/** Reads a whole SSE response (it ends when the job ends) into frames. */
function parseSse(text: string): { event: string; data: unknown }[] {
  return text
    .split('\n\n')
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      return event && data ? { event, data: JSON.parse(data) as unknown } : null;
    })
    .filter((f): f is { event: string; data: unknown } => f !== null);
}

beforeAll(async () => {
  h = await startJobsHarness(import.meta.url);
  ds = await h.dataset({ perClass: 20 });
  worker = startTrainingWorker({ config: h.config, logger: pino({ level: 'warn' }) });
  await worker.worker.waitUntilReady();
}, 120_000);

afterAll(async () => {
  await worker?.shutdown();
  await h?.close();
});

describe('POST /v1/training-jobs -> a model version', () => {
  let completed: TrainingJobView;

  it('queues (202 + Location), runs in the sandboxed worker and publishes version 1 with progress and history', async () => {
    const res = await h.http.post('/v1/training-jobs').send(small()).expect(202);
    const job = res.body as TrainingJobView;
    expect(res.headers.location).toBe(`/v1/training-jobs/${job.id}`);
    expect(job).toMatchObject({ status: 'queued', datasetId: ds.id, model: { name: 'chestxraynet' }, attempts: { made: 0, max: 3 } });
    expect(job.params).toMatchObject({ epochs: 2, batchSize: 8, inputSize: 64, learningRate: 1e-3, seed: 42 });

    // Progress while running, through the API.
    const seen = new Set<string>();
    const deadline = Date.now() + 90_000;
    let view = job;
    while (!['completed', 'failed', 'cancelled'].includes(view.status) && Date.now() < deadline) {
      view = (await h.http.get(`/v1/training-jobs/${job.id}`).expect(200)).body as TrainingJobView;
      seen.add(view.status);
      if (view.progress) seen.add(`phase:${view.progress.phase}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    completed = view;
    expect(view.status, JSON.stringify(view.error)).toBe('completed');
    expect(seen.has('running')).toBe(true);
    expect(view.result?.model).toEqual({ name: 'chestxraynet', version: 1 });
    expect(view.history).toHaveLength(2);
    expect(view.history[1]).toMatchObject({ epoch: 2 });
    expect(view.progress).toMatchObject({ epochs: 2, batchesPerEpoch: expect.any(Number) });
    for (const split of ['validation', 'test'] as const) {
      const m = view.result!.metrics[split];
      expect(m.count).toBeGreaterThan(0);
      expect(m.confusion.tp + m.confusion.fp + m.confusion.tn + m.confusion.fn).toBe(m.count);
      expect(m.threshold).toBe(view.result!.threshold);
    }
    expect(view.startedAt).not.toBeNull();
    expect(view.finishedAt).not.toBeNull();
    expect(await h.versionsOnDisk()).toEqual(['1']);

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- metadata is free-form JSON
    const meta = (await h.registry.getVersion('chestxraynet', 1)).metadata as Record<string, any>;
    expect(meta.dataset).toMatchObject({ id: ds.id, contentHash: ds.contentHash });
    expect(meta.params).toEqual(view.params);
    expect(meta.modelOptions).toEqual({ inputSize: 64, filterMultiplier: 1, dropoutRate: 0.6, batchNorm: true, seed: view.params.seed });
    expect(meta.metrics.test.roc.length).toBeGreaterThan(1);
    expect(meta.history).toHaveLength(2);
    expect(meta.classNames).toEqual(['NORMAL', 'PNEUMONIA']);
    expect(meta.preprocessing).toMatchObject({ inputSize: 64, standardisation: 'per-image' });
    expect(meta.engine.name).toMatch(/tensorflow|wasm/);
    expect(meta.libraries.node).toBe(process.version);
    expect(meta.timings.secondsPerEpoch).toHaveLength(2);
    expect(meta.split.train + meta.split.validation + meta.split.test).toBe(40);
    expect(meta.jobId).toBe(job.id);
    expect(await h.leftovers()).toEqual([]);
  }, 120_000);

  it('lists jobs newest first, filtered by status', async () => {
    const all = (await h.http.get('/v1/training-jobs').expect(200)).body.jobs as TrainingJobView[];
    expect(all.map((j) => j.id)).toContain(completed.id);
    const done = (await h.http.get('/v1/training-jobs?status=completed&limit=5').expect(200)).body.jobs as TrainingJobView[];
    expect(done.every((j) => j.status === 'completed')).toBe(true);
    expect((await h.http.get('/v1/training-jobs?status=failed').expect(200)).body.jobs).toEqual([]);
    await h.http.get('/v1/training-jobs?status=done').expect(400);
    await h.http.get('/v1/training-jobs?limit=0').expect(400);
    await h.http.get('/v1/training-jobs?limit=abc').expect(400);
  });

  it('cancelling a completed job is 409 JOB_FINISHED', async () => {
    const res = await h.http.post(`/v1/training-jobs/${completed.id}/cancel`).expect(409);
    expect(res.body.error.code).toBe('JOB_FINISHED');
  });

  it('streams progress as Server-Sent Events until the job ends', async () => {
    const job = (await h.http.post('/v1/training-jobs').send(small({ epochs: 2 })).expect(202)).body as TrainingJobView;
    const res = await h.http
      .get(`/v1/training-jobs/${job.id}/events`)
      .buffer(true)
      .parse((r, cb) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => (text += c));
        r.on('end', () => cb(null, text));
      })
      .expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const text = res.body as string;
    const frames = parseSse(text);
    const types = frames.map((f) => f.event);
    expect(types[0]).toBe('status');
    expect(types).toContain('progress');
    expect(types[types.length - 1]).toBe('completed');
    const progress = frames.filter((f) => f.event === 'progress').map((f) => f.data as Record<string, unknown>);
    expect(progress.some((p) => p.phase === 'training' && typeof p.loss === 'number' && typeof p.imagesPerSecond === 'number')).toBe(true);
    expect(progress.some((p) => p.epochMetrics !== undefined)).toBe(true);
    expect((frames[frames.length - 1]!.data as TrainingJobView).result?.model.version).toBe(2);
  }, 120_000);

  it('a finished job streams its final state at once; a client that disconnects stops the stream', async () => {
    const res = await h.http.get(`/v1/training-jobs/${completed.id}/events`).buffer(true).parse((r, cb) => {
      let text = '';
      r.on('data', (c: Buffer) => (text += c.toString()));
      r.on('end', () => cb(null, text));
    });
    expect(parseSse(res.body as string).map((f) => f.event)).toEqual(['status', 'completed']);

    // Disconnect mid-stream: the server keeps serving (and stops reading the job).
    const job = (await h.http.post('/v1/training-jobs').send(small({ epochs: 1 })).expect(202)).body as TrainingJobView;
    const port = (h.app.server.address() as { port: number }).port;
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/v1/training-jobs/${job.id}/events` }, (res) => {
        res.once('data', () => {
          req.destroy(); // the client goes away mid-stream
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    });
    await h.http.get('/health/live').expect(200);
    await h.waitFor(job.id);
  }, 120_000);
});

describe('cancel', () => {
  it('a queued job is removed and cancelled at once; a running one stops within a batch and publishes nothing', async () => {
    const versionsBefore = await h.versionsOnDisk();
    const long = (await h.http.post('/v1/training-jobs').send(small({ epochs: 200, batchSize: 4 })).expect(202)).body as TrainingJobView;
    await h.waitFor(long.id, running, 90_000);
    const queued = (await h.http.post('/v1/training-jobs').send(small()).expect(202)).body as TrainingJobView;
    expect((await h.jobs.get(queued.id)).status).toBe('queued');

    const c1 = await h.http.post(`/v1/training-jobs/${queued.id}/cancel`).expect(200);
    expect(c1.body).toMatchObject({ id: queued.id, status: 'cancelled', error: { code: 'CANCELLED' } });
    expect((await h.http.get(`/v1/training-jobs/${queued.id}`).expect(200)).body.status).toBe('cancelled');
    const listed = (await h.http.get('/v1/training-jobs?status=cancelled').expect(200)).body.jobs as TrainingJobView[];
    expect(listed.map((j) => j.id)).toContain(queued.id);
    expect((await h.http.post(`/v1/training-jobs/${queued.id}/cancel`).expect(409)).body.error.code).toBe('JOB_FINISHED');

    const before = await h.jobs.get(long.id);
    const t0 = Date.now();
    const c2 = await h.http.post(`/v1/training-jobs/${long.id}/cancel`);
    const waited = Date.now() - t0;
    expect(c2.status, JSON.stringify(c2.body)).toBe(200);
    expect(c2.body).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' }, result: null, attempts: { made: 1 } });
    // The flag is read at most every 500 ms and checked every batch: a batch of 4 at 64x64 takes
    // milliseconds, so the job is gone well within a few seconds (10 s allows for a loaded machine).
    expect(waited).toBeLessThan(10_000);
    const after = await h.jobs.get(long.id);
    expect(after.progress!.epoch).toBeLessThan(200);
    expect(after.history.length - before.history.length).toBeLessThanOrEqual(3);
    expect(await h.versionsOnDisk()).toEqual(versionsBefore);
    expect(await h.leftovers()).toEqual([]);
    // Not retried.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await h.jobs.get(long.id)).status).toBe('cancelled');
    expect((await h.http.post(`/v1/training-jobs/${long.id}/cancel`).expect(409)).body.error.code).toBe('JOB_FINISHED');
    const counts = await h.jobs.counts();
    expect(counts.cancelled).toBeGreaterThanOrEqual(2);
  }, 180_000);
});

describe('bad requests', () => {
  it('unknown dataset: 404 DATASET_NOT_FOUND; unknown job: 404 JOB_NOT_FOUND; malformed ids: 400', async () => {
    const r = await h.http.post('/v1/training-jobs').send({ datasetId: 'ds_aaaaaaaaaaaaaaaa' }).expect(404);
    expect(r.body.error.code).toBe('DATASET_NOT_FOUND');
    expect((await h.http.get('/v1/training-jobs/job_aaaaaaaaaaaaaaaa').expect(404)).body.error.code).toBe('JOB_NOT_FOUND');
    expect((await h.http.post('/v1/training-jobs/job_aaaaaaaaaaaaaaaa/cancel').expect(404)).body.error.code).toBe(
      'JOB_NOT_FOUND',
    );
    expect((await h.http.get('/v1/training-jobs/job_aaaaaaaaaaaaaaaa/events').expect(404)).body.error.code).toBe(
      'JOB_NOT_FOUND',
    );
    await h.http.get('/v1/training-jobs/..%2F..%2Fetc').expect(400);
    await h.http.get(`/v1/training-jobs/${'a'.repeat(65)}`).expect(400);
  });

  const invalid: Array<[string, unknown]> = [
    ['no datasetId', { epochs: 1 }],
    ['malformed datasetId', { datasetId: '../../etc' }],
    ['epochs 0', { epochs: 0 }],
    ['epochs 201', { epochs: 201 }],
    ['epochs "3"', { epochs: '3' }],
    ['epochs 1.5', { epochs: 1.5 }],
    ['batchSize 0', { batchSize: 0 }],
    ['batchSize 257', { batchSize: 257 }],
    ['batchSize true', { batchSize: true }],
    ['learningRate 0', { learningRate: 0 }],
    ['learningRate 1', { learningRate: 1 }],
    ['learningRate "0.01"', { learningRate: '0.01' }],
    ['dropoutRate 0.96', { dropoutRate: 0.96 }],
    ['dropoutRate -1', { dropoutRate: -1 }],
    ['seed -1', { seed: -1 }],
    ['seed 1.5', { seed: 1.5 }],
    ['validationSplit 0', { validationSplit: 0 }],
    ['validationSplit 0.51', { validationSplit: 0.51 }],
    ['testSplit 0', { testSplit: 0 }],
    ['testSplit 0.9', { testSplit: 0.9 }],
    ['augmentation not an object', { augmentation: true }],
    ['rotation 90', { augmentation: { rotation: 90 } }],
    ['zoom 1', { augmentation: { zoom: 1 } }],
    ['shift 0.51', { augmentation: { shift: 0.51 } }],
    ['horizontalFlip "true"', { augmentation: { horizontalFlip: 'true' } }],
    ['augmentation unknown field', { augmentation: { shear: 0.2 } }],
    ['classWeighting "auto"', { classWeighting: 'auto' }],
    ['earlyStoppingPatience -1', { earlyStoppingPatience: -1 }],
    ['earlyStoppingPatience 101', { earlyStoppingPatience: 101 }],
    ['inputSize 100', { model: { inputSize: 100 } }],
    ['inputSize 1024', { model: { inputSize: 1024 } }],
    ['filterMultiplier 0', { model: { filterMultiplier: 0 } }],
    ['filterMultiplier 16', { model: { filterMultiplier: 16 } }],
    ['batchNorm "yes"', { model: { batchNorm: 'yes' } }],
    ['model name "Bad/Name"', { model: { name: 'Bad/Name' } }],
    ['model a string', { model: 'chestxraynet' }],
    ['model unknown field', { model: { depth: 3 } }],
    ['unknown field', { epoch: 3 }],
    ['array body', []],
    ['null body', null],
  ];

  it.each(invalid)('400 VALIDATION_FAILED: %s', async (_name, patch) => {
    const body =
      Array.isArray(patch) || patch === null ? patch : _name === 'no datasetId' ? patch : { datasetId: ds.id, ...(patch as object) };
    const res = await h.http.post('/v1/training-jobs').set('content-type', 'application/json').send(JSON.stringify(body)).expect(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.message).toMatch(/Invalid training job: /);
  });

  it('a body that is not JSON: 415 / 400', async () => {
    await h.http.post('/v1/training-jobs').set('content-type', 'text/plain').send('epochs=3').expect(415);
    expect((await h.http.post('/v1/training-jobs').set('content-type', 'application/json').send('{"datasetId":').expect(400)).body.error.code).toBe(
      'BAD_REQUEST',
    );
  });

  it('nothing was queued by any refused request', async () => {
    const counts = await h.jobs.counts();
    expect(counts.queued + counts.running).toBe(0);
  });
});
