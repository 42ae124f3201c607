/**
 * Milliseconds per batch of each augmentation op alone (16 x 256 x 256 by default), to see where
 * the cost measured by bench-augment.ts goes.
 *   flock /tmp/cpu.lock node --import tsx bench/trust/profile-augment.ts [--size 256] [--batch 16]
 */
import * as tf from '@tensorflow/tfjs';
import { adjustIntensity, augmentImages, sampleAffine, sampleIntensity, warpImages } from '../../src/ml/augment.ts';
import { initEngine } from '../../src/ml/engine.ts';
import { createRng } from '../../src/ml/random.ts';
import { pixelsToTensor, standardizeImages } from '../../src/ml/standardize.ts';
import { flag } from '../train/common.ts';

const argv = process.argv.slice(2);
const size = Number(flag(argv, 'size') ?? 256);
const n = Number(flag(argv, 'batch') ?? 16);
await initEngine();
const rand = createRng(1);
const pixels = Uint8Array.from({ length: n * size * size }, () => Math.floor(rand() * 256));
const opts = { rotation: 10, zoom: 0.1, shift: 0.1, horizontalFlip: true, brightness: 0.1, contrast: 0.1, gamma: 0.2 };

function time(name: string, f: () => tf.Tensor): void {
  for (let i = 0; i < 3; i++) tf.tidy(() => tf.sum(f()).dataSync());
  const t: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    tf.tidy(() => tf.sum(f()).dataSync());
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  process.stdout.write(`${name.padEnd(28)} ${t[7]!.toFixed(2)} ms (median of 15)\n`);
}

time('pixelsToTensor', () => pixelsToTensor(pixels, n, size));
time('+ standardize', () => standardizeImages(pixelsToTensor(pixels, n, size)));
time('+ warpImages', () => warpImages(pixelsToTensor(pixels, n, size), Array.from({ length: n }, () => sampleAffine(opts, size, rand))));
time('+ adjustIntensity', () => adjustIntensity(pixelsToTensor(pixels, n, size), Array.from({ length: n }, () => sampleIntensity(opts, rand))));
time('+ augmentImages (all)', () => standardizeImages(augmentImages(pixelsToTensor(pixels, n, size), opts, rand)));
