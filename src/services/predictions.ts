import type { Config } from '../config.ts';
import { labelOf } from '../domain/labelling.ts';
import { silentLogger, type Logger } from '../domain/logger.ts';
import { AppError, isAppError } from '../errors.ts';
import { decodeImage, dicomPolicyOf, type DecodedImage, type DicomFacts, type DicomPolicy } from '../imaging/decode.ts';
import { decodeOverlayBase, DEFAULT_OVERLAY_MAX_SIDE, overlayBaseFromGrey, heatLayerPng, heatmapOverlayPng, type OverlayBase } from '../imaging/overlay.ts';
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

/** A prediction for a DICOM input, with what the object says about itself (de-identified). */
export interface DicomPrediction extends Prediction {
  /**
   * The de-identified header subset, the keyed hashes (patientKey, studyKey, instanceKey) and the
   * UIDs for building a result that references the object (resultOnly: never store or log them).
   */
  dicom: Omit<DicomFacts, 'picture'>;
}

export interface DicomPredictResult {
  model: ModelRef;
  predictions: DicomPrediction[];
}

export interface PredictionService {
  /** One prediction per encoded PNG, JPEG or DICOM image, in input order. */
  predict(images: readonly Uint8Array[], target: PredictionTarget): Promise<PredictResult>;
  /**
   * predict for DICOM objects (Part 10 files or bare data sets), each answer with its DICOM facts:
   * what a DICOM result (SR, FHIR, STOW-RS) is built from. An input that is not DICOM is refused
   * (415 UNSUPPORTED_IMAGE_FORMAT naming its index); DICOM refusals are the reader's 4xx.
   * `refuseLateral` refuses lateral views whatever DICOM_REFUSE_LATERAL says.
   */
  predictDicom(images: readonly Uint8Array[], target: PredictionTarget, options?: { refuseLateral?: boolean }): Promise<DicomPredictResult>;
  /** Grad-CAM for one image: the prediction and the heat map in the image's own geometry, as PNGs. */
  explain(image: Uint8Array, target: PredictionTarget, options?: ExplainOptions): Promise<ExplainResult>;
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
  /**
   * The HMAC secret of the DICOM keys when config.dicom.keySecret is unset (the composition root
   * passes the one kept in the data dir, src/storage/kept-secrets.ts); else a per-process one.
   */
  readonly dicomKeySecret?: string;
}

export function createPredictionService(opts: PredictionServiceOptions): PredictionService {
  const { config, registry, metrics } = opts;
  const log = opts.logger ?? silentLogger;
  const maxPixels = config.limits.imagePixels;
  const runtime: PredictRuntime = opts.runtime ?? { name: 'tfjs', requested: 'tfjs', description: 'TensorFlow.js' };
  metrics.predictRuntime.set({ runtime: runtime.name, requested: runtime.requested }, 1);
  if (runtime.fallbackReason !== undefined) metrics.runtimeFallbacks.inc({ scope: 'process', reason: 'onnxruntime-unavailable' });
  const versions = createLoadedVersions({ config, registry, metrics, log, runtime });
  const dicom: DicomPolicy = dicomPolicyOf(config.dicom, opts.dicomKeySecret);
  const resolver = createVersionResolver({
    registry,
    versions,
    events: opts.modelEvents,
    log,
    refreshIntervalMs: opts.refreshIntervalMs ?? 5000,
    resolutionIdleMs: opts.resolutionIdleMs ?? 10 * 60_000,
  });

  const which = (images: readonly Uint8Array[], index: number) => (images.length > 1 ? `image ${index}` : 'image');

  /**
   * Decodes every image to size x size grey; the first client-side failure names its image.
   * `onlyDicom`: refuse anything but DICOM, read under that policy (the configured one, tightened).
   */
  async function decodeAll(images: readonly Uint8Array[], size: number, onlyDicom?: DicomPolicy): Promise<DecodedImage[]> {
    const settled = await Promise.allSettled(
      images.map(async (img) => {
        const decoded = await decodeImage(img, size, { maxPixels, dicom: onlyDicom ?? dicom });
        if (onlyDicom && !decoded.dicom) {
          throw new AppError('UNSUPPORTED_IMAGE_FORMAT', `not a DICOM object (a ${decoded.format.toUpperCase()} image)`);
        }
        return decoded;
      }),
    );
    const out: DecodedImage[] = [];
    for (let index = 0; index < settled.length; index++) {
      const s = settled[index]!;
      if (s.status === 'fulfilled') {
        out.push(s.value);
        continue;
      }
      const err = s.reason as unknown;
      if (isAppError(err) && err.status < 500) {
        throw new AppError(err.code, `${which(images, index)}: ${err.message}`, { ...err.details, index }, { cause: err });
      }
      throw err;
    }
    return out;
  }

  /** Decode (announced to the batcher meanwhile), run in a shared batch, label. */
  async function classify(
    images: readonly Uint8Array[],
    target: PredictionTarget,
    onlyDicom?: DicomPolicy,
  ): Promise<{ model: ModelRef; predictions: { prediction: Prediction; facts?: DicomFacts }[] }> {
    if (images.length === 0) throw new AppError('BAD_REQUEST', 'no image to classify');
    const lease = await resolver.acquire(target);
    try {
      const m = lease.value;
      // Announce this request to the batcher while its images decode, so a batch forming now waits for it.
      const ticket = m.batcher.expect();
      let decoded: DecodedImage[];
      try {
        decoded = await decodeAll(images, m.inputSize, onlyDicom);
      } catch (err) {
        ticket.cancel();
        throw err;
      }
      const probs = await ticket.submit(decoded.map((d) => d.pixels));
      const predictions = probs.map((probability, i) => ({
        prediction: labelOf(m, probability),
        ...(decoded[i]!.dicom ? { facts: decoded[i]!.dicom } : {}),
      }));
      const version = String(m.version);
      for (const p of predictions) metrics.predictions.inc({ model: m.name, version, label: p.prediction.label });
      return { model: { name: m.name, version: m.version }, predictions };
    } finally {
      lease.release();
    }
  }

  return {
    async predict(images, target) {
      const { model, predictions } = await classify(images, target);
      return { model, predictions: predictions.map((p) => p.prediction) };
    },

    async predictDicom(images, target, options = {}) {
      const policy: DicomPolicy = options.refuseLateral ? { ...dicom, refuseLateral: true } : dicom;
      const { model, predictions } = await classify(images, target, policy);
      return {
        model,
        predictions: predictions.map(({ prediction, facts }) => {
          const { picture: _picture, ...dicomFacts } = facts!;
          return { ...prediction, dicom: dicomFacts };
        }),
      };
    },

    async explain(image, target, options = {}) {
      const maxSide = options.maxSide ?? DEFAULT_OVERLAY_MAX_SIDE;
      const lease = await resolver.acquire(target);
      try {
        const m = lease.value;
        const [decoded] = await decodeAll([image], m.inputSize);
        const pixels = decoded!.pixels;
        // For display only, in the image's own geometry (a DICOM's 8-bit frame as decoded; a PNG or
        // JPEG decoded again at overlay size); the model input above is unchanged.
        const picture = decoded!.dicom?.picture;
        const original = picture
          ? await overlayBaseFromGrey(picture.pixels, picture.width, picture.height, maxSide)
          : await decodeOverlayBase(image, maxSide, { maxPixels });
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
