/**
 * One memory-benchmark child (spawned by bench-memory.ts): opens a dataset of N images on disk
 * and trains ONE epoch over all of it, streaming batches, stopped (AbortSignal) after a fixed
 * number of batches so that the work is the same for every N. Prints one JSON line with the peak
 * RSS (VmHWM) before and after training.
 *
 * Args: --kind raw --cache FILE --count N     (uint8 cache: image i at offset i*size*size)
 *   or  --kind store --data-dir DIR --dataset ID  (the project's dataset store, openImages(id))
 *       --batches B (30) --size S (256)
 */
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../src/ml/model.ts';
import { DEFAULT_TRAIN_PARAMS, type ImageSource, type SplitIndices, type TrainParams } from '../../src/ml/types.ts';
import { flag, importIfPresent, mulberry32, ownCpuSeconds, peakRssMb } from './common.ts';

const argv = process.argv.slice(2);
const kind = flag(argv, 'kind') ?? 'raw';
const batches = Number(flag(argv, 'batches') ?? 30);
const size = Number(flag(argv, 'size') ?? 256);
const batchSize = 16;
const note = (msg: string) => process.stderr.write(`${msg}\n`);

/** ImageSource over a uint8 cache file read with positional reads (never the whole file). */
function rawCacheSource(file: string, count: number): ImageSource {
  const fd = fs.openSync(file, 'r');
  const bytes = size * size;
  const st = fs.fstatSync(fd);
  if (st.size !== count * bytes) throw new Error(`${file}: ${st.size} bytes, expected ${count * bytes}`);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) labels[i] = i % 2;
  return {
    size,
    count,
    labels,
    async readBatch(indices: readonly number[]): Promise<Uint8Array> {
      const out = new Uint8Array(indices.length * bytes);
      await Promise.all(
        indices.map(
          (idx, j) =>
            new Promise<void>((resolve, reject) =>
              fs.read(fd, out, j * bytes, bytes, idx * bytes, (err, n) =>
                err ? reject(err) : n !== bytes ? reject(new Error(`short read at image ${idx}`)) : resolve(),
              ),
            ),
        ),
      );
      return out;
    },
  };
}

async function storeSource(): Promise<{ source: ImageSource; close?: () => Promise<void> | void }> {
  const dataDir = flag(argv, 'data-dir');
  const id = flag(argv, 'dataset');
  if (!dataDir || !id) throw new Error('--kind store needs --data-dir and --dataset');
  const mod = await importIfPresent('src/storage/dataset-store.ts');
  if (!mod || typeof mod.createDatasetStore !== 'function') throw new Error('src/storage/dataset-store.ts has no createDatasetStore');
  const store = (mod.createDatasetStore as (o: unknown) => Record<string, (...a: unknown[]) => unknown>)({ dataDir });
  const opened = (await store.openImages!(id)) as ImageSource & { close?: () => Promise<void> | void };
  return { source: opened, close: opened.close?.bind(opened) };
}

async function main(): Promise<void> {
  const engine = await initEngine();
  note(`ENGINE: ${engine.name.toUpperCase()}`);
  const opened =
    kind === 'store'
      ? await storeSource()
      : { source: rawCacheSource(flag(argv, 'cache')!, Number(flag(argv, 'count'))) };
  const source = opened.source;
  const model = buildChestXRayNet({ inputSize: size });

  // Shuffled (seeded) indices over ALL images; small fixed validation set.
  const rand = mulberry32(7);
  const all = Array.from({ length: source.count }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  const split: SplitIndices = { train: all.slice(batchSize), validation: all.slice(0, batchSize), test: [] };
  const rssBefore = peakRssMb();
  const t0 = performance.now();

  const trainMod = await importIfPresent('src/ml/train.ts');
  let mode: string;
  let done = 0;
  if (trainMod && typeof trainMod.trainModel === 'function') {
    mode = 'trainModel (src/ml/train.ts), 1 epoch over all images, aborted after the fixed batch count';
    const ac = new AbortController();
    const params: TrainParams = { ...DEFAULT_TRAIN_PARAMS, epochs: 1, batchSize };
    try {
      await (trainMod.trainModel as (...a: unknown[]) => Promise<unknown>)(model, source, split, params, {
        signal: ac.signal,
        onProgress: (p: { kind: string; batch: number }) => {
          if (p.kind === 'batch') {
            done = p.batch;
            if (p.batch >= batches) ac.abort();
          }
        },
      });
    } catch (err) {
      if (!ac.signal.aborted) throw err;
    }
  } else {
    mode = 'bare optimizer.minimize loop streaming batches (src/ml/train.ts not present yet)';
    const optimizer = tf.train.adam(1e-3);
    for (let b = 0; b < batches; b++) {
      const idx = split.train.slice(b * batchSize, (b + 1) * batchSize);
      const px = await source.readBatch(idx);
      const x = tf.tidy(() => {
        const t = tf.tensor4d(px, [idx.length, size, size, 1], 'int32').toFloat();
        const { mean, variance } = tf.moments(t, [1, 2, 3], true);
        return t.sub(mean).div(variance.sqrt().maximum(1e-6)) as tf.Tensor4D;
      });
      const y = tf.tensor2d(idx.map((i) => source.labels[i]!), [idx.length, 1]);
      const loss = optimizer.minimize(
        () => tf.metrics.binaryCrossentropy(y, model.apply(x, { training: true }) as tf.Tensor).mean() as tf.Scalar,
        true,
      );
      await loss!.data();
      tf.dispose([x, y, loss!]);
      done = b + 1;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  await opened.close?.();
  process.stdout.write(
    JSON.stringify({
      engine: engine.name,
      kind,
      count: source.count,
      size,
      batches: done,
      mode,
      seconds: Math.round(seconds * 10) / 10,
      imagesPerSecond: Math.round(((done * batchSize) / seconds) * 10) / 10,
      peakRssBeforeTrainMb: rssBefore,
      peakRssMb: peakRssMb(),
      numTensors: tf.memory().numTensors,
      cpuSeconds: ownCpuSeconds(),
      mallocEnv: Boolean(process.env.MALLOC_MMAP_THRESHOLD_),
    }) + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`worker-memory failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
