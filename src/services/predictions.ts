import type { Config } from '../config.ts';
import { labelOf } from '../domain/labelling.ts';
import { silentLogger, type Logger } from '../domain/logger.ts';
import { AppError, isAppError } from '../errors.ts';
import { decodeXray } from '../imaging/decode.ts';
import { decodeOverlayBase, DEFAULT_OVERLAY_MAX_SIDE, heatLayerPng, heatmapOverlayPng, type OverlayBase } from '../imaging/overlay.ts';
import type { AppMetrics } from '../metrics.ts';
import type { ModelEventSource } from '../queue/model-event-subscriber.ts';
import type { ModelRegistry } from '../storage/model-types.ts';
import { createLoadedVersions } from './loaded-versions.ts';
import { createVersionResolver, type VersionTarget } from './version-resolver.ts';

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

export interface PredictResult {
  model: ModelRef;
  predictions: Prediction[];
}

export interface ExplainOptions {
  /** Longest side of the overlay (default DEFAULT_OVERLAY_MAX_SIDE); the image is never enlarged. */
  readonly maxSide?: number;
}

export interface ExplainResult {
  model: ModelRef;
  probability: number;
  label: string;
  threshold: number;
  /** The Grad-CAM heat map blended over the grey X-ray (RGB PNG, width x height). */
  png: Buffer;
  /** The heat map alone (RGBA PNG, width x height): transparent where cold, to lay over the original. */
  heatLayer: Buffer;
  /** Size of both PNGs: the original's aspect, long side at most maxSide (or the model input's, see geometry). */
  width: number;
  height: number;
  /** 'original': the image's own aspect and size (capped); 'model-input': the square the model saw (a format drawn only there). */
  geometry: 'original' | 'model-input';
  /** The image's size as sent (EXIF orientation applied); null when only the model input was drawn. */
  source: { width: number; height: number } | null;
  /** Which layer was explained and how, and its feature grid: the map's true resolution before smoothing. */
  layer: string;
  method: string;
  grid: { rows: number; cols: number };
  inputSize: number;
  /** The positive class, whose evidence the map shows. */
  explainedClass: string;
  /** What the heat map does and does not mean. */
  note: string;
}

/** What every heat map answer says about itself. */
export function heatmapNote(positiveClass: string, grid: { rows: number; cols: number }): string {
  return (
    `The heat map shows where in this image the features came from that raised the model's score for ${positiveClass} ` +
    `(warm = more). It is computed on a ${grid.cols}x${grid.rows} feature grid and smoothed up to the image, so it is coarse. ` +
    'It is not a localisation or segmentation of pneumonia, and it does not say whether the prediction is right. ' +
    'Hot spots on borders, text, side markers or devices mean the model relies on shortcuts rather than on the lungs.'
  );
}

export interface PredictionService {
  /** One prediction per encoded PNG/JPEG image, in input order. */
  predict(images: readonly Uint8Array[], target: PredictionTarget): Promise<PredictResult>;
  /** Grad-CAM for one image: the prediction and the heat map in the image's own geometry, as PNGs. */
  explain(image: Uint8Array, target: PredictionTarget, options?: ExplainOptions): Promise<ExplainResult>;
  /** Model versions loaded in this process. */
  loaded(): ModelRef[];
  /** Subscribes to model events and starts the periodic re-check; resolves even when Redis is down. */
  start(): Promise<void>;
  /** Stops listening, waits for requests in flight, disposes every model. */
  close(): Promise<void>;
}

export interface PredictionServiceOptions {
  readonly config: Config;
  readonly registry: ModelRegistry;
  readonly metrics: Pick<AppMetrics, 'predictions' | 'batchSize' | 'loadedModels'>;
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
  const versions = createLoadedVersions({ config, registry, metrics, log });
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

    async explain(image, target, options = {}) {
      const maxSide = options.maxSide ?? DEFAULT_OVERLAY_MAX_SIDE;
      const lease = await resolver.acquire(target);
      try {
        const m = lease.value;
        const [pixels] = await decodeAll([image], m.inputSize);
        // Decoded again for display only, in the image's own geometry; the model input above is unchanged.
        const original = await decodeOverlayBase(image, maxSide, { maxPixels });
        const base: OverlayBase = original ?? {
          grey: pixels!,
          width: m.inputSize,
          height: m.inputSize,
          source: { width: m.inputSize, height: m.inputSize },
        };
        // The model saw the image squashed to inputSize x inputSize: stretching the map to the
        // original's width and height puts each feature cell back over the pixels it saw.
        const cam = m.model.explain(pixels!, { width: base.width, height: base.height });
        const [png, heatLayer] = await Promise.all([
          heatmapOverlayPng(base.grey, cam.heatmap, base.width, base.height),
          heatLayerPng(cam.heatmap, base.width, base.height),
        ]);
        const labelled = labelOf(m, cam.probability);
        metrics.predictions.inc({ model: m.name, version: String(m.version), label: labelled.label });
        const explainedClass = m.classNames[1];
        return {
          model: { name: m.name, version: m.version },
          ...labelled,
          png,
          heatLayer,
          width: base.width,
          height: base.height,
          geometry: original ? 'original' : 'model-input',
          source: original ? original.source : null,
          layer: cam.layer,
          method: cam.method,
          grid: cam.grid,
          inputSize: m.inputSize,
          explainedClass,
          note: heatmapNote(explainedClass, cam.grid),
        };
      } finally {
        lease.release();
      }
    },

    loaded() {
      return versions
        .entries()
        .map(({ value }) => ({ name: value.name, version: value.version }))
        .sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
    },

    start: () => resolver.start(),

    async close() {
      await resolver.close();
      await versions.close();
    },
  };
}
