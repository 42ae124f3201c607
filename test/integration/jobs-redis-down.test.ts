/**
 * Redis down: job routes answer 503 QUEUE_UNAVAILABLE at once (no hanging request), and the
 * service recovers by itself when Redis comes back (a private redis-server we stop and restart).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { AppError } from '../../src/errors.ts';
import { redisFactory } from '../../src/queue/connection.ts';
import { createTrainingQueue } from '../../src/queue/training-queue.ts';
import { createTrainingJobService } from '../../src/services/training-jobs.ts';
import type { DatasetManifest } from '../../src/storage/dataset-store.ts';
import { startJobsHarness, type JobsHarness } from '../helpers/jobs-harness.ts';
import { redisAnswers } from '../helpers/redis.ts';
import { freePort } from '../helpers/service-process.ts';


let h: JobsHarness;
let ds: DatasetManifest;
let deadPort: number;

beforeAll(async () => {
  deadPort = await freePort(); // nothing listens there
  h = await startJobsHarness(import.meta.url, { serviceRedisUrl: `redis://127.0.0.1:${deadPort}` });
  ds = await h.dataset({ perClass: 6 });
});
afterAll(async () => {
  await h?.close();
});

describe('Redis unreachable', () => {
  it('submit answers 503 QUEUE_UNAVAILABLE in well under 1.5 s, every time', async () => {
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const res = await h.http.post('/v1/training-jobs').send({ datasetId: ds.id, epochs: 1 });
      const ms = Date.now() - t0;
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('QUEUE_UNAVAILABLE');
      expect(ms).toBeLessThan(1500);
    }
  });

  it('bad input is still answered as such (validation and the dataset check come first)', async () => {
    await h.http.post('/v1/training-jobs').send({ datasetId: ds.id, epochs: 0 }).expect(400);
    await h.http.post('/v1/training-jobs').send({ datasetId: 'ds_aaaaaaaaaaaaaaaa' }).expect(404);
  });

  it('reads, cancel and the event stream answer 503 fast too', async () => {
    const id = 'job_aaaaaaaaaaaaaaaa';
    for (const [method, url] of [
      ['get', `/v1/training-jobs/${id}`],
      ['get', '/v1/training-jobs'],
      ['post', `/v1/training-jobs/${id}/cancel`],
      ['get', `/v1/training-jobs/${id}/events`],
    ] as const) {
      const t0 = Date.now();
      const res = await h.http[method](url);
      expect(res.status, url).toBe(503);
      expect(res.body.error.code).toBe('QUEUE_UNAVAILABLE');
      expect(Date.now() - t0).toBeLessThan(1500);
    }
    await expect(h.jobs.counts()).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
    await expect(h.jobs.datasetInUse(ds.id)).rejects.toBeInstanceOf(AppError);
  });
});

describe('Redis stops and comes back', () => {
  let redis: ChildProcess | undefined;
  let dir: string;
  let port: number;

  const startRedis = async () => {
    redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    const url = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 100 && !(await redisAnswers(url, 200)); i++) await new Promise((r) => setTimeout(r, 50));
  };
  const stopRedis = async () => {
    const r = redis!;
    const exited = new Promise((res) => r.once('exit', res));
    r.kill('SIGKILL');
    await exited;
    redis = undefined;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cxr-redis-'));
    port = await freePort();
    await startRedis();
  });
  afterAll(async () => {
    if (redis) await stopRedis();
    await rm(dir, { recursive: true, force: true });
  });

  it('works, fails fast while Redis is gone, then recovers on its own', async () => {
    const config = loadConfig({ ...h.env, REDIS_URL: `redis://127.0.0.1:${port}` });
    const queue = createTrainingQueue({ redis: redisFactory(config.redisUrl), prefix: config.queuePrefix, attempts: 1, backoffMs: 500 });
    const jobs = createTrainingJobService({ config, queue, datasets: h.store });
    try {
      const first = await jobs.submit({ datasetId: ds.id, epochs: 1 });
      expect(first.status).toBe('queued');

      await stopRedis();
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        await expect(jobs.submit({ datasetId: ds.id, epochs: 1 })).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE', status: 503 });
        expect(Date.now() - t0).toBeLessThan(1500);
      }

      await startRedis();
      const deadline = Date.now() + 15_000;
      let again;
      while (!again && Date.now() < deadline) {
        again = await jobs.submit({ datasetId: ds.id, epochs: 1 }).catch(() => undefined);
        if (!again) await new Promise((r) => setTimeout(r, 200));
      }
      expect(again?.status).toBe('queued');
      expect((await jobs.get(again!.id)).status).toBe('queued');
    } finally {
      await jobs.close();
    }
  }, 60_000);
});
