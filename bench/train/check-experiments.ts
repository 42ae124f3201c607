/**
 * Checks that the code experiments of experiments.ts leave training numerically unchanged:
 * gradients of every weight of ChestXRayNet (64x64, batch 8, generated images) with the stock
 * gradients, then with the experiments applied, compared by max abs difference.
 * `node --import tsx bench/train/check-experiments.ts [poolgrad|poolgrad2|stockrelu]`
 */
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../src/ml/model.ts';
import { toInputTensor } from '../../src/ml/standardize.ts';
import { memoryImageSource } from './common.ts';
import { applyExperiments } from './experiments.ts';

async function main(): Promise<void> {
  const engine = await initEngine();
  const size = 64;
  const batch = 8;
  const model = buildChestXRayNet({ inputSize: size, dropoutRate: 0 });
  const src = memoryImageSource(batch, size, 3);
  const px = await src.readBatch([...Array(batch).keys()]);
  if (process.argv.includes('--flat')) {
    for (let i = 0; i < batch * size; i++) px.fill(0, i * size, i * size + Math.floor(size / 3));
  }
  const x = toInputTensor(px, batch, size);
  const y = tf.tensor2d(Array.from(src.labels, Number), [batch, 1]);
  const grads = () =>
    tf.variableGrads(() => tf.metrics.binaryCrossentropy(y, model.apply(x, { training: true }) as tf.Tensor).mean() as tf.Scalar);
  const stock = grads();
  const arg = process.argv[2];
  const applied = applyExperiments(arg && !arg.startsWith('--') ? arg : 'poolgrad');
  const exp = grads();
  let worst = 0;
  let scale = 0;
  for (const [name, g] of Object.entries(stock.grads)) {
    const d = tf.max(tf.abs(tf.sub(g, exp.grads[name]!))).dataSync()[0]!;
    scale = Math.max(scale, tf.max(tf.abs(g)).dataSync()[0]!);
    worst = Math.max(worst, d);
  }
  console.log(
    `engine ${engine.name}; ${process.argv.includes('--flat') ? 'images with flat regions; ' : ''}experiments [${applied.join(',')}]; loss ${stock.value.dataSync()[0]} vs ${exp.value.dataSync()[0]}; ` +
      `max |grad diff| ${worst.toExponential(2)} (largest |grad| ${scale.toExponential(2)})`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
