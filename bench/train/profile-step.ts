/**
 * Where a training step's time goes: runs a few ChestXRayNet training steps (256x256, batch 16,
 * Adam, the same loss shape as trainModel) under tf.profile and sums wall time per kernel name.
 * On the tensorflow backend kernels run synchronously, so per-kernel times are meaningful.
 * Investigation tool: `node --import tsx bench/train/profile-step.ts [--steps 5]`; run it with and
 * without the malloc setting in the environment to compare.
 */
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../src/ml/model.ts';
import { toInputTensor } from '../../src/ml/standardize.ts';
import { withTrainingKernels } from '../../src/ml/tensorflow-gradients.ts';
import { flag, memoryImageSource, peakRssMb } from './common.ts';
import { applyExperiments } from './experiments.ts';

const argv = process.argv.slice(2);
const steps = Number(flag(argv, 'steps') ?? 5);
const size = 256;
const batch = 16;

async function main(): Promise<void> {
  const engine = await initEngine();
  const experiments = applyExperiments();
  const model = buildChestXRayNet({ inputSize: size, batchNorm: process.env.PROFILE_BATCH_NORM === '1' });
  const src = memoryImageSource(batch, size);
  const px = await src.readBatch(Array.from({ length: batch }, (_, i) => i));
  const y = tf.tensor2d(Array.from(src.labels, Number), [batch, 1]);
  const optimizer = tf.train.adam(1e-3);
  const step = () =>
    tf.tidy(() => {
      const x = toInputTensor(px, batch, size);
      // As trainStep (src/ml/train.ts) does: pooling and conv bias on oneDNN's kernels.
      const cost = withTrainingKernels(model, () =>
        optimizer.minimize(() => {
          const p = tf.clipByValue(model.apply(x, { training: true }) as tf.Tensor, 1e-7, 1 - 1e-7);
          return tf.mean(tf.neg(tf.add(tf.mul(y, tf.log(p)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, p)))))) as tf.Scalar;
        }, true),
      )!;
      return cost.dataSync()[0];
    });
  for (let i = 0; i < 3; i++) step();

  const byKernel = new Map<string, { ms: number; calls: number }>();
  let wall = 0;
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const info = await tf.profile(() => {
      step();
    });
    wall += performance.now() - t0;
    for (const k of info.kernels) {
      const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
      e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      e.calls += 1;
      byKernel.set(k.name, e);
    }
  }
  // Unprofiled timing of the same step, for the overhead of profiling itself.
  const t1 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const plainMs = (performance.now() - t1) / steps;

  const rows = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((s, [, e]) => s + e.ms, 0);
  console.log(
    `engine ${engine.name}; experiments [${experiments.join(',')}]; malloc setting ${process.env.MALLOC_MMAP_THRESHOLD_ ? 'on' : 'off'}; ` +
      `${steps} profiled steps; step ${plainMs.toFixed(1)} ms unprofiled (${((batch * 1000) / plainMs).toFixed(1)} img/s), ` +
      `${(wall / steps).toFixed(1)} ms profiled, kernels sum ${(total / steps).toFixed(1)} ms`,
  );
  console.log(`${'kernel'.padEnd(28)} ${'ms/step'.padStart(8)} ${'share'.padStart(6)} ${'calls/step'.padStart(10)}`);
  for (const [name, e] of rows.slice(0, 25)) {
    console.log(
      `${name.padEnd(28)} ${(e.ms / steps).toFixed(2).padStart(8)} ${((100 * e.ms) / total).toFixed(1).padStart(5)}% ${(e.calls / steps).toFixed(0).padStart(10)}`,
    );
  }
  console.log(`peak RSS ${peakRssMb()} MB`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
