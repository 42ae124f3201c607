import { CONV_LAYERS, DENSE_UNITS } from '../ml/architecture.ts';
import type { TrainingParams } from './training-params.ts';

/**
 * Peak memory of one training step, estimated from a job's parameters before it is queued, so a
 * job that cannot fit is refused at submit instead of killing its trainer.
 *
 * ChestXRayNet (src/ml/model.ts; test/unit/domain/training-memory.test.ts checks this table
 * against the built model): seven 'same'-padded convolutions, six followed by a 2x2 max pool, then
 * global average pooling and dense 128-32-1. TensorFlow.js keeps the output of every op of the
 * forward pass for the backward pass, and the gradient of each until the optimizer step ends, so
 * the peak is about twice the sum of all op outputs, in float32, times the batch:
 * - per convolution of output O values: conv, bias add and relu (3 O); with batchNorm instead the
 *   conv, the normalisation's elementwise steps and the relu (BATCH_NORM_TENSORS O); the pool O/4;
 * - the input batch and the standardisation's intermediates (about three copies of the input);
 * - the weights four times over (values, gradients, Adam's two moments).
 * It leaves out libtensorflow's own scratch buffers and the allocator's slack; the unit test
 * measures the real peak of tfjs-node's tensors and holds the estimate to it within 25%.
 */

export { CONV_LAYERS, DENSE_UNITS };

const FLOAT_BYTES = 4;

export type ArchitectureParams = Pick<TrainingParams, 'inputSize' | 'filterMultiplier' | 'batchNorm'>;

export interface TrainingMemoryEstimate {
  /** Trainable and non-trainable weights of the network. */
  readonly parameters: number;
  /** Float32 values of all kept activations for one image. */
  readonly activationsPerImage: number;
  /** Bytes at the peak of one training step. */
  readonly peakBytes: number;
}

export const filtersOf = (base: number, multiplier: number): number => Math.max(1, Math.round(base * multiplier));

/** Full-size tensors per convolution output that a training step keeps. */
const PLAIN_CONV_TENSORS = 3;
const BATCH_NORM_TENSORS = 11;

export function estimateTrainingMemory(p: ArchitectureParams & Pick<TrainingParams, 'batchSize'>): TrainingMemoryEstimate {
  let side = p.inputSize;
  let channels = 1;
  let parameters = 0;
  let perImage = 0;
  for (const c of CONV_LAYERS) {
    const filters = filtersOf(c.filters, p.filterMultiplier);
    parameters += c.kernel * c.kernel * channels * filters + (p.batchNorm ? 4 * filters : filters);
    perImage += side * side * filters * (p.batchNorm ? BATCH_NORM_TENSORS : PLAIN_CONV_TENSORS);
    if (c.pool) {
      side = Math.floor(side / 2);
      perImage += side * side * filters;
    }
    channels = filters;
  }
  perImage += channels; // global average pool
  for (const units of DENSE_UNITS) {
    parameters += channels * units + units;
    perImage += units * 3; // matMul, bias add, activation (or dropout)
    channels = units;
  }
  const input = 3 * p.inputSize * p.inputSize;
  const peakBytes = FLOAT_BYTES * (p.batchSize * (2 * perImage + input) + 4 * parameters);
  return { parameters, activationsPerImage: perImage, peakBytes };
}

/** "17.2 GB" */
export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(0)} MB`;
  return `${Math.ceil(n / 1e3)} kB`;
}

/**
 * Why a job with these parameters does not fit `budgetBytes` (a message naming the estimate and
 * what to change), or null when it fits. The API checks at submit; the worker checks again against
 * its own machine's budget before it trains.
 */
export function exceedsMemoryBudget(
  p: ArchitectureParams & Pick<TrainingParams, 'batchSize'>,
  budgetBytes: number,
): { message: string; estimatedBytes: number } | null {
  const { peakBytes } = estimateTrainingMemory(p);
  if (peakBytes <= budgetBytes) return null;
  return {
    estimatedBytes: peakBytes,
    message:
      `Training with inputSize ${p.inputSize}, filterMultiplier ${p.filterMultiplier}, batchSize ${p.batchSize}${p.batchNorm ? ' and batchNorm' : ''} ` +
      `needs about ${formatBytes(peakBytes)}, more than the ${formatBytes(budgetBytes)} training memory budget (TRAINING_MEMORY_BUDGET); ` +
      'use a smaller batchSize, inputSize or filterMultiplier',
  };
}
