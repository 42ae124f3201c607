import type { Config } from '../config.ts';
import { labelOf } from '../domain/labelling.ts';
import { silentLogger, type Logger } from '../domain/logger.ts';
import { AppError, isAppError } from '../errors.ts';
import { decodeXray } from '../imaging/decode.ts';
import { heatmapOverlayPng } from '../imaging/overlay.ts';
import type { AppMetrics } from '../metrics.ts';
import { tensorCount } from '../ml/engine.ts';
import type { PredictRuntime } from '../onnx/runtime.ts';
import type { ModelEventSource } from '../queue/model-event-subscriber.ts';
import type { ModelRegistry } from '../storage/model-types.ts';
import { createLoadedVersions } from './loaded-versions.ts';
import { createVersionResolver, type ModelReadiness, type VersionTarget } from './version-resolver.ts';

export type { ModelReadiness } from './version-resolver.ts';

/**
 * Serving predictions, the request path: decode the images while announcing them to the batcher
 * of the version that serves the target, run them in a shared batch, label the probabilities.
 * Which version serves a target lives in src/services/version-resolver.ts; loading, warming and
 * labelling a version in src/services/loaded-versions.ts. Nothing on the request path talks to Redis.
 */

export type PredictionTarget = VersionTarget;

export interface Prediction {
  probability: number;
  label: string;
  threshold: number;
}

export interface ModelRef {
  name: string;
  version: number;
}

/** A version loaded in this process and what runs its predictions. */
export interface LoadedRef extends ModelRef {
  runtime: 'onnxruntime' | 'tfjs';
}

/** The process's predict runtime, as /health/ready reports it. */
export interface RuntimeReport {
  readonly name: 'onnxruntime' | 'tfjs';
  readonly requested: 'auto' | 'onnxruntime' | 'tfjs';
  readonly description: string;
  readonly fallbackReason?: string;
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
  loaded(): LoadedRef[];
  /**
   * Whether the model's default target is loaded and warm (asking starts loading it). NO_MODEL /
   * MODEL_NOT_FOUND when it has no version.
   */
  readiness(name: string): Promise<ModelReadiness>;
  /** What runs predictions in this process. */
  runtime(): RuntimeReport;
  /** TensorFlow.js tensors alive in this process. */
  tensorCount(): number;
  /** Subscribes to model events and starts the periodic re-check; resolves even when Redis is down. */
  start(): Promise<void>;
  /** Stops listening, waits for requests in flight, disposes every model. */
  close(): Promise<void>;
}

export interface PredictionServiceOptions {
  readonly config: Config;
  readonly registry: ModelRegistry;
  readonly metrics: Pick<AppMetrics, 'predictions' | 'batchSize' | 'loadedModels' | 'runtimeFallbacks' | 'predictRuntime'>;
  /** onnxruntime or TensorFlow.js (src/onnx/runtime.ts choosePredictRuntime); default TensorFlow.js. */
  readonly runtime?: PredictRuntime;
  /** Model events (src/queue/model-event-subscriber.ts): alias moves, new and deleted versions. */
  readonly modelEvents: ModelEventSource;
  readonly logger?: Logger;
  /** Periodic re-check of every resolution and loaded version (default 5000 ms). */
  readonly refreshIntervalMs?: number;
  /** A resolution nobody used for this long is forgotten (default 10 min). */
  readonly resolutionIdleMs?: number;
}

export function createPredictionService(opts: PredictionServiceOptions): PredictionService {
  const { config, registry, metrics } = opts;
  const log = opts.logger ?? silentLogger;
  const maxPixels = config.limits.imagePixels;
  const runtime: PredictRuntime = opts.runtime ?? { name: 'tfjs', requested: 'tfjs', description: 'TensorFlow.js' };
  metrics.predictRuntime.set({ runtime: runtime.name, requested: runtime.requested }, 1);
  if (runtime.fallbackReason !== undefined) metrics.runtimeFallbacks.inc({ scope: 'process', reason: 'onnxruntime-unavailable' });
  const versions = createLoadedVersions({ config, registry, metrics, log, runtime });
  const resolver = createVersionResolver({
    registry,
    versions,
    events: opts.modelEvents,
    log,
    refreshIntervalMs: opts.refreshIntervalMs ?? 5000,
    resolutionIdleMs: opts.resolutionIdleMs ?? 10 * 60_000,
  });

  /** Decodes every image to size x size grey; the first client-side failure names its image. */
  async function decodeAll(images: readonly Uint8Array[], size: number): Promise<Uint8Array[]> {
    const settled = await Promise.allSettled(images.map((img) => decodeXray(img, size, { maxPixels })));
    const out: Uint8Array[] = [];
    for (let index = 0; index < settled.length; index++) {
      const s = settled[index]!;
      if (s.status === 'fulfilled') {
        out.push(s.value);
        continue;
      }
      const err = s.reason as unknown;
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
      const lease = await resolver.acquire(target);
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
        const predictions = probs.map((probability) => labelOf(m, probability));
        const version = String(m.version);
        for (const p of predictions) metrics.predictions.inc({ model: m.name, version, label: p.label });
        return { model: { name: m.name, version: m.version }, predictions };
      } finally {
        lease.release();
      }
    },

    async explain(image, target) {
      const lease = await resolver.acquire(target);
      try {
        const m = lease.value;
        const [pixels] = await decodeAll([image], m.inputSize);
        const cam = m.model.explain(pixels!);
        const png = await heatmapOverlayPng(pixels!, cam.heatmap, m.inputSize);
        const labelled = labelOf(m, cam.probability);
        metrics.predictions.inc({ model: m.name, version: String(m.version), label: labelled.label });
        return { model: { name: m.name, version: m.version }, ...labelled, png };
      } finally {
        lease.release();
      }
    },

    loaded() {
      return versions
        .entries()
        .map(({ value }) => ({ name: value.name, version: value.version, runtime: value.runtime }))
        .sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
    },

    readiness: (name) => resolver.readiness(name),

    runtime: () => ({
      name: runtime.name,
      requested: runtime.requested,
      description: runtime.description,
      ...(runtime.fallbackReason !== undefined ? { fallbackReason: runtime.fallbackReason } : {}),
    }),

    tensorCount,

    async start() {
      await resolver.start();
      // Load and warm the default model now, so readiness turns 200 without waiting for a request.
      resolver.readiness(config.defaultModelName).catch((err: unknown) => {
        if (!(isAppError(err) && (err.code === 'NO_MODEL' || err.code === 'MODEL_NOT_FOUND'))) {
          log.warn({ err, model: config.defaultModelName }, 'could not resolve the default model at start');
        }
      });
    },

    async close() {
      await resolver.close();
      await versions.close();
    },
  };
}
