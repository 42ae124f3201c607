/**
 * Hostile input and faults against the training-job API, through real HTTP on a real Redis:
 * ids that are BullMQ's own key names, keys of the wrong type under a job's name, parameters that
 * would need more memory than the machine has, and reads racing a job's state changes.
 */
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_ID_PATTERN } from '../../src/domain/ids.ts';
import { closeRedis, createRedis, redisFactory } from '../../src/queue/connection.ts';
import { TRAINING_QUEUE, type TrainingJobData } from '../../src/queue/names.ts';
import { createTrainingQueue, type JobRecord } from '../../src/queue/training-queue.ts';
import { DEFAULT_TRAINING_PARAMS } from '../../src/domain/training-params.ts';
import { loadConfig } from '../../src/config.ts';
import { createTrainingJobService, type TrainingJobView } from '../../src/services/training-jobs.ts';
import type { DatasetManifest } from '../../src/storage/dataset-store.ts';
import { startTrainingWorker } from '../../workers/worker.ts';
import { startJobsHarness, type JobsHarness } from '../helpers/jobs-harness.ts';

let h: JobsHarness;
let ds: DatasetManifest;

/** Every key suffix BullMQ 5/6 uses under `prefix:training:`, plus this project's own. */
const QUEUE_KEY_NAMES = [
  'id', 'events', 'completed', 'failed', 'stalled-check', 'stalled', 'meta', 'wait', 'active', 'paused', 'delayed',
  'prioritized', 'waiting-children', 'limiter', 'marker', 'pc', 'de', 'repeat', 'cancel', 'cancelled', 'metrics',
];

beforeAll(async () => {
  h = await startJobsHarness(import.meta.url);
  ds = await h.dataset({ perClass: 6 });
  // A queued job, so the queue's keys (id, events, wait, meta...) exist in Redis.
  await h.http.post('/v1/training-jobs').send({ datasetId: ds.id, epochs: 1, model: { inputSize: 64 } }).expect(202);
}, 120_000);

afterAll(async () => {
  await h?.close();
});

describe('job ids', () => {
  it('are issued by the service in a shape no BullMQ key name can take', async () => {
    const res = await h.http.post('/v1/training-jobs').send({ datasetId: ds.id, epochs: 1, model: { inputSize: 64 } }).expect(202);
    const id = (res.body as TrainingJobView).id;
    expect(id).toMatch(new RegExp(JOB_ID_PATTERN));
    for (const name of QUEUE_KEY_NAMES) expect(name).not.toMatch(new RegExp(JOB_ID_PATTERN));
    expect(await h.redis.exists(`${h.config.queuePrefix}:${TRAINING_QUEUE}:id`)).toBe(1);
  });

  it.each(QUEUE_KEY_NAMES)('GET, events and cancel for the queue key name %j answer 400, never 503', async (name) => {
    for (const res of [
      await h.http.get(`/v1/training-jobs/${name}`),
      await h.http.get(`/v1/training-jobs/${name}/events`),
      await h.http.post(`/v1/training-jobs/${name}/cancel`),
    ]) {
      expect({ name, status: res.status, code: res.body?.error?.code }).toEqual({ name, status: 400, code: 'VALIDATION_FAILED' });
    }
  });

  it('the service itself refuses such names as JOB_NOT_FOUND (404) without touching their keys', async () => {
    for (const name of QUEUE_KEY_NAMES) {
      await expect(h.jobs.get(name)).rejects.toMatchObject({ code: 'JOB_NOT_FOUND', status: 404 });
      await expect(h.jobs.cancel(name)).rejects.toMatchObject({ code: 'JOB_NOT_FOUND', status: 404 });
      const it = h.jobs.events(name, new AbortController().signal)[Symbol.asyncIterator]();
      await expect(it.next()).rejects.toMatchObject({ code: 'JOB_NOT_FOUND', status: 404 });
    }
    expect(await h.redis.exists(`${h.config.queuePrefix}:${TRAINING_QUEUE}:id`)).toBe(1);
  });

  it('a well-formed id whose key holds another Redis type reads as not found (404), not as an outage', async () => {
    const prefix = `${h.config.queuePrefix}:${TRAINING_QUEUE}`;
    const ids = ['job_aaaaaaaaaaaaaaaa', 'job_bbbbbbbbbbbbbbbb', 'job_cccccccccccccccc'];
    await h.redis.set(`${prefix}:${ids[0]}`, 'not a job');
    await h.redis.rpush(`${prefix}:${ids[1]}`, 'x');
    await h.redis.zadd(`${prefix}:${ids[2]}`, 1, 'x');
    try {
      for (const id of ids) {
        for (const res of [
          await h.http.get(`/v1/training-jobs/${id}`),
          await h.http.get(`/v1/training-jobs/${id}/events`),
          await h.http.post(`/v1/training-jobs/${id}/cancel`),
        ]) {
          expect({ id, status: res.status, code: res.body?.error?.code }).toEqual({ id, status: 404, code: 'JOB_NOT_FOUND' });
        }
      }
      // and the listing, which reads every job hash in the state sets, is unaffected
      await h.http.get('/v1/training-jobs').expect(200);
      await h.http.get('/health/ready').expect(200);
    } finally {
      await h.redis.del(...ids.map((id) => `${prefix}:${id}`));
    }
  });
});

describe('training memory budget', () => {
  it('refuses valid but extreme parameters with 422 TRAINING_TOO_LARGE and the estimate; nothing is queued', async () => {
    const before = await h.jobs.counts();
    const res = await h.http
      .post('/v1/training-jobs')
      .send({ datasetId: ds.id, batchSize: 256, model: { inputSize: 512, filterMultiplier: 8 } })
      .expect(422);
    expect(res.body.error.code).toBe('TRAINING_TOO_LARGE');
    expect(res.body.error.message).toMatch(/needs about \d+(\.\d)? GB, more than the .* training memory budget/);
    expect(res.body.error.details.estimatedBytes).toBeGreaterThan(100e9);
    expect(await h.jobs.counts()).toEqual(before);
  });

  it('takes its budget from TRAINING_MEMORY_BUDGET', async () => {
    const config = loadConfig({ ...h.env, TRAINING_MEMORY_BUDGET: '100mb' });
    const queue = createTrainingQueue({ redis: redisFactory(config.redisUrl), prefix: config.queuePrefix, attempts: 1, backoffMs: 500 });
    const jobs = createTrainingJobService({ config, queue, datasets: h.store });
    try {
      // the defaults need about 315 MB
      await expect(jobs.submit({ datasetId: ds.id })).rejects.toMatchObject({ code: 'TRAINING_TOO_LARGE', status: 422 });
      const fits = await jobs.submit({ datasetId: ds.id, epochs: 1, batchSize: 4, model: { inputSize: 64 } });
      expect(fits.status).toBe('queued');
    } finally {
      await jobs.close();
    }
  });
});

describe('training memory budget on the worker', () => {
  it('a worker refuses, without retries, a queued job that exceeds its own machine\'s budget', async () => {
    const config = loadConfig({ ...h.env, TRAINING_MEMORY_BUDGET: '100mb' });
    // Queued straight into the queue (as an API on a bigger machine would), past the submit check.
    const queue = createTrainingQueue({ redis: redisFactory(config.redisUrl), prefix: config.queuePrefix, attempts: 3, backoffMs: 500 });
    const worker = startTrainingWorker({ config, logger: pino({ level: 'silent' }) });
    try {
      const rec = await queue.add({
        v: 1,
        datasetId: ds.id,
        modelName: 'chestxraynet',
        params: DEFAULT_TRAINING_PARAMS, // about 315 MB
        submittedAt: new Date().toISOString(),
      });
      const view = await h.waitFor(rec.id, undefined, 90_000);
      expect(view).toMatchObject({ status: 'failed', error: { code: 'TRAINING_TOO_LARGE' }, attempts: { made: 1 } });
      expect(view.error!.message).toMatch(/needs about \d+(\.\d)? [MG]B, more than the 100 MB training memory budget/);
    } finally {
      await worker.shutdown();
      await queue.close();
    }
  }, 120_000);
});

describe('reading a job while it changes state', () => {
  it('never shows a failed job without its error, or a completed one without its result', async () => {
    // A separate queue namespace, with a plain in-process BullMQ worker that finishes jobs at once.
    const prefix = `${h.config.queuePrefix}-race`;
    const queue = createTrainingQueue({ redis: redisFactory(h.config.redisUrl), prefix, attempts: 1, backoffMs: 100 });
    const workerRedis = createRedis(h.config.redisUrl, 'worker');
    let n = 0;
    const worker = new Worker(
      TRAINING_QUEUE,
      async () => {
        n++;
        if (n % 2 === 0) throw new UnrecoverableError(`DATASET_TOO_SMALL: job ${n}`);
        return { model: { name: 'chestxraynet', version: n } };
      },
      { connection: workerRedis, prefix, concurrency: 4, autorun: false },
    );
    const data: TrainingJobData = {
      v: 1,
      datasetId: ds.id,
      modelName: 'chestxraynet',
      params: DEFAULT_TRAINING_PARAMS,
      submittedAt: new Date().toISOString(),
    };
    const seen: Record<string, number> = {};
    const bad: JobRecord[] = [];
    try {
      const jobs = 120;
      const ids: string[] = [];
      for (let i = 0; i < jobs; i++) ids.push((await queue.add(data)).id);
      // The worker starts only now, so the reads below meet every job on its way through.
      void worker.run();
      const finished = new Set<string>();
      const deadline = Date.now() + 40_000;
      // Readers hammer every job until all have finished, recording each read's state.
      await Promise.all(
        Array.from({ length: 4 }, async (_, r) => {
          while (finished.size < jobs && Date.now() < deadline) {
            for (let i = r; i < jobs; i += 4) {
              if (finished.has(ids[i]!)) continue;
              const rec = await queue.get(ids[i]!);
              if (!rec) continue;
              seen[rec.state] = (seen[rec.state] ?? 0) + 1;
              if ((rec.state === 'failed' && !rec.failedReason) || (rec.state === 'completed' && !rec.result)) bad.push(rec);
              if (rec.state === 'failed' || rec.state === 'completed') finished.add(ids[i]!);
            }
            await new Promise((r) => setImmediate(r)); // a reader whose share is done must not spin
          }
        }),
      );
      expect({ finished: finished.size, seen }).toMatchObject({ finished: jobs });
      expect(bad).toEqual([]);
      // the reads did race the transitions: jobs were seen waiting or active, and finished both ways
      expect((seen.waiting ?? 0) + (seen.active ?? 0)).toBeGreaterThan(0);
      expect(seen.failed).toBeGreaterThan(0);
      expect(seen.completed).toBeGreaterThan(0);
      // and a listing reads each job with the state set it came from
      for (const r of await queue.list('failed', 0, -1)) expect(r.failedReason).toMatch(/^DATASET_TOO_SMALL: /);
      for (const r of await queue.list('completed', 0, -1)) expect(r.result).not.toBeNull();
    } finally {
      await worker.close();
      await closeRedis(workerRedis);
      await new Queue(TRAINING_QUEUE, { connection: h.redis, prefix }).obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
  }, 60_000);
});
