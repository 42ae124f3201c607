import type { Config } from '../config.ts';
import { labelling, type Labelling } from '../domain/labelling.ts';
import type { Logger } from '../domain/logger.ts';
import type { AppMetrics } from '../metrics.ts';
import { loadServingModel, type ServingModel } from '../ml/predict.ts';
import type { ModelRegistry } from '../storage/model-types.ts';
import { createBatcher, type Batcher } from './batcher.ts';
import { createModelCache, type ModelCache } from './model-cache.ts';

/**
 * Model versions loaded in this process: read from the registry, built, warmed up, labelled from
 * their metadata and given a batcher; kept in a bounded cache with leases (src/services/model-cache.ts)
 * and disposed after their last request.
 */

export interface LoadedVersion extends Labelling {
  readonly name: string;
  readonly version: number;
  readonly inputSize: number;
  readonly model: ServingModel;
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
  readonly metrics: Pick<AppMetrics, 'batchSize' | 'loadedModels'>;
  readonly log: Logger;
}

export function createLoadedVersions(opts: LoadedVersionsOptions): ModelCache<LoadedVersion> {
  const { config, registry, metrics, log } = opts;

  async function load(key: string): Promise<LoadedVersion> {
    const { name, version } = parseVersionKey(key);
    const started = performance.now();
    const [artifacts, info] = await Promise.all([registry.loadArtifacts(name, version), registry.getVersion(name, version)]);
    const model = await loadServingModel(artifacts, { batchSize: config.batching.maxBatchSize });
    try {
      const { inputSize } = model;
      const declared = (info.metadata.modelOptions as { inputSize?: unknown } | undefined)?.inputSize;
      if (declared !== undefined && declared !== inputSize) {
        log.warn({ model: name, version, declared, inputSize }, 'metadata inputSize disagrees with the weights; using the weights');
      }
      await model.warmUp();
      const batcher = createBatcher<Uint8Array, number>({
        maxBatchSize: config.batching.maxBatchSize,
        maxWaitMs: config.batching.maxWaitMs,
        run: (images) => model.predict(images).then((probs) => Array.from(probs)),
        onBatch: (size) => metrics.batchSize.observe(size),
      });
      metrics.loadedModels.set({ model: name, version: String(version) }, 1);
      log.info({ model: name, version, inputSize, ms: Math.round(performance.now() - started) }, 'model version loaded and warmed');
      return { name, version, inputSize, ...labelling(info.metadata), model, batcher };
    } catch (err) {
      model.dispose();
      throw err;
    }
  }

  async function dispose(m: LoadedVersion): Promise<void> {
    await m.batcher.close();
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
