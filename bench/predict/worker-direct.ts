/**
 * Child process of bench-predict.ts (so it runs with the same environment as the API child):
 *   prepare <dataDir> <jpegPath> <size> [quality]   publish a ChestXRayNet (random init) with its
 *     model.onnx, made and checked as the trainer does (exportCheckedOnnx), and write the test JPEG
 *   direct  <dataDir> <jpegPath> <seconds> [--profile]
 *     what the service code does without HTTP: decodeXray, then the runtime the API serves that
 *     version on (PREDICT_RUNTIME, as src/server.ts chooses it: onnxruntime on the version's
 *     model.onnx after standardizedBatch, or TensorFlow.js's predictor) in a loop over the same
 *     JPEG, batch 16; then each part alone; with --profile also decode variants (sharp options)
 *     to show where the decode time goes.
 * Prints one JSON line on stdout.
 */
import { readFile, writeFile } from 'node:fs/promises';
import sharp, { type SharpOptions } from 'sharp';
import { decodeXray } from '../../src/imaging/decode.ts';
import { initEngine } from '../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../src/ml/model.ts';
import { createPredictor, standardizedBatch } from '../../src/ml/predict.ts';
import { modelFromArtifacts, modelToArtifacts } from '../../src/ml/serialize.ts';
import { loadConfig } from '../../src/config.ts';
import { choosePredictRuntime } from '../../src/onnx/runtime.ts';
import { exportCheckedOnnx } from '../../src/services/onnx-export.ts';
import { createModelRegistry } from '../../src/storage/model-registry.ts';
import { createRng } from '../../src/ml/random.ts';
import { syntheticXray } from '../../test/helpers/synthetic-xray.ts';

export const MODEL_NAME = 'chestxraynet';
const BATCH = 16;
const JPEG_SIDE = 2000;

/**
 * A 2000x2000 grey JPEG (quality 90 unless told) that compresses like a radiograph: smooth anatomy (the
 * generated X-ray at 500 px, upscaled) plus mild film-grain noise; ~0.7 MB.
 */
async function makeJpeg(quality: number): Promise<Buffer> {
  const small = syntheticXray(500, true, 1);
  const big = await sharp(Buffer.from(small), { raw: { width: 500, height: 500, channels: 1 } })
    .resize(JPEG_SIDE, JPEG_SIDE)
    .raw()
    .toBuffer();
  const rand = createRng(7);
  for (let i = 0; i < big.length; i++) big[i] = Math.max(0, Math.min(255, big[i]! + Math.round((rand() - 0.5) * 8)));
  return sharp(big, { raw: { width: JPEG_SIDE, height: JPEG_SIDE, channels: 1 } }).jpeg({ quality }).toBuffer();
}

async function prepare(dataDir: string, jpegPath: string, size: number, quality: number): Promise<Record<string, unknown>> {
  const engine = await initEngine();
  const model = buildChestXRayNet({ inputSize: size });
  const artifacts = await modelToArtifacts(model);
  // Every trained version gets a checked model.onnx (src/services/training.ts); without it the API
  // would serve this one on TensorFlow.js and the bench would measure the wrong runtime.
  const onnx = await exportCheckedOnnx(model, size);
  model.dispose();
  if (!onnx.bytes) throw new Error(`bench: model.onnx was not made: ${onnx.report.reason ?? 'unknown reason'}`);
  const registry = createModelRegistry({ dataDir, defaultModel: MODEL_NAME });
  const info = await registry.publish(
    MODEL_NAME,
    { modelJson: artifacts.modelJson as unknown as Record<string, unknown>, weights: artifacts.weights, onnx: onnx.bytes },
    { classNames: ['NORMAL', 'PNEUMONIA'], threshold: 0.5, modelOptions: { inputSize: size }, note: 'bench: random init', onnx: onnx.report },
  );
  const jpeg = await makeJpeg(quality);
  await writeFile(jpegPath, jpeg);
  return { engine: engine.description, version: info.version, jpegBytes: jpeg.length, size };
}

/** Runs `step` (which handles `perStep` images) repeatedly for `seconds`: images/s and CPU cores used. */
async function rate(seconds: number, perStep: number, step: () => Promise<unknown>) {
  await step();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let images = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await step();
    images += perStep;
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    imagesPerSecond: Math.round((images / wall) * 10) / 10,
    msPerImage: Math.round(((wall * 1000) / images) * 100) / 100,
    cpuCores: Math.round((cpuSeconds / wall) * 100) / 100,
    /** CPU time per image, all threads: what it costs, whatever else runs on the machine. */
    cpuMsPerImage: Math.round(((cpuSeconds * 1000) / images) * 100) / 100,
  };
}

async function direct(dataDir: string, jpegPath: string, seconds: number, profile: boolean): Promise<Record<string, unknown>> {
  const engine = await initEngine();
  const jpeg = await readFile(jpegPath);
  const registry = createModelRegistry({ dataDir, defaultModel: MODEL_NAME });
  const model = await modelFromArtifacts(await registry.loadArtifacts(MODEL_NAME, 1));
  const inputSize = model.inputs[0]!.shape[1] as number;
  const tfjs = createPredictor(model, { inputSize, batchSize: BATCH });
  await tfjs.warmUp();
  const config = loadConfig(process.env);
  const runtime = await choosePredictRuntime(config.predictRuntime, { threads: config.onnxThreads });
  const onnxBytes = runtime.onnx ? await registry.loadOnnx(MODEL_NAME, 1) : null;
  const session = runtime.onnx && onnxBytes ? await runtime.onnx.createSession(onnxBytes) : undefined;
  const predictor = session
    ? { predict: (images: readonly Uint8Array[]) => session.run(standardizedBatch(images, inputSize), images.length, inputSize) }
    : tfjs;
  const decode = () => decodeXray(jpeg, inputSize, { maxPixels: 100_000_000 });
  const decodeBatch = () => Promise.all(Array.from({ length: BATCH }, decode));
  const pixels = await decodeBatch();

  const out: Record<string, unknown> = {
    engine: engine.description,
    runtime: session ? runtime.description : `TensorFlow.js (${runtime.onnx ? 'the version has no model.onnx' : runtime.description})`,
    inputSize,
    jpegBytes: jpeg.length,
    batch: BATCH,
  };
  // The reference: decode 16 (concurrently, as concurrent requests do), then predict them as one batch.
  out.loop = await rate(seconds, BATCH, async () => predictor.predict(await decodeBatch()));
  // The same with the next batch decoding while this one predicts (what a server overlapping requests can do).
  let next = decodeBatch();
  out.pipelined = await rate(seconds, BATCH, async () => {
    const px = await next;
    next = decodeBatch();
    await predictor.predict(px);
  });
  await next;
  const part = Math.max(2, Math.round(seconds / 3));
  out.parts = {
    decodeOneAtATime: await rate(part, 1, decode),
    decode16Concurrent: await rate(part, BATCH, decodeBatch),
    predictBatch16: await rate(part, BATCH, () => predictor.predict(pixels)),
    predictBatch1: await rate(part, 1, () => predictor.predict([pixels[0]!])),
  };
  if (profile) {
    const variant = (opts: SharpOptions, shrink?: number) => () =>
      Promise.all(
        Array.from({ length: BATCH }, () => {
          let img = sharp(jpeg, opts).rotate().flatten({ background: '#000000' }).toColourspace('b-w');
          if (shrink) img = img.resize(shrink, shrink, { fit: 'fill' });
          return img.resize(inputSize, inputSize, { fit: 'fill' }).raw().toBuffer();
        }),
      );
    out.decodeVariants16Concurrent = {
      decodeXray: await rate(part, BATCH, decodeBatch),
      'same pipeline, no metadata() pre-pass': await rate(part, BATCH, variant({ failOn: 'error' })),
      '+ sequentialRead': await rate(part, BATCH, variant({ failOn: 'error', sequentialRead: true })),
      "failOn 'none' + sequentialRead": await rate(part, BATCH, variant({ failOn: 'none', sequentialRead: true })),
      'full-size decode, no resize (no shrink-on-load)': await rate(part, BATCH, () =>
        Promise.all(Array.from({ length: BATCH }, () => sharp(jpeg).toColourspace('b-w').raw().toBuffer())),
      ),
      'metadata() only': await rate(part, BATCH, () => Promise.all(Array.from({ length: BATCH }, () => sharp(jpeg).metadata()))),
    };
  }
  tfjs.dispose();
  await session?.release();
  return out;
}

const [mode, dataDir, jpegPath, arg] = process.argv.slice(2);
if (!dataDir || !jpegPath || !arg || (mode !== 'prepare' && mode !== 'direct')) {
  process.stderr.write('usage: worker-direct.ts prepare <dataDir> <jpeg> <size> [quality] | direct <dataDir> <jpeg> <seconds> [--profile]\n');
  process.exit(2);
}
const result =
  mode === 'prepare'
    ? await prepare(dataDir, jpegPath, Number(arg), Number(process.argv[6] ?? 90))
    : await direct(dataDir, jpegPath, Number(arg), process.argv.includes('--profile'));
process.stdout.write(`${JSON.stringify(result)}\n`);
