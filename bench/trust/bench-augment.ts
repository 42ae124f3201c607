/**
 * What augmentation costs in training speed: the real trainModel (src/ml/train.ts) over an
 * in-memory source of generated images, the same process and model size, with augmentation off
 * and with the recipes below, rounds interleaved (off, geometric, full, off, ...), median of the
 * rounds. Prints a table and the cost of each recipe relative to "off" from the same run.
 *
 *   MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=4000000000 \
 *     flock /tmp/cpu.lock node --import tsx bench/trust/bench-augment.ts [--size 256] [--batches 20] [--rounds 3]
 */
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../src/ml/model.ts';
import { trainModel } from '../../src/ml/train.ts';
import { DEFAULT_TRAIN_PARAMS, NO_AUGMENTATION, type AugmentationOptions } from '../../src/ml/types.ts';
import { flag, memoryImageSource, writeResults } from '../train/common.ts';

const argv = process.argv.slice(2);
const size = Number(flag(argv, 'size') ?? 256);
const batchSize = Number(flag(argv, 'batch') ?? 16);
const timed = Number(flag(argv, 'batches') ?? 20);
const rounds = Number(flag(argv, 'rounds') ?? 3);
const warmup = 3;

const RECIPES: Record<string, AugmentationOptions> = {
  off: NO_AUGMENTATION,
  geometric: { rotation: 10, zoom: 0.1, shift: 0.1, horizontalFlip: true },
  'geometric+intensity': { rotation: 10, zoom: 0.1, shift: 0.1, horizontalFlip: true, brightness: 0.1, contrast: 0.1, gamma: 0.2 },
};

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

async function measure(augmentation: AugmentationOptions): Promise<number> {
  const n = (warmup + timed) * batchSize;
  const source = memoryImageSource(n + batchSize, size, 3);
  const split = { train: Array.from({ length: n }, (_, i) => i), validation: Array.from({ length: batchSize }, (_, i) => n + i), test: [] };
  const model = buildChestXRayNet({ inputSize: size, seed: 1 });
  let start = 0;
  let end = 0;
  await trainModel(model, source, split, { ...DEFAULT_TRAIN_PARAMS, epochs: 1, batchSize, augmentation }, {
    onProgress: (p) => {
      if (p.kind !== 'batch') return;
      if (p.batch === warmup) start = performance.now();
      if (p.batch === warmup + timed) end = performance.now();
    },
  });
  model.dispose();
  return (timed * batchSize) / ((end - start) / 1000);
}

const engine = await initEngine();
process.stderr.write(`engine: ${engine.description}; ${size}x${size}, batch ${batchSize}, ${timed} timed batches, ${rounds} rounds\n`);
const results: Record<string, number[]> = Object.fromEntries(Object.keys(RECIPES).map((k) => [k, []]));
for (let r = 1; r <= rounds; r++) {
  for (const [name, opts] of Object.entries(RECIPES)) {
    const ips = await measure(opts);
    results[name]!.push(ips);
    process.stderr.write(`round ${r} ${name}: ${ips.toFixed(1)} img/s (tensors ${tf.memory().numTensors})\n`);
  }
}
const base = median(results.off!);
const rows = Object.entries(results).map(([name, v]) => ({
  recipe: name,
  medianImagesPerSecond: median(v),
  runs: v,
  costVsOff: 1 - median(v) / base,
}));
process.stdout.write(`\n| recipe | train img/s (median of ${rounds}) | runs | cost vs off |\n|---|---|---|---|\n`);
for (const row of rows) {
  process.stdout.write(
    `| ${row.recipe} | ${row.medianImagesPerSecond.toFixed(1)} | ${row.runs.map((x) => x.toFixed(1)).join(', ')} | ${(100 * row.costVsOff).toFixed(1)}% |\n`,
  );
}
const file = writeResults('trust-augment', { engine: engine.name, size, batchSize, timed, rounds, rows, at: new Date().toISOString() });
process.stderr.write(`results: ${file}\n`);
