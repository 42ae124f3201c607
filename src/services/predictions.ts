import * as tf from '@tensorflow/tfjs';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { AppError, isAppError } from '../errors.ts';
import { decodeXray } from '../imaging/decode.ts';
import { heatmapOverlayPng } from '../imaging/overlay.ts';
import type { AppMetrics } from '../metrics.ts';
import { createPredictor, type Predictor } from '../ml/predict.ts';
import { gradCam } from '../ml/saliency.ts';
import { modelFromArtifacts } from '../ml/serialize.ts';
import { toInputTensor } from '../ml/standardize.ts';
import { closeRedis, withTimeout, type RedisFactory } from '../queue/connection.ts';
import { modelEventsChannel, parseModelEvent, type ModelEvent } from '../queue/model-events.ts';
import type { ModelRegistry } from '../storage/model-types.ts';
import { createBatcher, type Batcher } from './batcher.ts';
import { createModelCache, type Lease } from './model-cache.ts';

/**
 * Serving predictions: which version answers a request, loading and warming it, batching
 * concurrent requests, and switching versions without failing a request.
 *
 * Resolution (explicit version > alias > 'production' > latest) is kept in memory per
 * (model, alias) so a request never touches the disk once its model is loaded. It is refreshed on
 * model events from Redis pub/sub and by a periodic re-check (which also covers missed events and
 * Redis outages). A refresh that finds a new version loads and warms it FIRST and only then
 * switches; requests already holding the old version finish on it (leases), and the old one is
 * disposed after its last request. Nothing on the request path talks to Redis.
 */

export interface PredictionTarget {
  readonly name: string;
  readonly version?: number;
  readonly alias?: string;
}

export interface Prediction {
  probability: number;
  label: string;
  threshold: number;
}

export interface ModelRef {
  name: string;
  version: number;
}

export interface PredictResult {
  model: ModelRef;
  predictions: Prediction[];
}

export interface ExplainResult {
  model: ModelRef;
  probability: number;
  label: string;
  threshold: number;
  /** The Grad-CAM heat map blended over the (preprocessed, input-size) X-ray. */
  png: Buffer;
}

export interface PredictionService {
  /** One prediction per encoded PNG/JPEG image, in input order. */
  predict(images: readonly Uint8Array[], target: PredictionTarget): Promise<PredictResult>;
  /** Grad-CAM for one image: the prediction and the heat map blended over the X-ray, as a PNG. */
  explain(image: Uint8Array, target: PredictionTarget): Promise<ExplainResult>;
  /** Model versions loaded in this process. */
  loaded(): ModelRef[];
  /** Subscribes to model events and starts the periodic re-check; resolves even when Redis is down. */
  start(): Promise<void>;
  /** Stops listening, waits for requests in flight, disposes every model. */
  close(): Promise<void>;
}

/** The subset of pino / Fastify loggers used here. */
export interface ServiceLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface PredictionServiceOptions {
  readonly config: Config;
  readonly registry: ModelRegistry;
  readonly metrics: Pick<AppMetrics, 'predictions' | 'batchSize' | 'loadedModels'>;
  readonly redis: RedisFactory;
  readonly logger?: ServiceLogger;
  /** Periodic re-check of every resolution and loaded version (default 5000 ms). */
  readonly refreshIntervalMs?: number;
  /** A resolution nobody used for this long is forgotten (default 10 min). */
  readonly resolutionIdleMs?: number;
}

const DEFAULT_CLASS_NAMES: readonly [string, string] = ['NORMAL', 'PNEUMONIA'];
const DEFAULT_THRESHOLD = 0.5;
const SUBSCRIBE_TIMEOUT_MS = 2000;

interface LoadedVersion {
  readonly name: string;
  readonly version: number;
  readonly inputSize: number;
  readonly classNames: readonly [string, string];
  readonly threshold: number;
  readonly model: tf.LayersModel;
  readonly predictor: Predictor;
  readonly batcher: Batcher<Uint8Array, number>;
}

interface Resolution {
  readonly name: string;
  readonly alias: string | undefined;
  version: number;
  lastUsed: number;
}

const silentLogger: ServiceLogger = { debug() {}, info() {}, warn() {}, error() {} };

const versionKey = (name: string, version: number) => `${name}@${version}`;
const resolutionKey = (name: string, alias: string | undefined) => `${name}#${alias ?? ''}`;

function parseVersionKey(key: string): ModelRef {
  const at = key.lastIndexOf('@');
  return { name: key.slice(0, at), version: Number(key.slice(at + 1)) };
}

/** classNames [negative, positive] and threshold from a version's metadata, with safe defaults. */
export function labelling(metadata: Readonly<Record<string, unknown>>): {
  classNames: readonly [string, string];
  threshold: number;
} {
  const names = metadata.classNames;
  const classNames: readonly [string, string] =
    Array.isArray(names) && names.length >= 2 && typeof names[0] === 'string' && typeof names[1] === 'string'
      ? [names[0], names[1]]
      : DEFAULT_CLASS_NAMES;
  const t = metadata.threshold;
  const threshold = typeof t === 'number' && Number.isFinite(t) && t >= 0 && t <= 1 ? t : DEFAULT_THRESHOLD;
  return { classNames, threshold };
}

/** The side of the model's square grey input, read from the weights' own graph. */
export function modelInputSize(model: tf.LayersModel): number {
  const shape = model.inputs[0]?.shape;
  const [, h, w, c] = shape ?? [];
  if (!shape || shape.length !== 4 || typeof h !== 'number' || h !== w || c !== 1) {
    throw new AppError('INTERNAL', `model input shape ${JSON.stringify(shape)} is not [batch, s, s, 1]`);
  }
  return h;
}

const label = (m: LoadedVersion, p: number) => (p >= m.threshold ? m.classNames[1] : m.classNames[0]);

export function createPredictionService(opts: PredictionServiceOptions): PredictionService {
  const { config, registry, metrics } = opts;
  const log = opts.logger ?? silentLogger;
  const refreshIntervalMs = opts.refreshIntervalMs ?? 5000;
  const resolutionIdleMs = opts.resolutionIdleMs ?? 10 * 60_000;
  const maxPixels = config.limits.imagePixels;

  async function loadVersion(key: string): Promise<LoadedVersion> {
    const { name, version } = parseVersionKey(key);
    const started = performance.now();
    const [artifacts, info] = await Promise.all([registry.loadArtifacts(name, version), registry.getVersion(name, version)]);
    const model = await modelFromArtifacts(artifacts);
    try {
      const inputSize = modelInputSize(model);
      const declared = (info.metadata.modelOptions as { inputSize?: unknown } | undefined)?.inputSize;
      if (declared !== undefined && declared !== inputSize) {
        log.warn({ model: name, version, declared, inputSize }, 'metadata inputSize disagrees with the weights; using the weights');
      }
      const predictor = createPredictor(model, { inputSize, batchSize: config.batching.maxBatchSize });
      await predictor.warmUp();
      const { classNames, threshold } = labelling(info.metadata);
      const batcher = createBatcher<Uint8Array, number>({
        maxBatchSize: config.batching.maxBatchSize,
        maxWaitMs: config.batching.maxWaitMs,
        run: (images) => predictor.predict(images).then((probs) => Array.from(probs)),
        onBatch: (size) => metrics.batchSize.observe(size),
      });
      metrics.loadedModels.set({ model: name, version: String(version) }, 1);
      log.info({ model: name, version, inputSize, ms: Math.round(performance.now() - started) }, 'model version loaded and warmed');
      return { name, version, inputSize, classNames, threshold, model, predictor, batcher };
    } catch (err) {
      model.dispose();
      throw err;
    }
  }

  async function disposeVersion(m: LoadedVersion): Promise<void> {
    await m.batcher.close();
    m.predictor.dispose(); // owns the model
    metrics.loadedModels.remove({ model: m.name, version: String(m.version) });
    log.info({ model: m.name, version: m.version }, 'model version unloaded');
  }

  const cache = createModelCache<LoadedVersion>({
    capacity: config.modelCacheSize,
    load: loadVersion,
    dispose: disposeVersion,
    onError: (err, key) => log.error({ err, key }, 'failed to dispose a model version'),
  });

  const resolutions = new Map<string, Resolution>();
  /** Misses being resolved from disk, shared by concurrent requests. */
  const resolving = new Map<string, Promise<number>>();
  /** Refreshes in progress; a key asked again meanwhile is refreshed once more afterwards. */
  const refreshing = new Map<string, { done: Promise<void>; again: boolean }>();

  /**
   * A lease on the version that serves `target`. When the resolution is cached and the version
   * loaded, the lease is taken synchronously (no await in between), so a concurrent switch can
   * never hand this request a model that is being disposed.
   */
  function acquire(target: PredictionTarget): Promise<Lease<LoadedVersion>> {
    const { name, version, alias } = target;
    if (version !== undefined) {
      const key = versionKey(name, version);
      if (cache.has(key)) return cache.acquire(key);
      return registry.resolve(name, { version }).then((v) => cache.acquire(versionKey(name, v)));
    }
    const rkey = resolutionKey(name, alias);
    const cached = resolutions.get(rkey);
    if (cached) {
      cached.lastUsed = Date.now();
      return cache.acquire(versionKey(name, cached.version));
    }
    let pending = resolving.get(rkey);
    if (!pending) {
      pending = registry.resolve(name, alias !== undefined ? { alias } : {}).then((v) => {
        if (!resolutions.has(rkey)) resolutions.set(rkey, { name, alias, version: v, lastUsed: Date.now() });
        return resolutions.get(rkey)!.version;
      });
      const p = pending;
      resolving.set(rkey, p);
      void p.then(
        () => resolving.delete(rkey),
        () => resolving.delete(rkey),
      );
    }
    return pending.then((v) => cache.acquire(versionKey(name, v)));
  }

  /** Re-reads one resolution from the registry; a new version is loaded and warmed before the switch. */
  async function refreshResolution(rkey: string): Promise<void> {
    const r = resolutions.get(rkey);
    if (!r) return;
    let version: number;
    try {
      version = await registry.resolve(r.name, r.alias !== undefined ? { alias: r.alias } : {});
    } catch (err) {
      if (isAppError(err) && (err.status === 404 || err.code === 'NO_MODEL')) {
        // alias or model gone: forget it; the next request resolves from disk and gets the error
        if (resolutions.get(rkey) === r) resolutions.delete(rkey);
        log.info({ model: r.name, alias: r.alias, code: err.code }, 'resolution dropped');
      } else {
        log.warn({ err, model: r.name, alias: r.alias }, 'could not re-check which version to serve; keeping the current one');
      }
      return;
    }
    if (version === r.version) return;
    const previous = r.version;
    let lease: Lease<LoadedVersion>;
    try {
      lease = await cache.acquire(versionKey(r.name, version)); // load + warm up before switching
    } catch (err) {
      log.error({ err, model: r.name, version, alias: r.alias }, 'could not load the new version; still serving the previous one');
      return;
    }
    if (resolutions.get(rkey) === r) r.version = version;
    lease.release();
    log.info({ model: r.name, alias: r.alias ?? '(default)', version, previous }, 'serving a new version');
  }

  function refreshKey(rkey: string): Promise<void> {
    const running = refreshing.get(rkey);
    if (running) {
      running.again = true;
      return running.done;
    }
    const state = { done: Promise.resolve(), again: false };
    state.done = (async () => {
      try {
        do {
          state.again = false;
          await refreshResolution(rkey);
        } while (state.again);
      } finally {
        refreshing.delete(rkey);
      }
    })();
    refreshing.set(rkey, state);
    return state.done;
  }

  /** Re-checks the resolutions of one model (or all), then drops loaded versions that are gone. */
  async function refresh(name?: string): Promise<void> {
    const now = Date.now();
    const keys: string[] = [];
    for (const [rkey, r] of resolutions) {
      if (name !== undefined && r.name !== name) continue;
      if (now - r.lastUsed > resolutionIdleMs) resolutions.delete(rkey);
      else keys.push(rkey);
    }
    await Promise.all(keys.map(refreshKey));
    const inUse = new Set([...resolutions.values()].map((r) => versionKey(r.name, r.version)));
    await Promise.all(
      cache.entries().map(async ({ key, value }) => {
        if (inUse.has(key) || (name !== undefined && value.name !== name)) return;
        try {
          await registry.getVersion(value.name, value.version);
        } catch (err) {
          if (isAppError(err) && err.status === 404) {
            log.info({ model: value.name, version: value.version }, 'version deleted; unloading after requests in flight');
            cache.invalidate(key);
          }
        }
      }),
    );
  }

  function onEvent(event: ModelEvent): void {
    log.debug({ event }, 'model event');
    void refresh(event.name).catch((err: unknown) => log.warn({ err }, 'refresh after a model event failed'));
  }

  let subscriber: Redis | undefined;
  let timer: NodeJS.Timeout | undefined;
  let periodic: Promise<void> | undefined;
  let closed = false;

  async function decodeAll(images: readonly Uint8Array[], size: number): Promise<Uint8Array[]> {
    const settled = await Promise.allSettled(images.map((img) => decodeXray(img, size, { maxPixels })));
    const out: Uint8Array[] = [];
    for (let index = 0; index < settled.length; index++) {
      const s = settled[index]!;
      if (s.status === 'fulfilled') {
        out.push(s.value);
        continue;
      }
      const err = s.reason;
      if (isAppError(err) && err.status < 500) {
        const which = images.length > 1 ? `image ${index}` : 'image';
        throw new AppError(err.code, `${which}: ${err.message}`, { ...err.details, index }, { cause: err });
      }
      throw err;
    }
    return out;
  }

  return {
    async predict(images, target) {
      if (images.length === 0) throw new AppError('BAD_REQUEST', 'no image to classify');
      const lease = await acquire(target);
      try {
        const m = lease.value;
        // Announce this request to the batcher while its images decode, so a batch forming now waits for it.
        const ticket = m.batcher.expect();
        let pixels: Uint8Array[];
        try {
          pixels = await decodeAll(images, m.inputSize);
        } catch (err) {
          ticket.cancel();
          throw err;
        }
        const probs = await ticket.submit(pixels);
        const predictions = probs.map((probability) => ({ probability, label: label(m, probability), threshold: m.threshold }));
        const version = String(m.version);
        for (const p of predictions) metrics.predictions.inc({ model: m.name, version, label: p.label });
        return { model: { name: m.name, version: m.version }, predictions };
      } finally {
        lease.release();
      }
    },

    async explain(image, target) {
      const lease = await acquire(target);
      try {
        const m = lease.value;
        const [pixels] = await decodeAll([image], m.inputSize);
        const x = toInputTensor(pixels!, 1, m.inputSize);
        let cam: { heatmap: Float32Array; probability: number };
        try {
          cam = gradCam(m.model, x);
        } finally {
          x.dispose();
        }
        const png = await heatmapOverlayPng(pixels!, cam.heatmap, m.inputSize);
        const l = label(m, cam.probability);
        metrics.predictions.inc({ model: m.name, version: String(m.version), label: l });
        return {
          model: { name: m.name, version: m.version },
          probability: cam.probability,
          label: l,
          threshold: m.threshold,
          png,
        };
      } finally {
        lease.release();
      }
    },

    loaded() {
      return cache
        .entries()
        .map(({ value }) => ({ name: value.name, version: value.version }))
        .sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
    },

    async start() {
      if (subscriber || closed) return;
      const channel = modelEventsChannel(config.queuePrefix);
      const sub = opts.redis('subscriber');
      subscriber = sub;
      sub.on('message', (ch: string, message: string) => {
        if (ch !== channel) return;
        const event = parseModelEvent(message);
        if (event) onEvent(event);
        else log.warn({ channel }, 'ignored a malformed model event');
      });
      let connectedBefore = false;
      sub.on('ready', () => {
        // After an outage events may have been missed: re-check everything at once.
        if (connectedBefore) void refresh().catch(() => undefined);
        connectedBefore = true;
      });
      try {
        await withTimeout(sub.subscribe(channel), SUBSCRIBE_TIMEOUT_MS, () => new Error('subscribe timed out'));
      } catch (err) {
        // ioredis subscribes when Redis comes back (offline queue + auto-resubscribe); until then the periodic re-check covers.
        log.warn({ err: (err as Error).message }, 'model events unavailable (Redis down?); relying on the periodic re-check');
      }
      timer = setInterval(() => {
        if (periodic) return; // the previous re-check is still running (slow disk)
        periodic = refresh()
          .catch((err: unknown) => log.warn({ err }, 'periodic model re-check failed'))
          .finally(() => {
            periodic = undefined;
          });
      }, refreshIntervalMs);
      timer.unref();
    },

    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      if (subscriber) await closeRedis(subscriber);
      subscriber = undefined;
      await periodic;
      await Promise.allSettled([...refreshing.values()].map((r) => r.done));
      await cache.close();
      resolutions.clear();
    },
  };
}
