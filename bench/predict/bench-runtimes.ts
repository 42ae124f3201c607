/**
 * npx tsx bench/predict/bench-runtimes.ts [-- --rounds 3 --size 256 --seconds 2 --python /usr/bin/python3 --isa avx2]
 *
 * Model-only prediction speed of the same ChestXRayNet (random init, `--size` input) on every
 * runtime the service can serve with, next to PyTorch 1.13 on the same net in the same run: the
 * model.onnx the service writes at publish (src/onnx/writer.ts from the tfjs weights) on
 * onnxruntime-node with 1 and 2 intra-op threads, TensorFlow.js (tfjs-node) on the layers model,
 * and bench/train/torch_reference.py's inference at batch 1 and 16 (standardised random input, no
 * decode, no HTTP). Rounds are interleaved so drift hits every runtime alike; the table shows the
 * median images/s of each and the ratio to PyTorch's median. Goal (issue 10): onnxruntime >= 2x
 * PyTorch at batch 1 and at batch 16. CPU model and flags come first.
 */
import * as tf from '@tensorflow/tfjs';
import { MALLOC_ENV } from '../../src/malloc-env.ts';
import { initEngine } from '../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../src/ml/model.ts';
import { networkGraphOf } from '../../src/ml/onnx-graph.ts';
import { loadOnnxRuntime } from '../../src/onnx/runtime.ts';
import { encodeNetworkGraph } from '../../src/onnx/writer.ts';
import { cpuLine, isaCapEnv } from '../cpu.ts';
import { flagReader, runJsonCommand } from './common.ts';

const flag = flagReader(process.argv.slice(2));
const ROUNDS = Number(flag('rounds', '3'));
const SIZE = Number(flag('size', '256'));
const SECONDS = Number(flag('seconds', '2'));
const PYTHON = flag('python', process.env.TORCH_PYTHON ?? '/usr/bin/python3');
const BATCHES = [1, 16] as const;
// `--isa avx2`: oneDNN (tfjs-node, PyTorch) capped before the engine loads; onnxruntime cannot be.
const ISA_CAP = isaCapEnv(process.argv.slice(2));

/** Images/s of `run` (one call = `batch` images) over about SECONDS, after 3 warm-up calls. */
async function rate(batch: number, run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await run();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    await run();
    n++;
  }
  return (n * batch) / ((performance.now() - t0) / 1000);
}

function standardised(count: number): Float32Array {
  const x = new Float32Array(count * SIZE * SIZE);
  for (let i = 0; i < x.length; i++) x[i] = Math.random() * 2 - 1;
  return x;
}

/** PyTorch inference images/s at batch 1 and 16 (torch_reference.py, a minimal training part). */
async function torch(): Promise<Record<string, number>> {
  const iters = Math.max(30, Math.round(SECONDS * 150));
  const args = ['bench/train/torch_reference.py', '--size', String(SIZE), '--warmup', '1', '--batches', '1', '--predict-iters', String(iters)];
  const r = (await runJsonCommand(PYTHON, args, { ...process.env, ...MALLOC_ENV })) as {
    available: boolean;
    reason?: string;
    predictImagesPerSecond?: Record<string, number>;
  };
  if (!r.available || !r.predictImagesPerSecond) throw new Error(`PyTorch reference unavailable: ${r.reason ?? 'no predict numbers'}`);
  return r.predictImagesPerSecond;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const r1 = (x: number) => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  console.log(cpuLine());
  const engine = await initEngine();
  if (engine.name !== 'tensorflow') throw new Error(`needs tfjs-node (got ${engine.description})`);
  const model = buildChestXRayNet({ inputSize: SIZE });
  const onnx = encodeNetworkGraph(networkGraphOf(model));
  const sessions = await Promise.all(
    [1, 2].map(async (threads) => {
      const rt = await loadOnnxRuntime({ threads });
      return { name: `onnxruntime ${threads} thread${threads > 1 ? 's' : ''}`, description: rt.description, session: await rt.createSession(onnx) };
    }),
  );
  console.log(`engine: ${engine.description}; ${sessions.map((s) => s.description).join('; ')}; model ${SIZE}x${SIZE}${ISA_CAP.ONEDNN_MAX_CPU_ISA ? ` (tfjs and PyTorch capped at ${ISA_CAP.ONEDNN_MAX_CPU_ISA}; onnxruntime uncapped)` : ''}, ${ROUNDS} rounds of ${SECONDS} s per runtime and batch`);
  const inputs = new Map(BATCHES.map((b) => [b, standardised(b)]));
  const results = new Map<string, number[]>();
  const add = (key: string, v: number) => results.set(key, [...(results.get(key) ?? []), v]);

  for (let round = 0; round < ROUNDS; round++) {
    for (const b of BATCHES) {
      const x = inputs.get(b)!;
      for (const s of sessions) add(`${s.name}|${b}`, await rate(b, () => s.session.run(x, b, SIZE)));
      add(`tfjs-node|${b}`, await rate(b, async () => {
        const out = tf.tidy(() => model.predict(tf.tensor4d(x, [b, SIZE, SIZE, 1])) as tf.Tensor);
        await out.data();
        out.dispose();
      }));
    }
    const t = await torch();
    for (const b of BATCHES) add(`PyTorch 1.13|${b}`, t[String(b)]!);
    console.log(`round ${round + 1}: ${[...results].map(([k, v]) => `${k} ${r1(v.at(-1)!)}`).join(', ')}`);
  }
  for (const s of sessions) await s.session.release();
  model.dispose();

  const names = [...sessions.map((s) => s.name), 'tfjs-node', 'PyTorch 1.13'];
  console.log(`\nmedian images/s of ${ROUNDS} rounds (ratio to PyTorch's median in the same run)`);
  console.log('runtime                |   batch 1        |   batch 16');
  for (const name of names) {
    const cells = BATCHES.map((b) => {
      const v = median(results.get(`${name}|${b}`)!);
      const ref = median(results.get(`PyTorch 1.13|${b}`)!);
      return `${String(r1(v)).padStart(7)} (${(v / ref).toFixed(2)}x)`;
    });
    console.log(`${name.padEnd(22)} | ${cells[0]!.padEnd(16)} | ${cells[1]}`);
  }
  const best = (b: number) => Math.max(...sessions.map((s) => median(results.get(`${s.name}|${b}`)!))) / median(results.get(`PyTorch 1.13|${b}`)!);
  console.log(`goal: onnxruntime >= 2x PyTorch: batch 1 ${best(1).toFixed(2)}x, batch 16 ${best(16).toFixed(2)}x`);
  console.log(JSON.stringify({ size: SIZE, rounds: ROUNDS, medians: Object.fromEntries([...results].map(([k, v]) => [k, r1(median(v))])) }));
}

await main();
