/**
 * An API app for integration tests of the api's own routes: real dataset store and model registry
 * in a fresh temp DATA_DIR, real Redis (health pings, model events), real HTTP on an ephemeral
 * port. The prediction and training-job services are other engineers' and are replaced here by
 * stand-ins with exactly the members the routes declare: what health and metrics read answers
 * from `fake`; predicting and the job routes throw (other harnesses serve them), so a request that
 * gets past validation to them fails loudly.
 */
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import supertest from 'supertest';
import type { AppDeps } from '../../src/app.ts';
import { assertContractHeld, buildCheckedApp } from './contract.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { EngineInfo } from '../../src/ml/engine.ts';
import type { JobStatus } from '../../src/services/training-jobs.ts';
import type { ModelReadiness } from '../../src/services/predictions.ts';
import { AppError } from '../../src/errors.ts';
import { closeRedis, createRedis } from '../../src/queue/connection.ts';
import { publishModelEvent } from '../../src/queue/model-events.ts';
import { createDatasetService } from '../../src/services/datasets.ts';
import { createHealthService } from '../../src/services/health.ts';
import { evaluationListerFrom } from '../../src/services/evaluation-records.ts';
import { createModelService } from '../../src/services/models.ts';
import { createEvaluationStore } from '../../src/storage/evaluation-store.ts';
import { createDatasetStore, type DatasetStore } from '../../src/storage/dataset-store.ts';
import { createModelRegistry, type ModelRegistry } from '../../src/storage/model-registry.ts';
import { TEST_REDIS_URL, uniquePrefix } from './redis.ts';

export const FAKE_ENGINE: EngineInfo = Object.freeze({
  name: 'wasm',
  tfjsVersion: '4.22.0',
  description: 'not initialised: the api route tests never run a model',
});

/** What the fakes of the other engineers' services answer; tests change these fields. */
export interface FakeState {
  inUse: Set<string>;
  loaded: { name: string; version: number; runtime: 'onnxruntime' | 'tfjs' }[];
  /** What readiness(name) answers; unset: the model has no version (NO_MODEL). */
  readiness?: ModelReadiness;
  counts: Record<string, number>;
  /** When set, datasetInUse throws it (to check unexpected errors become a generic 500). */
  datasetInUseError?: Error;
}

export interface Harness {
  app: FastifyInstance;
  http: supertest.Agent;
  config: Config;
  dataDir: string;
  store: DatasetStore;
  registry: ModelRegistry;
  redis: Redis;
  fake: FakeState;
  deps: AppDeps;
  /** Entries under DATA_DIR that are in-flight leftovers (uploads, staging, deleting, locks, temp files). */
  leftovers(): Promise<string[]>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  /** Health pings this Redis instead (e.g. a closed port, to see readiness fail). */
  healthRedisUrl?: string;
  /** The app's logger (default: none). */
  logger?: FastifyBaseLogger;
  /** Adds root hooks to the app before its routes (see buildCheckedApp). */
  instrument?: (app: FastifyInstance) => void;
}

/** A service member this harness does not serve: reaching it means a request got past validation. */
const notServed = async (): Promise<never> => {
  throw new Error('not served by the api harness');
};

export async function startHarness(testFile: string, opts: HarnessOptions = {}): Promise<Harness> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cxr-api-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: uniquePrefix(testFile),
    LOG_LEVEL: 'silent',
    ...opts.env,
  });
  const fake: FakeState = { inUse: new Set(), loaded: [], counts: { queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 } };
  const store = createDatasetStore({ dataDir, limits: { maxImagePixels: config.limits.imagePixels } });
  const registry = createModelRegistry({ dataDir, defaultModel: config.defaultModelName });
  const redis = createRedis(config.redisUrl, 'producer');
  // A fail-fast producer refuses commands until connected: wait, so tests start from a ready Redis.
  if (redis.status !== 'ready') await once(redis, 'ready');
  const healthRedis = opts.healthRedisUrl ? createRedis(opts.healthRedisUrl, 'producer') : redis;
  const metrics = createMetrics({ defaultMetrics: false });

  const deps: AppDeps = {
    config,
    engine: FAKE_ENGINE,
    logger: opts.logger ?? false,
    datasets: createDatasetService({
      store,
      uploadLimitBytes: config.limits.uploadBytes,
      datasetInUse: async (id) => {
        if (fake.datasetInUseError) throw fake.datasetInUseError;
        return fake.inUse.has(id);
      },
    }),
    models: createModelService({
      registry,
      publishEvent: (e) => publishModelEvent(redis, config.queuePrefix, e),
      evaluations: evaluationListerFrom(createEvaluationStore({ dataDir })),
    }),
    // Stand-ins for the other engineers' services: the members these routes read answer from
    // `fake`; predicting and the job routes are not served by this harness (other harnesses are).
    predictions: {
      loaded: () => fake.loaded,
      predict: notServed,
      explain: notServed,
      readiness: async (name) => {
        if (fake.readiness?.name === name) return fake.readiness;
        throw new AppError('NO_MODEL', `Model '${name}' has no versions yet`, { name });
      },
      runtime: () => ({ name: 'tfjs', requested: 'tfjs', description: 'not served by the api harness' }),
      tensorCount: () => 0,
    },
    jobs: {
      counts: async () => fake.counts as Record<JobStatus, number>,
      submit: notServed,
      get: notServed,
      list: notServed,
      cancel: notServed,
      events: async function* () {
        yield* [];
        throw new Error('not served by the api harness');
      },
    },
    // Evaluations are served by the jobs harness (real queue and worker), not here.
    evaluations: { submit: notServed, get: notServed, list: notServed },
    health: createHealthService({ ping: () => healthRedis.ping(), workers: async () => 1 }),
    metrics,
    // DICOM results have their own tests (test/integration/results-*.test.ts).
    results: { get: notServed, fhir: notServed, dicomSr: notServed, storeInstances: notServed, analyseDicom: notServed },
  };
  const app = await buildCheckedApp(deps, opts.instrument);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const http = supertest.agent(app.server);

  return {
    app,
    http,
    config,
    dataDir,
    store,
    registry,
    redis,
    fake,
    deps,
    async leftovers() {
      const found: string[] = [];
      const uploads = await readdir(path.join(dataDir, 'uploads')).catch(() => []);
      found.push(...uploads.map((f) => `uploads/${f}`));
      const datasets = await readdir(path.join(dataDir, 'datasets')).catch(() => []);
      found.push(...datasets.filter((f) => f.startsWith('.')).map((f) => `datasets/${f}`));
      for (const model of await readdir(path.join(dataDir, 'models')).catch(() => [])) {
        const entries = await readdir(path.join(dataDir, 'models', model)).catch(() => []);
        found.push(...entries.filter((f) => f.startsWith('.')).map((f) => `models/${model}/${f}`));
      }
      return found;
    },
    async close() {
      await app.close();
      assertContractHeld();
      if (healthRedis !== redis) await closeRedis(healthRedis);
      await closeRedis(redis);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
