/**
 * For the training-job and worker tests: the API app with the REAL training-job service (real
 * Redis, unique queue prefix), a real dataset store and model registry in a fresh temp DATA_DIR,
 * tiny generated datasets, and helpers to wait for job states. Workers are started by the tests
 * themselves (in-process sandboxed worker, or `node --import tsx workers/main.ts` child processes).
 */
import { once } from 'node:events';
import { assertContractHeld, buildCheckedApp } from './contract.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import supertest from 'supertest';
import { AppError } from '../../src/errors.ts';
import type { AppDeps } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { MALLOC_ENV } from '../../src/malloc-env.ts';
import { createMetrics } from '../../src/metrics.ts';
import { closeRedis, createRedis, redisFactory } from '../../src/queue/connection.ts';
import { publishModelEvent } from '../../src/queue/model-events.ts';
import { createEvaluationQueue } from '../../src/queue/evaluation-queue.ts';
import { createTrainingQueue } from '../../src/queue/training-queue.ts';
import { createDatasetService } from '../../src/services/datasets.ts';
import type { EvaluationRecord } from '../../src/services/evaluation-types.ts';
import { createEvaluationService, type EvaluationService } from '../../src/services/evaluations.ts';
import { createHealthService } from '../../src/services/health.ts';
import { evaluationListerFrom } from '../../src/services/evaluation-records.ts';
import { createModelService } from '../../src/services/models.ts';
import { createEvaluationStore } from '../../src/storage/evaluation-store.ts';
import { createTrainingJobService, type TrainingJobService, type TrainingJobView } from '../../src/services/training-jobs.ts';
import { createDatasetStore, type DatasetManifest, type DatasetStore } from '../../src/storage/dataset-store.ts';
import { createModelRegistry, type ModelRegistry } from '../../src/storage/model-registry.ts';
import { FAKE_ENGINE } from './api-harness.ts';
import { TEST_REDIS_URL, uniquePrefix } from './redis.ts';
import { writeZip, xrayItems } from './zips.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface JobsHarness {
  app: FastifyInstance;
  http: supertest.Agent;
  config: Config;
  /** The environment a worker process needs to share this harness's data dir, Redis and queue. */
  env: Record<string, string>;
  dataDir: string;
  store: DatasetStore;
  registry: ModelRegistry;
  jobs: TrainingJobService;
  evaluations: EvaluationService;
  redis: Redis;
  /** A dataset of generated X-ray-like images (size px, perClass of each class). */
  dataset(opts?: { perClass?: number; size?: number; seed?: number }): Promise<DatasetManifest>;
  /** Polls the job until `done(view)` (default: a final status), failing after timeoutMs. */
  waitFor(id: string, done?: (v: TrainingJobView) => boolean, timeoutMs?: number): Promise<TrainingJobView>;
  /** Version directories (complete versions) of a model on disk. */
  versionsOnDisk(model?: string): Promise<string[]>;
  /** Entries under DATA_DIR/models/* that are in-flight leftovers (staging, locks, temp files). */
  leftovers(): Promise<string[]>;
  close(): Promise<void>;
}

export const FINAL = (v: TrainingJobView): boolean => ['completed', 'failed', 'cancelled'].includes(v.status);

export interface JobsHarnessOptions {
  env?: Record<string, string>;
  /** The service's Redis (e.g. a closed port); the rest of the harness uses the test Redis. */
  serviceRedisUrl?: string;
  backoffMs?: number;
}

/** A prediction-service member the jobs harness does not serve. */
const notServed = async (): Promise<never> => {
  throw new Error('not served by the jobs harness');
};

export async function startJobsHarness(testFile: string, opts: JobsHarnessOptions = {}): Promise<JobsHarness> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cxr-jobs-'));
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: uniquePrefix(testFile),
    LOG_LEVEL: 'warn',
    WORKER_LOCK_MS: '2000',
    WORKER_STALLED_CHECK_MS: '1000',
    JOB_ATTEMPTS: '3',
    ...opts.env,
  };
  const config = loadConfig(env);
  const store = createDatasetStore({ dataDir, defaultSize: 64 });
  const registry = createModelRegistry({ dataDir, defaultModel: config.defaultModelName });
  const redis = createRedis(config.redisUrl, 'producer');
  // A fail-fast producer refuses commands until connected: wait, so tests start from a ready Redis
  // (a first /health/ready could otherwise answer 503 on a busy machine).
  if (redis.status !== 'ready') await once(redis, 'ready');
  const queue = createTrainingQueue({
    redis: redisFactory(opts.serviceRedisUrl ?? config.redisUrl),
    prefix: config.queuePrefix,
    attempts: config.worker.attempts,
    backoffMs: opts.backoffMs ?? 500,
  });
  const jobs = createTrainingJobService({ config, queue, datasets: store, cancelWaitMs: 10_000, pollMs: 250 });
  const evaluations = createEvaluationService({
    versions: registry,
    datasets: store,
    queue: createEvaluationQueue({
      redis: redisFactory(opts.serviceRedisUrl ?? config.redisUrl),
      prefix: config.queuePrefix,
      attempts: config.worker.attempts,
      backoffMs: opts.backoffMs ?? 500,
    }),
    store: createEvaluationStore<EvaluationRecord>({ dataDir }),
  });
  const deps: AppDeps = {
    config,
    engine: FAKE_ENGINE,
    logger: false,
    datasets: createDatasetService({ store, uploadLimitBytes: config.limits.uploadBytes, datasetInUse: (id) => jobs.datasetInUse(id) }),
    models: createModelService({
      registry,
      publishEvent: (e) => publishModelEvent(redis, config.queuePrefix, e),
      evaluations: evaluationListerFrom(createEvaluationStore({ dataDir })),
    }),
    // Predicting is not served here (the predict harness does): nothing is loaded.
    predictions: {
      loaded: () => [],
      predict: notServed,
      explain: notServed,
      // Nothing is loaded here, so no model holds readiness back.
      readiness: async (name) => {
        throw new AppError('NO_MODEL', `Model '${name}' is not served by the jobs harness`, { name });
      },
      runtime: () => ({ name: 'tfjs', requested: 'tfjs', description: 'not served by the jobs harness' }),
      tensorCount: () => 0,
    },
    jobs,
    evaluations,
    health: createHealthService({ ping: () => redis.ping(), workers: () => jobs.workers() }),
    metrics: createMetrics({ defaultMetrics: false }),
    // DICOM results have their own tests (test/integration/results-*.test.ts).
    results: { get: notServed, fhir: notServed, dicomSr: notServed, storeInstances: notServed, analyseDicom: notServed },
  };
  const app = await buildCheckedApp(deps);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const http = supertest.agent(app.server);
  let zipSeed = 1;

  const harness: JobsHarness = {
    app,
    http,
    config,
    env,
    dataDir,
    store,
    registry,
    jobs,
    evaluations,
    redis,
    async dataset(o = {}) {
      const perClass = o.perClass ?? 20;
      const size = o.size ?? 64;
      const seed = o.seed ?? (zipSeed += 1000);
      const zip = path.join(dataDir, `gen-${seed}.zip`);
      await writeZip(zip, await xrayItems({ NORMAL: perClass, PNEUMONIA: perClass }, { size, seed }));
      try {
        return await store.importArchive(zip, { name: `generated-${seed}`, size });
      } finally {
        await rm(zip, { force: true });
      }
    },
    async waitFor(id, done = FINAL, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let last: TrainingJobView | undefined;
      while (Date.now() < deadline) {
        last = await jobs.get(id);
        if (done(last)) return last;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`job ${id} did not reach the expected state within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    },
    async versionsOnDisk(model = config.defaultModelName) {
      return readdir(path.join(dataDir, 'models', model, 'versions')).catch(() => []);
    },
    async leftovers() {
      const found: string[] = [];
      for (const model of await readdir(path.join(dataDir, 'models')).catch(() => [])) {
        const entries = await readdir(path.join(dataDir, 'models', model)).catch(() => []);
        found.push(...entries.filter((f) => f.startsWith('.')).map((f) => `models/${model}/${f}`));
      }
      return found;
    },
    async close() {
      // A client that opened a connection and never sent a request would hold close() up to the
      // headers timeout: after a grace period, drop whatever is left.
      const grace = setTimeout(() => app.server.closeAllConnections(), 3000);
      await app.close();
      clearTimeout(grace);
      assertContractHeld();
      await jobs.close();
      await evaluations.close();
      await closeRedis(redis);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves once the worker logged that it is ready. */
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Pids of the processes this worker forked (the sandboxed trainer). */
  children(): Promise<number[]>;
}

/** The worker as users run it: `node --import tsx workers/main.ts` with the harness's environment. */
export function spawnWorker(env: Record<string, string>): WorkerProcess {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, LOG_LEVEL: 'info' };
  // Not inherited from vitest: the worker must give its trainer the malloc setting itself.
  for (const k of Object.keys(MALLOC_ENV)) delete childEnv[k];
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let onReady: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const collect = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes('"msg":"worker ready"')) onReady();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => out,
    ready,
    exited,
    async children() {
      const text = await readdir(`/proc/${child.pid}/task`).then(
        async (tasks) => {
          const { readFile } = await import('node:fs/promises');
          const parts = await Promise.all(tasks.map((t) => readFile(`/proc/${child.pid}/task/${t}/children`, 'utf8').catch(() => '')));
          return parts.join(' ');
        },
        () => '',
      );
      return text
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    },
  };
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
