import type { Config } from '../config.ts';
import { labelling, type Labelling } from '../domain/labelling.ts';
import type { Logger } from '../domain/logger.ts';
import type { AppMetrics } from '../metrics.ts';
import { exportCheckImages } from '../ml/onnx-graph.ts';
import { loadServingModel, standardizedBatch, type ServingModel } from '../ml/predict.ts';
import { MULTI_THREAD_MIN_BATCH, type OnnxSession, type PredictRuntime } from '../onnx/runtime.ts';
import type { ModelRegistry } from '../storage/model-types.ts';
import { createBatcher, type Batcher } from './batcher.ts';
import { createModelCache, type ModelCache } from './model-cache.ts';
import { ONNX_TOLERANCE } from './onnx-export.ts';

/**
 * Model versions loaded in this process: read from the registry, built, warmed up, labelled from
 * their metadata and given a batcher; kept in a bounded cache with leases (src/services/model-cache.ts)
 * and disposed after their last request.
 *
 * With onnxruntime as the process's runtime, a version's predictions run on an onnxruntime
 * session of its model.onnx (after the one preprocessing step, src/ml/standardize.ts), checked at
 * load against its TensorFlow.js model on two check images. A version without model.onnx
 * (published before the export), or whose model.onnx fails to load or to agree, serves on
 * TensorFlow.js: logged as a warning and counted in cxr_predict_runtime_fallbacks_total.
 * Grad-CAM always runs on the TensorFlow.js model.
 */

export interface LoadedVersion extends Labelling {
  readonly name: string;
  readonly version: number;
  readonly inputSize: number;
  readonly model: ServingModel;
  /** What runs this version's predictions. */
  readonly runtime: 'onnxruntime' | 'tfjs';
  readonly onnx?: OnnxSession;
  readonly batcher: Batcher<Uint8Array, number>;
}

export const versionKey = (name: string, version: number): string => `${name}@${version}`;

function parseVersionKey(key: string): { name: string; version: number } {
  const at = key.lastIndexOf('@');
  return { name: key.slice(0, at), version: Number(key.slice(at + 1)) };
}

export interface LoadedVersionsOptions {
  readonly config: Config;
  readonly registry: ModelRegistry;
  readonly metrics: Pick<AppMetrics, 'batchSize' | 'loadedModels' | 'runtimeFallbacks'>;
  readonly log: Logger;
  /** The process's predict runtime (default: TensorFlow.js). */
  readonly runtime?: PredictRuntime;
}

export function createLoadedVersions(opts: LoadedVersionsOptions): ModelCache<LoadedVersion> {
  const { config, registry, metrics, log } = opts;
  const ort = opts.runtime?.onnx;

  /** An onnxruntime session on the version's model.onnx that agrees with its TensorFlow.js model, or why not. */
  async function onnxSession(bytes: Uint8Array | null, model: ServingModel): Promise<{ session: OnnxSession } | { reason: string; why: string }> {
    if (!ort) return { reason: 'no-runtime', why: 'onnxruntime is not this process runtime' };
    if (bytes === null) return { reason: 'no-model-onnx', why: 'the version has no model.onnx (published before ONNX export, or its export check failed)' };
    let session: OnnxSession;
    try {
      session = await ort.createSession(bytes);
    } catch (err) {
      return { reason: 'session-failed', why: `model.onnx did not load: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
    }
    try {
      const size = model.inputSize;
      // A small batch and one of MULTI_THREAD_MIN_BATCH: the session runs them on its one-thread
      // and its all-threads native session (runtime.ts intraOpThreadsFor), so both are checked.
      const pixels = exportCheckImages(size, MULTI_THREAD_MIN_BATCH, 1);
      const images = Array.from({ length: MULTI_THREAD_MIN_BATCH }, (_, i) => pixels.subarray(i * size * size, (i + 1) * size * size));
      let diff = 0;
      for (const count of [2, MULTI_THREAD_MIN_BATCH]) {
        const x = standardizedBatch(images.slice(0, count), size);
        const [got, want] = [await session.run(x, count, size), model.predictStandardized(x, count)];
        diff = Math.max(diff, ...Array.from(got, (g, i) => Math.abs(g - want[i]!)));
      }
      if (!(diff <= ONNX_TOLERANCE)) {
        await session.release();
        return { reason: 'mismatch', why: `model.onnx and the TensorFlow.js weights differ by ${diff.toExponential(2)} (> ${ONNX_TOLERANCE})` };
      }
      return { session };
    } catch (err) {
      await session.release().catch(() => undefined);
      return { reason: 'session-failed', why: `model.onnx did not run: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
    }
  }

  async function load(key: string): Promise<LoadedVersion> {
    const { name, version } = parseVersionKey(key);
    const started = performance.now();
    const [artifacts, info, onnxBytes] = await Promise.all([
      registry.loadArtifacts(name, version),
      registry.getVersion(name, version),
      ort ? registry.loadOnnx(name, version) : Promise.resolve(null),
    ]);
    const model = await loadServingModel(artifacts, { batchSize: config.batching.maxBatchSize });
    let session: OnnxSession | undefined;
    try {
      const { inputSize } = model;
      const declared = (info.metadata.modelOptions as { inputSize?: unknown } | undefined)?.inputSize;
      if (declared !== undefined && declared !== inputSize) {
        log.warn({ model: name, version, declared, inputSize }, 'metadata inputSize disagrees with the weights; using the weights');
      }
      await model.warmUp();
      if (ort) {
        const got = await onnxSession(onnxBytes, model);
        if ('session' in got) {
          session = got.session;
          await session.run(new Float32Array(inputSize * inputSize), 1, inputSize); // warm-up
        } else {
          metrics.runtimeFallbacks.inc({ scope: 'version', reason: got.reason });
          log.warn({ model: name, version, reason: got.reason }, `serving this version on TensorFlow.js, not onnxruntime: ${got.why}`);
        }
      }
      const onnx = session;
      const run = onnx
        ? async (images: readonly Uint8Array[]) => Array.from(await onnx.run(standardizedBatch(images, inputSize), images.length, inputSize))
        : (images: readonly Uint8Array[]) => model.predict(images).then((probs) => Array.from(probs));
      const batcher = createBatcher<Uint8Array, number>({
        maxBatchSize: config.batching.maxBatchSize,
        maxWaitMs: config.batching.maxWaitMs,
        run,
        onBatch: (size) => metrics.batchSize.observe(size),
      });
      const runtime = onnx ? ('onnxruntime' as const) : ('tfjs' as const);
      metrics.loadedModels.set({ model: name, version: String(version) }, 1);
      log.info({ model: name, version, inputSize, runtime, ms: Math.round(performance.now() - started) }, 'model version loaded and warmed');
      return { name, version, inputSize, ...labelling(info.metadata), model, runtime, ...(onnx ? { onnx } : {}), batcher };
    } catch (err) {
      await session?.release().catch(() => undefined);
      model.dispose();
      throw err;
    }
  }

  async function dispose(m: LoadedVersion): Promise<void> {
    await m.batcher.close();
    await m.onnx?.release().catch((err: unknown) => log.error({ err, model: m.name, version: m.version }, 'failed to release an onnxruntime session'));
    m.model.dispose();
    metrics.loadedModels.remove({ model: m.name, version: String(m.version) });
    log.info({ model: m.name, version: m.version }, 'model version unloaded');
  }

  return createModelCache<LoadedVersion>({
    capacity: config.modelCacheSize,
    load,
    dispose,
    onError: (err, key) => log.error({ err, key }, 'failed to dispose a model version'),
  });
}
