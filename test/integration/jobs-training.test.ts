/**
 * runTraining, the use-case behind the worker and the CLI, in process: archive splits respected,
 * no tensors left behind, the dataset images closed and nothing published on abort or bad data.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/ml/engine.ts';
import { DEFAULT_TRAINING_PARAMS, type TrainingParams } from '../../src/domain/training-params.ts';
import type { TrainingJobProgress } from '../../src/queue/names.ts';
import { runTraining, type TrainingDeps } from '../../src/services/training.ts';
import { createDatasetStore, type DatasetStore } from '../../src/storage/dataset-store.ts';
import { createModelRegistry, type ModelRegistry } from '../../src/storage/model-registry.ts';
import { exportCheckImages } from '../../src/ml/onnx-graph.ts';
import { predictStandardized, standardizedBatch } from '../../src/ml/predict.ts';
import { modelFromArtifacts } from '../../src/ml/serialize.ts';
import { loadOnnxRuntime } from '../../src/onnx/runtime.ts';
import { datasetZip } from '../helpers/api-archives.ts';

let dir: string;
let store: DatasetStore;
let registry: ModelRegistry;
let opened = 0;
let closed = 0;
let deps: TrainingDeps;
const params: TrainingParams = { ...DEFAULT_TRAINING_PARAMS, inputSize: 64, epochs: 1, batchSize: 8 };

async function importZip(name: string, zip: Buffer): Promise<string> {
  const file = path.join(dir, `${name}.zip`);
  await writeFile(file, zip);
  return (await store.importArchive(file, { name, size: 64 })).id;
}

beforeAll(async () => {
  await initEngine();
  dir = await mkdtemp(path.join(tmpdir(), 'cxr-train-'));
  store = createDatasetStore({ dataDir: dir, defaultSize: 64 });
  registry = createModelRegistry({ dataDir: dir });
  deps = {
    registry,
    datasets: {
      // Counts opens and closes, to see every path releases the dataset images.
      async openImages(id, size) {
        const images = await store.openImages(id, size);
        opened++;
        return Object.assign(Object.create(images) as typeof images, {
          close: async () => {
            closed++;
            await images.close();
          },
        });
      },
    },
  };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('runTraining', () => {
  it("keeps the archive's test split, reports progress, leaks no tensors across runs", async () => {
    // 16 per class; every 4th image under test/ -> 4 + 4 test images.
    const id = await importZip('splits', await datasetZip({ perClass: 16, size: 64, splits: true }));
    const progress: TrainingJobProgress[] = [];
    const first = await runTraining(deps, { datasetId: id, modelName: 'splits', params }, { onProgress: (p) => void progress.push(p) });
    const tensors = tf.memory().numTensors;
    const second = await runTraining(deps, { datasetId: id, modelName: 'splits', params });
    expect(tf.memory().numTensors).toBe(tensors);
    expect([first.version, second.version]).toEqual([1, 2]);
    expect(first.split.test).toBe(8);
    expect(first.metrics.test.count).toBe(8);
    expect(first.split.train + first.split.validation).toBe(24);
    const meta = (await registry.getVersion('splits', 1)).metadata as unknown as { split: { method: string } };
    expect(meta.split.method).toBe('archive-folders-then-seeded');
    expect(progress.map((p) => p.phase)).toEqual(expect.arrayContaining(['loading', 'training', 'evaluating', 'publishing']));
    expect(progress.at(-1)!.history).toHaveLength(1);
    expect(opened).toBe(closed);
  }, 120_000);

  it('publishes model.onnx (batch norm folded from trained statistics) that agrees with the tfjs weights; a failed check publishes without it, saying why', async () => {
    const id = await importZip('onnx', await datasetZip({ perClass: 12, size: 64 }));
    const bn = { ...params, batchNorm: true, epochs: 2 };
    const kept = await runTraining(deps, { datasetId: id, modelName: 'onnx', params: bn });
    expect(kept.onnx).toMatchObject({ file: 'model.onnx', check: { images: 8, tolerance: 1e-5 } });
    expect(kept.onnx.check.maxAbsDiff).toBeLessThanOrEqual(1e-5);
    const meta = (await registry.getVersion('onnx', kept.version)).metadata as { onnx?: { file: string | null } };
    expect(meta.onnx?.file).toBe('model.onnx');
    // independently of the publish check: other images, the stored files
    const bytes = await registry.loadOnnx('onnx', kept.version);
    expect(bytes).not.toBeNull();
    const model = await modelFromArtifacts(await registry.loadArtifacts('onnx', kept.version));
    const ort = await loadOnnxRuntime({ threads: 1 });
    const session = await ort.createSession(bytes!);
    const pixels = exportCheckImages(64, 6, 4242);
    const x = standardizedBatch(Array.from({ length: 6 }, (_, i) => pixels.subarray(i * 4096, (i + 1) * 4096)), 64);
    const want = predictStandardized(model, x, 6, 64);
    const got = await session.run(x, 6, 64);
    await session.release();
    model.dispose();
    got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThanOrEqual(1e-5));

    const refused = await runTraining(
      { ...deps, onnx: { alterGraph: (g) => ({ ...g, ops: g.ops.map((o) => (o.op === 'dense' ? { ...o, bias: o.bias.map((b) => b + 1) } : o)) }) } },
      { datasetId: id, modelName: 'onnx', params: { ...params, epochs: 1 } },
    );
    expect(refused.onnx.file).toBeNull();
    expect(refused.onnx.reason).toMatch(/differ by up to/);
    expect(refused.warnings.some((w) => w.startsWith('no model.onnx: onnxruntime and TensorFlow.js differ'))).toBe(true);
    expect(await registry.loadOnnx('onnx', refused.version)).toBeNull();
    const refusedMeta = (await registry.getVersion('onnx', refused.version)).metadata as { onnx?: { reason?: string }; warnings?: string[] };
    expect(refusedMeta.onnx?.reason).toBe(refused.onnx.reason);
    expect(refusedMeta.warnings).toEqual(refused.warnings);
    expect(opened).toBe(closed);
  }, 120_000);

  it('an aborted run publishes nothing and still closes the dataset', async () => {
    const id = await importZip('abort', await datasetZip({ perClass: 12, size: 64 }));
    const ac = new AbortController();
    const run = runTraining(
      deps,
      { datasetId: id, modelName: 'aborted', params: { ...params, epochs: 50, batchSize: 2 } },
      {
        signal: ac.signal,
        onProgress: (p) => {
          if (p.phase === 'training' && p.batch >= 2) ac.abort('cancelled');
        },
      },
    );
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(await readdir(path.join(dir, 'models', 'aborted', 'versions')).catch(() => [])).toEqual([]);
    expect(opened).toBe(closed);
  }, 120_000);

  it('bad data and bad parameters are refused with coded errors, nothing published', async () => {
    await expect(runTraining(deps, { datasetId: 'ds_aaaaaaaaaaaaaaaa', modelName: 'x', params })).rejects.toMatchObject({
      code: 'DATASET_NOT_FOUND',
    });
    const id = await importZip('bad-params', await datasetZip({ perClass: 6, size: 64 }));
    await expect(runTraining(deps, { datasetId: id, modelName: 'x', params: { ...params, epochs: 0 } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    expect(opened).toBe(closed);
    expect(await readdir(path.join(dir, 'models', 'x')).catch(() => [])).toEqual([]);
  }, 60_000);
});
