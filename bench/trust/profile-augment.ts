/**
 * Milliseconds per batch (16 x 256 x 256 by default) of what the training loop does to a batch's
 * bytes before the step, with and without the recommended augmentation, and of each part alone,
 * to see where the cost measured by bench:train's "+augment" run goes. TensorFlow's own
 * moments/sub/div standardisation is timed beside standardizePixels as the reference.
 *   flock /tmp/cpu.lock node --import tsx bench/trust/profile-augment.ts [--size 256] [--batch 16]
 */
import * as tf from '@tensorflow/tfjs';
import { augmentPixels, planAugmentation, warpPixels } from '../../src/ml/augment.ts';
import { initEngine } from '../../src/ml/engine.ts';
import { createRng } from '../../src/ml/random.ts';
import { standardizePixels } from '../../src/ml/standardize.ts';
import { RECOMMENDED_AUGMENTATION } from '../../src/ml/types.ts';
import { cpuInfo } from '../cpu.ts';
import { flag } from '../train/common.ts';

const argv = process.argv.slice(2);
const size = Number(flag(argv, 'size') ?? 256);
const n = Number(flag(argv, 'batch') ?? 16);
await initEngine();
const rand = createRng(1);
const pixels = Uint8Array.from({ length: n * size * size }, () => Math.floor(rand() * 256));
const floats = Float32Array.from(pixels);
const shape: [number, number, number, number] = [n, size, size, 1];
const plan = () => planAugmentation(RECOMMENDED_AUGMENTATION, n, size, rand)!;

function time(name: string, f: () => unknown): number {
  for (let i = 0; i < 5; i++) f();
  const t: number[] = [];
  for (let i = 0; i < 21; i++) {
    const t0 = performance.now();
    f();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  const median = t[10]!;
  process.stdout.write(`${name.padEnd(44)} ${median.toFixed(2).padStart(7)} ms  ${((median * 1e6) / (n * size * size)).toFixed(1).padStart(5)} ns/px\n`);
  return median;
}

// The result is read outside tidy: tidy walks a returned typed array element by element.
const tfStandardize = (values: Float32Array) => {
  const y = tf.tidy(() => {
    const x = tf.tensor4d(values, shape);
    const { mean, variance } = tf.moments(x, [1, 2, 3], true);
    return tf.div(tf.sub(x, mean), tf.maximum(tf.sqrt(variance), 1 / size));
  });
  y.dataSync();
  y.dispose();
};

process.stdout.write(`${cpuInfo().model} (${cpuInfo().cores} cores), batch ${n} x ${size}x${size}\n`);
const tfRef = time('TF ops standardise (reference)', () => tfStandardize(floats));
const u8 = time('standardizePixels, 8-bit', () => standardizePixels(pixels, n, size));
time('standardizePixels, float', () => standardizePixels(floats, n, size));
time('warpPixels, 8-bit', () => warpPixels(pixels, n, size, plan().geometric!));
time('augmentPixels (recommended), 8-bit', () => augmentPixels(pixels, n, size, plan()));
const off = time('batch -> input tensor, no augmentation', () => tf.tensor4d(standardizePixels(pixels, n, size), shape).dispose());
const on = time('batch -> input tensor, recommended augmentation', () => {
  // as trainModel: augmentPixels hands standardizePixels each image's sums
  const sums = new Float64Array(2 * n);
  tf.tensor4d(standardizePixels(augmentPixels(pixels, n, size, plan(), sums), n, size, sums), shape).dispose();
});
process.stdout.write(`standardise: TF ops / standardizePixels (8-bit) = ${(tfRef / u8).toFixed(1)}x; augmentation adds ${(on - off).toFixed(2)} ms per batch\n`);
