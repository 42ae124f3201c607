/**
 * The worker as a real process (`node --import tsx workers/main.ts`, as `npm run worker` runs it)
 * on the real queue: SIGTERM mid-training, SIGKILL mid-training, and bad data.
 * Lock 2 s, stalled check every 1 s, so a killed worker's job is noticed within seconds.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TrainingJobView } from '../../src/services/training-jobs.ts';
import type { DatasetManifest } from '../../src/storage/dataset-store.ts';
import { FINAL, processAlive, spawnWorker, startJobsHarness, type JobsHarness, type WorkerProcess } from '../helpers/jobs-harness.ts';

let h: JobsHarness;
let ds: DatasetManifest;
const workers: WorkerProcess[] = [];
const training = (v: TrainingJobView) => v.status === 'running' && v.progress?.phase === 'training' && v.progress.batch >= 1;

async function startWorker(): Promise<WorkerProcess> {
  const w = spawnWorker(h.env);
  workers.push(w);
  await Promise.race([
    w.ready,
    w.exited.then((e) => {
      throw new Error(`worker exited before it was ready (${JSON.stringify(e)}):\n${w.output()}`);
    }),
  ]);
  return w;
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !processAlive(pid);
}

beforeAll(async () => {
  // A long backoff keeps an interrupted job visibly "queued, retry pending" while we look at it.
  h = await startJobsHarness(import.meta.url, { backoffMs: 60_000 });
  ds = await h.dataset({ perClass: 20 });
}, 120_000);

afterEach(async () => {
  for (const w of workers.splice(0)) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill('SIGKILL');
      await w.exited;
    }
    for (const pid of await w.children().catch(() => [])) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  }
});

afterAll(async () => {
  await h?.close();
});

describe('worker process', () => {
  it('SIGTERM mid-training: the job stops within a batch, is marked interrupted and queued for retry, and the process exits 0', async () => {
    const w = await startWorker();
    expect(w.output()).toMatch(/TRAINING ENGINE: /);
    const job = await h.jobs.submit({ datasetId: ds.id, model: { inputSize: 64 }, epochs: 200, batchSize: 4 });
    await h.waitFor(job.id, training, 90_000);
    const [trainer] = await w.children();
    expect(trainer).toBeGreaterThan(0);
    // The sandboxed trainer runs with the malloc setting (the worker itself was started without it).
    const environ = (await readFile(`/proc/${trainer}/environ`, 'utf8')).split('\0');
    expect(environ).toContain('MALLOC_MMAP_THRESHOLD_=4000000000');
    expect(environ).toContain('MALLOC_TRIM_THRESHOLD_=4000000000');
    expect((await readFile(`/proc/${w.child.pid}/environ`, 'utf8')).split('\0')).not.toContain('MALLOC_MMAP_THRESHOLD_=4000000000');

    const t0 = Date.now();
    w.child.kill('SIGTERM');
    const exit = await w.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(await waitGone(trainer!, 5000)).toBe(true);

    const view = await h.jobs.get(job.id);
    expect(view.status).toBe('queued'); // delayed retry (attempt 2 of 3) for any worker
    expect(view.lastError).toMatchObject({ code: 'WORKER_INTERRUPTED' });
    expect(view.attempts).toEqual({ made: 1, max: 3 });
    expect(view.progress!.epoch).toBeLessThan(200);
    expect(await h.versionsOnDisk()).toEqual([]);
    expect(w.output()).toContain('worker stopped');

    // Clean up: it is queued, so cancelling removes it.
    expect((await h.jobs.cancel(job.id)).status).toBe('cancelled');
  }, 180_000);

  it('SIGKILL mid-training: no partial version, the trainer child exits, and a second worker runs the stalled job to completion', async () => {
    const w1 = await startWorker();
    const job = await h.jobs.submit({ datasetId: ds.id, model: { inputSize: 64 }, epochs: 4, batchSize: 4 });
    await h.waitFor(job.id, training, 90_000);
    const [trainer] = await w1.children();
    expect(trainer).toBeGreaterThan(0);

    w1.child.kill('SIGKILL');
    await w1.exited;
    // The orphaned trainer notices its parent is gone, aborts and exits without publishing.
    expect(await waitGone(trainer!, 15_000)).toBe(true);
    expect(await h.versionsOnDisk()).toEqual([]);
    expect(await h.registry.listModels()).toEqual([]);
    expect((await h.jobs.get(job.id)).status).toBe('running'); // until its lock expires

    // A second worker's stalled check moves it back to the queue and runs it again.
    const w2 = await startWorker();
    const done = await h.waitFor(job.id, FINAL, 120_000);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result?.model.version).toBe(1);
    expect(await h.versionsOnDisk()).toEqual(['1']);
    expect(await h.leftovers()).toEqual([]);
    expect(w2.output()).toMatch(/stalled|training job active/);

    w2.child.kill('SIGTERM');
    expect((await w2.exited).code).toBe(0);
  }, 240_000);

  it('bad data fails at once, without retries', async () => {
    const doomed = await h.dataset({ perClass: 6 });
    const job = await h.jobs.submit({ datasetId: doomed.id, model: { inputSize: 64 }, epochs: 1 });
    await h.store.delete(doomed.id); // gone before any worker got to it
    const w = await startWorker();
    const done = await h.waitFor(job.id, FINAL, 90_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'DATASET_NOT_FOUND' });
    expect(done.attempts).toEqual({ made: 1, max: 3 });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await h.jobs.get(job.id)).status).toBe('failed');
    w.child.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
  }, 180_000);
});
