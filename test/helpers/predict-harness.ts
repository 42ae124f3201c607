/**
 * Integration harness for the prediction routes: real tfjs (tiny ChestXRayNet at 64x64), real
 * model registry in a fresh temp DATA_DIR, real Redis pub/sub, real HTTP on an ephemeral port.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import sharp from 'sharp';
import supertest from 'supertest';
import { loadConfig, type Config } from '../../src/config.ts';
import { isAppError } from '../../src/errors.ts';
import explainRoutes from '../../src/http/explain/routes.ts';
import predictRoutes from '../../src/http/predict/routes.ts';
import { createMetrics, type AppMetrics } from '../../src/metrics.ts';
import { initEngine } from '../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../src/ml/model.ts';
import { modelToArtifacts } from '../../src/ml/serialize.ts';
import { toInputTensor } from '../../src/ml/standardize.ts';
import { closeRedis, createRedis, redisFactory } from '../../src/queue/connection.ts';
import { publishModelEvent, type ModelEvent } from '../../src/queue/model-events.ts';
import { createPredictionService, type PredictionService } from '../../src/services/predictions.ts';
import { createModelRegistry } from '../../src/storage/model-registry.ts';
import type { ModelArtifacts, ModelRegistry, ModelVersionInfo } from '../../src/storage/model-types.ts';
import { TEST_REDIS_URL, uniquePrefix } from './redis.ts';
import { syntheticSet, syntheticXray } from './synthetic-xray.ts';

export const TEST_INPUT = 64;

/**
 * A ChestXRayNet at 64x64 trained on generated images until it tells the classes apart on fresh
 * ones (random initialisation is not seeded: up to three attempts of ~3-5 s).
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
    const model = buildChestXRayNet({ inputSize: TEST_INPUT, dropoutRate: 0 });
    const x = stack(train);
    const y = tf.tensor2d(Array.from(train.labels), [train.labels.length, 1]);
    model.compile({ optimizer: tf.train.adam(3e-3), loss: 'binaryCrossentropy' });
    await model.fit(x, y, { epochs: opts.epochs ?? 20, batchSize: 16, shuffle: true, verbose: 0 });
    x.dispose();
    y.dispose();
    const probs = tf.tidy(() => (model.predict(stack(check)) as tf.Tensor).dataSync());
    const correct = check.labels.reduce((n, label, i) => n + ((probs[i]! >= 0.5 ? 1 : 0) === label ? 1 : 0), 0);
    if (correct >= 18 || attempt === 3) {
      const artifacts = await modelToArtifacts(model);
      model.dispose();
      return { modelJson: artifacts.modelJson as unknown as Record<string, unknown>, weights: artifacts.weights };
    }
    model.dispose();
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
}

/**
 * The app frame (src/app.ts) is the api engineer's; until it registers these routes this builds
 * the minimum around them: root multipart (as app.ts does) and an error handler mapping AppError,
 * validation and framework errors the way the one error handler does.
 */
async function buildTestApp(config: Config, predictions: PredictionService): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array' } } });
  await app.register(multipart, { throwFileSizeLimit: true });
  app.setErrorHandler((err, _request, reply) => {
    const e = err as { code?: string; statusCode?: number; validation?: unknown; message: string };
    if (isAppError(err)) {
      if (err.status === 503) reply.header('retry-after', '5');
      return reply.code(err.status).send({ error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
    }
    if (e.validation) return reply.code(400).send({ error: { code: 'VALIDATION_FAILED', message: e.message } });
    const byCode: Record<string, [number, string]> = {
      FST_ERR_CTP_BODY_TOO_LARGE: [413, 'PAYLOAD_TOO_LARGE'],
      FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'UNSUPPORTED_MEDIA_TYPE'],
      FST_PARTS_LIMIT: [413, 'PAYLOAD_TOO_LARGE'],
    };
    const known = e.code ? byCode[e.code] : undefined;
    if (known) return reply.code(known[0]).send({ error: { code: known[1], message: e.message } });
    if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send({ error: { code: 'BAD_REQUEST', message: e.message } });
    return reply.code(500).send({ error: { code: 'INTERNAL', message: 'Internal server error' } });
  });
  const deps = { config, predictions };
  await app.register(predictRoutes, { deps });
  await app.register(explainRoutes, { deps });
  await app.ready();
  return app;
}

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
    registry,
    metrics,
    redis: redisFactory(opts.serviceRedisUrl ?? config.redisUrl),
    ...(opts.refreshIntervalMs !== undefined ? { refreshIntervalMs: opts.refreshIntervalMs } : {}),
  });
  await predictions.start();
  const app = await buildTestApp(config, predictions);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const redis = createRedis(config.redisUrl, 'producer');
  const event = (e: ModelEvent) => publishModelEvent(redis, config.queuePrefix, e);
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
