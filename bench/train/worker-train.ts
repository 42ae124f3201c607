/**
 * One benchmark child (spawned by bench-train.ts; the malloc setting must be in its environment
 * from process start). On the engine initEngine() picks: training images/s of ChestXRayNet at
 * 256x256 batch 16 through the project's trainModel (src/ml/train.ts) over an in-memory
 * ImageSource of generated images, then prediction images/s at batch 1 and 16, then peak RSS.
 * Prints ONE JSON line on stdout; human-readable notes go to stderr.
 *
 * Counts from the environment: BENCH_WARMUP (3), BENCH_BATCHES (45), BENCH_PREDICT_ITERS (30),
 * BENCH_SIZE (256), BENCH_BATCH (16). BENCH_FORCE_BARE=1 skips trainModel (for comparison).
 * BENCH_AUGMENT=1 trains with RECOMMENDED_AUGMENTATION (src/ml/types.ts) instead of none.
 * BENCH_EXPERIMENTS=poolgrad, stockrelu, ... applies the code experiments of experiments.ts first.
 */
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../src/ml/model.ts';
import { DEFAULT_TRAIN_PARAMS, RECOMMENDED_AUGMENTATION, type ImageSource, type SplitIndices, type TrainParams } from '../../src/ml/types.ts';
import { envInt, importIfPresent, memoryImageSource, ownCpuSeconds, peakRssMb } from './common.ts';
import { applyExperiments } from './experiments.ts';

const size = envInt('BENCH_SIZE', 256);
const batch = envInt('BENCH_BATCH', 16);
const warmup = envInt('BENCH_WARMUP', 3);
const batches = Math.max(1, envInt('BENCH_BATCHES', 45));
const predictIters = Math.max(1, envInt('BENCH_PREDICT_ITERS', 30));
const forceBare = process.env.BENCH_FORCE_BARE === '1';
const augment = process.env.BENCH_AUGMENT === '1';

const note = (msg: string) => process.stderr.write(`${msg}\n`);

type ToInput = (pixels: Uint8Array, count: number, size: number) => tf.Tensor4D;

/** Per-image standardisation, used only when src/ml/standardize.ts is not there. */
function localToInput(pixels: Uint8Array, count: number, s: number): tf.Tensor4D {
  return tf.tidy(() => {
    const x = tf.tensor4d(pixels, [count, s, s, 1], 'int32').toFloat();
    const { mean, variance } = tf.moments(x, [1, 2, 3], true);
    return x.sub(mean).div(variance.sqrt().maximum(1e-6)) as tf.Tensor4D;
  });
}

async function loadToInput(): Promise<{ fn: ToInput; from: string }> {
  const mod = await importIfPresent('src/ml/standardize.ts');
  if (mod && typeof mod.toInputTensor === 'function') {
    const fn = mod.toInputTensor as (...a: unknown[]) => tf.Tensor4D;
    // Probe the signature on a tiny input; fall back to the local copy when it differs.
    try {
      const t = tf.tidy(() => fn(new Uint8Array(2 * 4 * 4).fill(7), 2, 4));
      const ok = t.shape.join() === '2,4,4,1';
      t.dispose();
      if (ok) return { fn: (p, c, s) => fn(p, c, s), from: 'src/ml/standardize.ts toInputTensor' };
    } catch {
      /* different signature */
    }
  }
  return { fn: localToInput, from: 'bench-local standardisation (src/ml/standardize.ts absent or different)' };
}

interface TrainMeasure {
  readonly mode: string;
  readonly imagesPerSecond: number;
  readonly timedBatches: number;
  readonly seconds: number;
}

async function measureWithTrainModel(
  trainModel: (...a: unknown[]) => Promise<unknown>,
  model: tf.LayersModel,
  source: ImageSource,
  split: SplitIndices,
): Promise<TrainMeasure> {
  const params: TrainParams = {
    ...DEFAULT_TRAIN_PARAMS,
    epochs: 1,
    batchSize: batch,
    ...(augment ? { augmentation: RECOMMENDED_AUGMENTATION } : {}),
  };
  let tStart = warmup === 0 ? performance.now() : NaN;
  let tEnd = NaN;
  const onProgress = (p: { kind: string; batch: number }) => {
    if (p.kind !== 'batch') return;
    if (p.batch === warmup) tStart = performance.now();
    if (p.batch === warmup + batches) tEnd = performance.now();
  };
  if (warmup === 0) tStart = performance.now();
  await trainModel(model, source, split, params, { onProgress });
  if (!Number.isFinite(tStart) || !Number.isFinite(tEnd)) {
    throw new Error('trainModel did not report per-batch progress for the timed batches');
  }
  const seconds = (tEnd - tStart) / 1000;
  return {
    mode: `trainModel (src/ml/train.ts)${augment ? ', RECOMMENDED_AUGMENTATION' : ''}`,
    imagesPerSecond: (batches * batch) / seconds,
    timedBatches: batches,
    seconds,
  };
}

async function measureBareLoop(model: tf.LayersModel, source: ImageSource, toInput: ToInput, why: string): Promise<TrainMeasure> {
  const optimizer = tf.train.adam(1e-3);
  const step = async (b: number) => {
    const idx = Array.from({ length: batch }, (_, j) => (b * batch + j) % source.count);
    const px = await source.readBatch(idx);
    const x = toInput(px, batch, size);
    const y = tf.tensor2d(Array.from(idx, (i) => source.labels[i]!), [batch, 1]);
    const loss = optimizer.minimize(
      () => tf.metrics.binaryCrossentropy(y, model.apply(x, { training: true }) as tf.Tensor).mean() as tf.Scalar,
      true,
    );
    await loss!.data();
    tf.dispose([x, y, loss!]);
  };
  for (let b = 0; b < warmup; b++) await step(b);
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) await step(warmup + b);
  const seconds = (performance.now() - t0) / 1000;
  optimizer.dispose();
  return { mode: `bare optimizer.minimize loop (${why})`, imagesPerSecond: (batches * batch) / seconds, timedBatches: batches, seconds };
}

type Predict = (model: tf.LayersModel, pixels: Uint8Array, count: number) => Promise<number[] | Float32Array>;

async function loadPredict(toInput: ToInput): Promise<{ fn: Predict; from: string }> {
  const mod = await importIfPresent('src/ml/predict.ts');
  if (mod && typeof mod.predictProbabilities === 'function') {
    const fn = mod.predictProbabilities as (...a: unknown[]) => unknown;
    const probe = buildChestXRayNet({ inputSize: 64 });
    try {
      const out = await fn(probe, new Uint8Array(2 * 64 * 64).fill(9), 2, 64);
      if (out && typeof (out as ArrayLike<number>).length === 'number' && (out as ArrayLike<number>).length === 2) {
        return {
          fn: async (m, p, c) => (await fn(m, p, c, size, Math.max(c, 1))) as Float32Array,
          from: 'src/ml/predict.ts predictProbabilities',
        };
      }
    } catch {
      /* different signature */
    } finally {
      probe.dispose();
    }
  }
  return {
    fn: async (m, p, c) => {
      const x = toInput(p, c, size);
      const y = m.predict(x) as tf.Tensor;
      const data = (await y.data()) as Float32Array;
      tf.dispose([x, y]);
      return data;
    },
    from: 'model.predict (src/ml/predict.ts absent or different)',
  };
}

async function measurePredict(fn: Predict, model: tf.LayersModel, source: ImageSource, bs: number): Promise<number> {
  const px = await source.readBatch(Array.from({ length: bs }, (_, j) => j % source.count));
  const iters = bs === 1 ? predictIters : Math.max(3, Math.round(predictIters / 3));
  for (let i = 0; i < 3; i++) await fn(model, px, bs);
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) await fn(model, px, bs);
  return (iters * bs) / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const engine = await initEngine();
  note(`ENGINE: ${engine.name.toUpperCase()} - ${engine.description}${engine.fallbackReason ? ` (fallback: ${engine.fallbackReason})` : ''}`);
  const experiments = applyExperiments();
  if (experiments.length) note(`EXPERIMENTS (not in src/): ${experiments.join(', ')}`);
  const model = buildChestXRayNet({ inputSize: size });
  const params = model.countParams();

  const trainCount = (warmup + batches) * batch;
  const valCount = batch;
  const source = memoryImageSource(trainCount + valCount, size);
  const split: SplitIndices = {
    train: Array.from({ length: trainCount }, (_, i) => i),
    validation: Array.from({ length: valCount }, (_, i) => trainCount + i),
    test: [],
  };
  const toInput = await loadToInput();

  const trainMod = forceBare ? null : await importIfPresent('src/ml/train.ts');
  let train: TrainMeasure;
  if (trainMod && typeof trainMod.trainModel === 'function') {
    train = await measureWithTrainModel(trainMod.trainModel as (...a: unknown[]) => Promise<unknown>, model, source, split);
  } else {
    const why = forceBare ? 'BENCH_FORCE_BARE=1' : 'src/ml/train.ts not present yet';
    note(`NOTE: training measured with a bare optimizer.minimize loop (${why}), not the project's trainModel`);
    train = await measureBareLoop(model, source, toInput.fn, why);
  }
  const rssAfterTrain = peakRssMb();

  const predict = await loadPredict(toInput.fn);
  const p1 = await measurePredict(predict.fn, model, source, 1);
  const p16 = await measurePredict(predict.fn, model, source, 16);

  const round = (n: number) => Math.round(n * 100) / 100;
  process.stdout.write(
    JSON.stringify({
      engine: engine.name,
      engineDescription: engine.description,
      tfjs: tf.version.tfjs,
      params,
      size,
      batch,
      warmup,
      batches: train.timedBatches,
      trainMode: train.mode,
      augmentation: augment,
      experiments,
      standardisation: toInput.from,
      predictMode: predict.from,
      trainImagesPerSecond: round(train.imagesPerSecond),
      predictImagesPerSecond: { '1': round(p1), '16': round(p16) },
      peakRssAfterTrainMb: rssAfterTrain,
      peakRssMb: peakRssMb(),
      numTensors: tf.memory().numTensors,
      cpuSeconds: ownCpuSeconds(),
      mallocEnv: Boolean(process.env.MALLOC_MMAP_THRESHOLD_),
    }) + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`worker-train failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
