import type * as tf from '@tensorflow/tfjs';
import { chunk, nextTurn, prefetchBatches, throwIfAborted } from './batches.ts';
import { predictProbabilities } from './predict.ts';
import type { ImageSource } from './types.ts';

/**
 * Probabilities for the given images of a source, streamed in batches, with their labels.
 * An aborted signal stops it between batches with an AbortError. `onBatch` hears the number of
 * images scored so far after every batch.
 */
export async function evaluateModel(
  model: tf.LayersModel,
  source: ImageSource,
  indices: readonly number[],
  batchSize: number,
  signal?: AbortSignal,
  onBatch?: (done: number) => void,
): Promise<{ probs: Float32Array; labels: Uint8Array }> {
  const probs = new Float32Array(indices.length);
  const labels = Uint8Array.from(indices, (i) => source.labels[i]!);
  const batches = chunk(indices, batchSize);
  const reader = prefetchBatches(source, batches);
  for (let b = 0; b < batches.length; b++) {
    throwIfAborted(signal);
    const pixels = await reader.next();
    probs.set(predictProbabilities(model, pixels, batches[b]!.length, source.size, batchSize), b * batchSize);
    onBatch?.(Math.min(indices.length, (b + 1) * batchSize));
    await nextTurn();
  }
  return { probs, labels };
}
