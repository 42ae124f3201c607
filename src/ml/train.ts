import * as tf from '@tensorflow/tfjs';
import { augmentPixels, planAugmentation } from './augment.ts';
import { chunk, nextTurn, prefetchBatches, throwIfAborted } from './batches.ts';
import { assertTrainingEngine } from './engine.ts';
import { evaluateModel } from './evaluate.ts';
import { accuracyAt, binaryCrossEntropy } from './metrics.ts';
import { createRng, deriveSeed, shuffleInPlace } from './random.ts';
import { standardizePixels } from './standardize.ts';
import { withTrainingKernels } from './tensorflow-gradients.ts';
import type {
  EpochMetrics,
  ImageSource,
  SplitIndices,
  TrainCallbacks,
  TrainParams,
  TrainProgress,
  TrainResult,
} from './types.ts';

/** Per-class loss weights [negative, positive]: 'balanced' gives w_c = n / (2 * n_c) over the train split. */
export function classWeights(
  labels: Uint8Array,
  train: readonly number[],
  mode: TrainParams['classWeighting'],
): [number, number] {
  if (mode === 'none') return [1, 1];
  let positives = 0;
  for (const i of train) positives += labels[i]!;
  const n = train.length;
  const negatives = n - positives;
  return [negatives > 0 ? n / (2 * negatives) : 1, positives > 0 ? n / (2 * positives) : 1];
}

function validate(model: tf.LayersModel, source: ImageSource, split: SplitIndices, p: TrainParams): void {
  const int = (v: number, min: number) => Number.isInteger(v) && v >= min;
  if (p.timeBudgetMinutes !== undefined && !(p.timeBudgetMinutes >= 0)) throw new RangeError(`timeBudgetMinutes must be >= 0 (got ${p.timeBudgetMinutes})`);
  if (!int(p.epochs, 1)) throw new RangeError(`epochs must be an integer >= 1 (got ${p.epochs})`);
  if (!int(p.batchSize, 1)) throw new RangeError(`batchSize must be an integer >= 1 (got ${p.batchSize})`);
  if (!(p.learningRate > 0 && p.learningRate < 1)) throw new RangeError(`learningRate must be in (0, 1) (got ${p.learningRate})`);
  if (!int(p.earlyStoppingPatience, 0)) {
    throw new RangeError(`earlyStoppingPatience must be an integer >= 0 (got ${p.earlyStoppingPatience})`);
  }
  const a = p.augmentation;
  if (!(a.rotation >= 0 && a.rotation <= 180 && a.zoom >= 0 && a.zoom < 1 && a.shift >= 0 && a.shift < 1)) {
    throw new RangeError('augmentation: rotation must be in [0, 180] degrees, zoom and shift in [0, 1)');
  }
  for (const [name, v] of [['brightness', a.brightness], ['contrast', a.contrast], ['gamma', a.gamma]] as const) {
    if (v !== undefined && !(v >= 0 && v < 1)) throw new RangeError(`augmentation: ${name} must be in [0, 1) (got ${v})`);
  }
  const inputSize = model.inputs[0]?.shape[1];
  if (inputSize !== source.size) {
    throw new RangeError(`the model takes ${inputSize}x${inputSize} images but the source holds ${source.size}x${source.size}`);
  }
  if (split.train.length === 0 || split.validation.length === 0) {
    throw new RangeError('training needs a non-empty train and validation split');
  }
  for (const i of [...split.train, ...split.validation]) {
    if (!(Number.isInteger(i) && i >= 0 && i < source.count)) throw new RangeError(`image index ${i} is outside the source`);
  }
}

/**
 * Calls onProgress with at most one call in flight: a call that returns a promise is awaited
 * only before the next call (or at flush), so compute continues while the caller does I/O.
 */
function progressQueue(onProgress: TrainCallbacks['onProgress']) {
  let pending: Promise<{ error: unknown } | undefined> | undefined;
  const settle = async () => {
    const r = await pending;
    pending = undefined;
    if (r) throw r.error;
  };
  return {
    async push(p: TrainProgress): Promise<void> {
      if (!onProgress) return;
      await settle();
      const r = onProgress(p);
      if (r && typeof r.then === 'function') {
        pending = Promise.resolve(r).then(
          () => undefined,
          (error: unknown) => ({ error }),
        );
      }
    },
    flush: settle,
  };
}

function weightedBinaryCrossEntropy(p: tf.Tensor, y: tf.Tensor, w: tf.Tensor): tf.Scalar {
  const eps = 1e-7;
  const pc = tf.clipByValue(p, eps, 1 - eps);
  const perImage = tf.neg(tf.add(tf.mul(y, tf.log(pc)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, pc)))));
  return tf.mean(tf.mul(perImage, w));
}

/** One optimizer step; returns [loss, correct predictions at 0.5] as one tensor, so one read suffices. */
/**
 * The learning rate of step `step` (0-based) of `totalSteps`: constant, or a cosine decay from
 * learningRate at the first step to 1% of it at the last.
 */
export function scheduledLearningRate(
  params: Pick<TrainParams, 'learningRate' | 'learningRateSchedule'>,
  step: number,
  totalSteps: number,
): number {
  if (params.learningRateSchedule !== 'cosine') return params.learningRate;
  const progress = Math.min(1, Math.max(0, step / Math.max(1, totalSteps - 1)));
  return params.learningRate * (0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

function trainStep(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  varList: tf.Variable[],
  x: tf.Tensor4D,
  targets: Float32Array,
  weights: Float32Array,
): tf.Tensor1D {
  const held: { prediction?: tf.Tensor } = {};
  try {
    return tf.tidy(() => {
      const k = targets.length;
      const y = tf.tensor2d(targets, [k, 1]);
      const w = tf.tensor2d(weights, [k, 1]);
      // Pooling, conv bias and batch norm on TensorFlow's fused kernels (tensorflow backend; training only).
      const cost = withTrainingKernels(model, () =>
        optimizer.minimize(
          () => {
            const p = model.apply(x, { training: true }) as tf.Tensor;
            held.prediction = tf.keep(p);
            return weightedBinaryCrossEntropy(p, y, w);
          },
          true,
          varList,
        ),
      )!;
      const predicted = tf.cast(tf.greaterEqual(held.prediction!, 0.5), 'float32');
      const correct = tf.sum(tf.cast(tf.equal(predicted, y), 'float32'));
      return tf.stack([cost, correct]) as tf.Tensor1D;
    });
  } finally {
    held.prediction?.dispose();
  }
}

const now = (): number => performance.now() / 1000;

/**
 * Trains with Adam on binary cross-entropy (class-weighted), streaming shuffled batches from the
 * source; validates after every epoch (unweighted loss, accuracy at 0.5) and restores the weights
 * of the epoch with the lowest validation loss. An aborted signal stops it within one batch with
 * an AbortError and leaves the weights as they were at that moment.
 */
export async function trainModel(
  model: tf.LayersModel,
  source: ImageSource,
  split: SplitIndices,
  params: TrainParams,
  callbacks: TrainCallbacks = {},
): Promise<TrainResult> {
  assertTrainingEngine();
  validate(model, source, split, params);
  const { signal } = callbacks;
  throwIfAborted(signal);

  const { epochs, batchSize } = params;
  const size = source.size;
  const classWeight = classWeights(source.labels, split.train, params.classWeighting);
  const shuffleRng = createRng(deriveSeed(params.seed, 1));
  const augmentRng = createRng(deriveSeed(params.seed, 2));
  const order = [...split.train];
  const batchesPerEpoch = Math.ceil(order.length / batchSize);
  const varList = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = tf.train.adam(params.learningRate);
  // A time budget shortens the plan once the first epochs show the speed of this machine, so the
  // learning-rate schedule still runs to its end and the best epoch is kept.
  let plannedEpochs = epochs;
  const budgetSeconds = (params.timeBudgetMinutes ?? 0) * 60;
  const learningRateAt = (step: number) => scheduledLearningRate(params, step, plannedEpochs * batchesPerEpoch);
  const progress = progressQueue(callbacks.onProgress);

  const history: EpochMetrics[] = [];
  let best: tf.Tensor[] | undefined;
  let bestEpoch = 0;
  let bestValLoss = Infinity;
  let stoppedEarly = false;
  const started = now();
  let trainSeconds = 0;
  let trainImagesDone = 0;
  let valSeconds = 0;
  let valImagesDone = 0;
  const eta = (trainLeft: number, valLeft: number): number => {
    const trainRate = trainImagesDone / Math.max(trainSeconds, 1e-9);
    const valRate = valImagesDone > 0 ? valImagesDone / Math.max(valSeconds, 1e-9) : 3 * trainRate;
    return trainRate > 0 ? trainLeft / trainRate + valLeft / valRate : 0;
  };

  try {
    for (let epoch = 1; epoch <= plannedEpochs; epoch++) {
      const epochStart = now();
      const batches = chunk(shuffleInPlace(order, shuffleRng), batchSize);
      const reader = prefetchBatches(source, batches);
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let b = 0; b < batches.length; b++) {
        throwIfAborted(signal);
        const stepStart = now();
        const indices = batches[b]!;
        const k = indices.length;
        const raw = await reader.next();
        throwIfAborted(signal);
        // Augmented on the bytes, before they become a tensor (augment-pixels.ts).
        // augmentPixels sums each image it returns (the warp as it writes), sparing standardisation that pass.
        const plan = planAugmentation(params.augmentation, k, size, augmentRng);
        const sums = plan ? new Float64Array(2 * k) : undefined;
        const pixels = plan ? augmentPixels(raw, k, size, plan, sums) : raw;
        const targets = Float32Array.from(indices, (i) => source.labels[i]!);
        const weights = targets.map((t) => classWeight[t]!);
        // [k, size, size, 1]: pixels (0..255) -> standardised per image.
        const x = tf.tensor4d(standardizePixels(pixels, k, size, sums), [k, size, size, 1]);
        // tfjs marks the field protected but reads it at every applyGradients; there is no setter.
        (optimizer as unknown as { learningRate: number }).learningRate = learningRateAt((epoch - 1) * batchesPerEpoch + b);
        let stats: tf.Tensor1D;
        try {
          stats = trainStep(model, optimizer, varList, x, targets, weights);
        } finally {
          x.dispose();
        }
        const [loss, right] = await stats.data();
        stats.dispose();
        lossSum += loss! * k;
        correct += right!;
        seen += k;
        trainImagesDone += k;
        trainSeconds += now() - stepStart;
        const epochTrainSeconds = now() - epochStart;
        await progress.push({
          kind: 'batch',
          epoch,
          epochs: plannedEpochs,
          batch: b + 1,
          batchesPerEpoch,
          loss: lossSum / seen,
          accuracy: correct / seen,
          imagesPerSecond: seen / epochTrainSeconds,
          etaSeconds: eta(
            (plannedEpochs - epoch + 1) * order.length - seen,
            (plannedEpochs - epoch + 1) * split.validation.length,
          ),
        });
        await nextTurn();
      }
      const epochTrainSeconds = now() - epochStart;

      const valStart = now();
      const { probs, labels } = await evaluateModel(model, source, split.validation, batchSize, signal);
      valSeconds += now() - valStart;
      valImagesDone += labels.length;
      const valLoss = binaryCrossEntropy(probs, labels);
      const metrics: EpochMetrics = {
        epoch,
        loss: lossSum / seen,
        accuracy: correct / seen,
        valLoss,
        valAccuracy: accuracyAt(probs, labels, 0.5),
        seconds: now() - epochStart,
        imagesPerSecond: seen / epochTrainSeconds,
      };
      history.push(metrics);
      if (valLoss < bestValLoss) {
        best?.forEach((t) => t.dispose());
        best = tf.tidy(() => model.getWeights().map((t) => t.clone()));
        bestValLoss = valLoss;
        bestEpoch = epoch;
      }
      if (budgetSeconds > 0 && epoch < plannedEpochs) {
        const fits = Math.floor(budgetSeconds / ((now() - started) / epoch));
        if (fits < plannedEpochs) plannedEpochs = Math.max(epoch, fits);
      }
      stoppedEarly =
        (params.earlyStoppingPatience > 0 && epoch - bestEpoch >= params.earlyStoppingPatience && epoch < plannedEpochs) ||
        (epoch === plannedEpochs && plannedEpochs < epochs);
      await progress.push({
        kind: 'epoch',
        epoch,
        epochs: plannedEpochs,
        batch: batchesPerEpoch,
        batchesPerEpoch,
        loss: metrics.loss,
        accuracy: metrics.accuracy,
        imagesPerSecond: metrics.imagesPerSecond,
        etaSeconds: stoppedEarly ? 0 : eta((plannedEpochs - epoch) * order.length, (plannedEpochs - epoch) * split.validation.length),
        epochMetrics: metrics,
      });
      if (stoppedEarly) break;
    }
    await progress.flush();
    if (best) model.setWeights(best);
    return { history, bestEpoch, bestValLoss, stoppedEarly, seconds: now() - started };
  } finally {
    best?.forEach((t) => t.dispose());
    optimizer.dispose();
  }
}
