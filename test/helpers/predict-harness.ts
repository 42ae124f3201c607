/**
 * Integration harness for the prediction routes: the real app (buildApp), real tfjs (tiny
 * ChestXRayNet at 64x64), real model registry in a fresh temp DATA_DIR, real Redis pub/sub, real
 * HTTP on an ephemeral port.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import sharp from 'sharp';
import supertest from 'supertest';
import { loadConfig, type Config } from '../../src/config.ts';
import type { AppDeps } from '../../src/app.ts';
import { assertContractHeld, buildCheckedApp } from './contract.ts';
import { createMetrics, type AppMetrics } from '../../src/metrics.ts';
import { initEngine } from '../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../src/ml/model.ts';
import { modelFromArtifacts, modelToArtifacts } from '../../src/ml/serialize.ts';
import type { PredictRuntime } from '../../src/onnx/runtime.ts';
import { exportCheckedOnnx } from '../../src/services/onnx-export.ts';
import { toInputTensor } from '../../src/ml/standardize.ts';
import { closeRedis, createRedis, redisFactory } from '../../src/queue/connection.ts';
import { createModelEventSubscriber } from '../../src/queue/model-event-subscriber.ts';
import { publishModelEvent, type ModelEvent } from '../../src/queue/model-events.ts';
import { createDatasetService } from '../../src/services/datasets.ts';
import { createHealthService } from '../../src/services/health.ts';
import { evaluationListerFrom } from '../../src/services/evaluation-records.ts';
import { createModelService } from '../../src/services/models.ts';
import { createEvaluationStore } from '../../src/storage/evaluation-store.ts';
import { createPredictionService, type PredictionService } from '../../src/services/predictions.ts';
import { createDatasetStore } from '../../src/storage/dataset-store.ts';
import { createModelRegistry } from '../../src/storage/model-registry.ts';
import type { ModelArtifacts, ModelRegistry, ModelVersionInfo } from '../../src/storage/model-types.ts';
import { TEST_REDIS_URL, uniquePrefix } from './redis.ts';
import { syntheticSet, syntheticXray } from './synthetic-xray.ts';

export const TEST_INPUT = 64;

/**
 * A ChestXRayNet at 64x64 trained on generated images until it tells the classes apart on fresh
 * ones: seeded initialisation, and a fresh seed per attempt (up to three, ~3-5 s each).
 */
export async function trainTinyModel(opts: { seed?: number; epochs?: number } = {}): Promise<ModelArtifacts> {
  await initEngine();
  const seed = opts.seed ?? 1;
  const stack = (set: { pixels: Uint8Array[] }) => {
    const flat = new Uint8Array(set.pixels.length * TEST_INPUT * TEST_INPUT);
    set.pixels.forEach((p, i) => flat.set(p, i * TEST_INPUT * TEST_INPUT));
    return toInputTensor(flat, set.pixels.length, TEST_INPUT);
  };
  const train = syntheticSet(64, TEST_INPUT, seed);
  const check = syntheticSet(20, TEST_INPUT, seed + 1000);
  for (let attempt = 1; ; attempt++) {
    const model = buildChestXRayNet({ inputSize: TEST_INPUT, dropoutRate: 0, seed: seed * 10 + attempt });
    const x = stack(train);
    const y = tf.tensor2d(Array.from(train.labels), [train.labels.length, 1]);
    model.compile({ optimizer: tf.train.adam(3e-3), loss: 'binaryCrossentropy' });
    await model.fit(x, y, { epochs: opts.epochs ?? 20, batchSize: 16, shuffle: true, verbose: 0 });
    x.dispose();
    y.dispose();
    const probs = tf.tidy(() => (model.predict(stack(check)) as tf.Tensor).dataSync());
    const correct = check.labels.reduce((n, label, i) => n + ((probs[i]! >= 0.5 ? 1 : 0) === label ? 1 : 0), 0);
    if (correct >= 18) {
      const artifacts = await modelToArtifacts(model);
      model.dispose();
      return { modelJson: artifacts.modelJson as unknown as Record<string, unknown>, weights: artifacts.weights };
    }
    model.dispose();
    if (attempt === 3) throw new Error(`the tiny test model did not learn in 3 attempts (${correct}/20 correct)`);
  }
}

/** Freshly initialised weights (no training) at any input size. */
export async function untrainedModel(inputSize = TEST_INPUT): Promise<ModelArtifacts> {
  await initEngine();
  const model = buildChestXRayNet({ inputSize });
  const artifacts = await modelToArtifacts(model);
  model.dispose();
  return { modelJson: artifacts.modelJson as unknown as Record<string, unknown>, weights: artifacts.weights };
}

/** The artifacts plus the model.onnx training would publish with them (checked against tfjs). */
export async function withOnnx(artifacts: ModelArtifacts): Promise<ModelArtifacts> {
  const model = await modelFromArtifacts(artifacts);
  try {
    const inputSize = model.inputs[0]!.shape[1] as number;
    const { bytes, report } = await exportCheckedOnnx(model, inputSize);
    if (!bytes) throw new Error(`no model.onnx: ${report.reason}`);
    return { ...artifacts, onnx: bytes };
  } finally {
    model.dispose();
  }
}

export const METADATA = Object.freeze({
  classNames: ['NORMAL', 'PNEUMONIA'],
  threshold: 0.5,
  modelOptions: { inputSize: TEST_INPUT },
});

/** A synthetic X-ray as PNG (or JPEG) bytes. */
export async function xrayBytes(seed: number, positive: boolean, format: 'png' | 'jpeg' = 'png', size = TEST_INPUT): Promise<Buffer> {
  const px = syntheticXray(size, positive, seed);
  const img = sharp(Buffer.from(px), { raw: { width: size, height: size, channels: 1 } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 90 }).toBuffer();
}

export interface PredictHarness {
  app: FastifyInstance;
  http: supertest.Agent;
  config: Config;
  dataDir: string;
  registry: ModelRegistry;
  predictions: PredictionService;
  metrics: AppMetrics;
  /** A producer connection for publishing model events. */
  redis: Redis;
  publish(name: string, artifacts: ModelArtifacts, metadata?: Record<string, unknown>): Promise<ModelVersionInfo>;
  /** registry.setAlias + the model event the models service would publish. */
  moveAlias(name: string, alias: string, version: number): Promise<void>;
  event(e: ModelEvent): Promise<void>;
  close(): Promise<void>;
}

export interface PredictHarnessOptions {
  env?: Record<string, string>;
  /** The prediction service's Redis (e.g. a closed port to simulate an outage). */
  serviceRedisUrl?: string;
  refreshIntervalMs?: number;
  dataDir?: string;
  /** The predict runtime (default: TensorFlow.js). */
  runtime?: PredictRuntime;
  /** Wraps the registry the prediction service reads (e.g. to hold loads until a test lets them go). */
  wrapRegistry?: (registry: ModelRegistry) => ModelRegistry;
}

/** A job-service member the predict harness does not serve (the job routes have their own harness). */
const notServed = async (): Promise<never> => {
  throw new Error('not served by the predict harness');
};

export async function startPredictHarness(testFile: string, opts: PredictHarnessOptions = {}): Promise<PredictHarness> {
  await initEngine();
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'cxr-predict-')));
  const config = loadConfig({
    DATA_DIR: dataDir,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: uniquePrefix(testFile),
    LOG_LEVEL: 'silent',
    ...opts.env,
  });
  const registry = createModelRegistry({ dataDir, defaultModel: config.defaultModelName });
  const metrics = createMetrics({ defaultMetrics: false });
  const predictions = createPredictionService({
    config,
    registry: opts.wrapRegistry ? opts.wrapRegistry(registry) : registry,
    metrics,
    ...(opts.runtime ? { runtime: opts.runtime } : {}),
    modelEvents: createModelEventSubscriber({ redis: redisFactory(opts.serviceRedisUrl ?? config.redisUrl), prefix: config.queuePrefix }),
    ...(opts.refreshIntervalMs !== undefined ? { refreshIntervalMs: opts.refreshIntervalMs } : {}),
  });
  await predictions.start();
  const redis = createRedis(config.redisUrl, 'producer');
  // A fail-fast producer refuses commands until connected: wait, so tests start from a ready Redis
  // (a first /health/ready could otherwise answer 503 on a busy machine).
  if (redis.status !== 'ready') await once(redis, 'ready');
  const event = (e: ModelEvent) => publishModelEvent(redis, config.queuePrefix, e);
  // The real app frame and the real models service (alias moves over HTTP publish model events);
  // the training-job service is another engineer's and is faked with what the frame calls.
  const deps: AppDeps = {
    config,
    engine: await initEngine(),
    logger: false,
    datasets: createDatasetService({
      store: createDatasetStore({ dataDir, limits: { maxImagePixels: config.limits.imagePixels } }),
      uploadLimitBytes: config.limits.uploadBytes,
      datasetInUse: async () => false,
    }),
    models: createModelService({ registry, publishEvent: event, evaluations: evaluationListerFrom(createEvaluationStore({ dataDir })) }),
    predictions,
    jobs: {
      counts: async () => ({ queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 }),
      submit: notServed,
      get: notServed,
      list: notServed,
      cancel: notServed,
      events: async function* () {
        yield* [];
        throw new Error('not served by the predict harness');
      },
    },
    // Evaluations are served by the jobs harness (real queue and worker), not here.
    evaluations: { submit: notServed, get: notServed, list: notServed },
    health: createHealthService({ ping: () => redis.ping(), workers: async () => 0 }),
    metrics,
    // DICOM results have their own tests (test/integration/results-*.test.ts).
    results: { get: notServed, fhir: notServed, dicomSr: notServed, storeInstances: notServed, analyseDicom: notServed },
  };
  const app = await buildCheckedApp(deps);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    app,
    http: supertest.agent(app.server),
    config,
    dataDir,
    registry,
    predictions,
    metrics,
    redis,
    async publish(name, artifacts, metadata = { ...METADATA }) {
      const info = await registry.publish(name, artifacts, metadata);
      await event({ type: 'version-published', name, version: info.version });
      return info;
    },
    async moveAlias(name, alias, version) {
      const moved = await registry.setAlias(name, alias, version);
      await event({ type: 'alias-moved', name, alias, version, previous: moved.previous });
    },
    event,
    async close() {
      await app.close();
      await predictions.close();
      assertContractHeld();
      await closeRedis(redis);
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns true or `ms` pass. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
