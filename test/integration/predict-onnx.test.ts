/**
 * Serving on onnxruntime (real onnxruntime-node, real tfjs, real registry, real HTTP and Redis):
 * a version with model.onnx predicts on onnxruntime and agrees with the same weights served on
 * TensorFlow.js to 1e-5; a version without one, or with a broken or mismatched one, serves on
 * TensorFlow.js and says so (log, metric, /health/ready); model.onnx downloads; readiness is
 * honest (503 until the default model is loaded and warm, per model too); /metrics has the
 * tensor count and RSS.
 */
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildChestXRayNet } from '../../src/ml/model.ts';
import { modelToArtifacts } from '../../src/ml/serialize.ts';
import { choosePredictRuntime, type PredictRuntime } from '../../src/onnx/runtime.ts';
import type { ModelArtifacts, ModelRegistry } from '../../src/storage/model-types.ts';
import { startPredictHarness, trainTinyModel, waitFor, withOnnx, xrayBytes, type PredictHarness } from '../helpers/predict-harness.ts';

let runtime: PredictRuntime;
let trained: ModelArtifacts;
let trainedOnnx: ModelArtifacts;
let png: Buffer[];

beforeAll(async () => {
  runtime = await choosePredictRuntime('onnxruntime', { threads: 1 });
  trained = await trainTinyModel({ seed: 3 });
  trainedOnnx = await withOnnx(trained);
  png = await Promise.all(Array.from({ length: 6 }, (_, i) => xrayBytes(300 + i, i % 2 === 1)));
});

const probabilities = (res: { body: { predictions: { probability: number }[] } }) => res.body.predictions.map((p) => p.probability);

describe('predictions on onnxruntime', () => {
  let h: PredictHarness;
  beforeAll(async () => {
    h = await startPredictHarness(import.meta.url, { runtime });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('a version with model.onnx runs on onnxruntime and agrees with the same weights on TensorFlow.js (<= 1e-5)', async () => {
    const name = h.config.defaultModelName;
    await h.publish(name, trainedOnnx); // v1: with model.onnx
    await h.publish(name, trained); // v2: the same weights without (as versions published before the export)
    const body = { images: png.map((b) => b.toString('base64')) };
    const onnx = await h.http.post('/v1/predict?version=1').send(body).expect(200);
    const tfjs = await h.http.post('/v1/predict?version=2').send(body).expect(200);
    const a = probabilities(onnx);
    const b = probabilities(tfjs);
    expect(a).toHaveLength(6);
    a.forEach((p, i) => expect(Math.abs(p - b[i]!)).toBeLessThanOrEqual(1e-5));
    // the trained model separates the classes, so these are not all one value
    expect(Math.max(...a) - Math.min(...a)).toBeGreaterThan(0.2);
    expect(h.predictions.loaded()).toEqual([
      { name, version: 1, runtime: 'onnxruntime' },
      { name, version: 2, runtime: 'tfjs' },
    ]);
    const metrics = await h.http.get('/metrics').expect(200);
    expect(metrics.text).toContain('cxr_predict_runtime{runtime="onnxruntime",requested="onnxruntime"} 1');
    expect(metrics.text).toContain('cxr_predict_runtime_fallbacks_total{scope="version",reason="no-model-onnx"} 1');
  });

  it('batches concurrent requests on onnxruntime too', async () => {
    const before = await h.http.get('/metrics');
    const count = (text: string) => Number(/cxr_prediction_batch_size_count (\d+)/.exec(text)?.[1] ?? 0);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => h.http.post('/v1/predict?version=1').set('content-type', 'image/png').send(png[i % 6]).expect(200)),
    );
    results.forEach((r, i) => expect(r.body.predictions[0].probability).toBeCloseTo(results[i % 6]!.body.predictions[0].probability, 6));
    const passes = count((await h.http.get('/metrics')).text) - count(before.text);
    expect(passes).toBeLessThan(12);
  });

  it('Grad-CAM still answers for an onnxruntime version (it runs on TensorFlow.js)', async () => {
    const res = await h.http.post('/v1/explain?version=1').set('content-type', 'image/png').send(png[1]).expect(200);
    const onnx = await h.http.post('/v1/predict?version=1').set('content-type', 'image/png').send(png[1]).expect(200);
    expect(Math.abs(res.body.probability - onnx.body.predictions[0].probability)).toBeLessThanOrEqual(1e-5);
    expect(res.body.heatmap.length).toBeGreaterThan(100);
  });

  it('a broken model.onnx, or one of other weights, falls back to TensorFlow.js loudly and still serves', async () => {
    const name = 'fallbacks';
    await h.publish(name, { ...trained, onnx: new Uint8Array([8, 1, 0x12, 0xff, 0xff, 0x7f, 1, 2, 3]) }); // v1: not an ONNX model
    const other = buildChestXRayNet({ inputSize: 64, seed: 99 });
    const otherOnnx = await withOnnx(await modelToArtifacts(other));
    other.dispose();
    await h.publish(name, { ...trained, onnx: otherOnnx.onnx! }); // v2: a valid model.onnx of different weights
    for (const version of [1, 2]) {
      const res = await h.http.post(`/v1/models/${name}/predict?version=${version}`).set('content-type', 'image/png').send(png[1]).expect(200);
      const want = await h.http.post('/v1/predict?version=2').set('content-type', 'image/png').send(png[1]).expect(200);
      expect(Math.abs(res.body.predictions[0].probability - want.body.predictions[0].probability)).toBeLessThanOrEqual(1e-6);
    }
    expect(h.predictions.loaded().filter((m) => m.name === name)).toEqual([
      { name, version: 1, runtime: 'tfjs' },
      { name, version: 2, runtime: 'tfjs' },
    ]);
    const metrics = (await h.http.get('/metrics').expect(200)).text;
    expect(metrics).toContain('cxr_predict_runtime_fallbacks_total{scope="version",reason="session-failed"} 1');
    expect(metrics).toContain('cxr_predict_runtime_fallbacks_total{scope="version",reason="mismatch"} 1');
  });

  it('GET .../model.onnx downloads the file; 404 ONNX_NOT_AVAILABLE without one, VERSION_NOT_FOUND without the version', async () => {
    const name = h.config.defaultModelName;
    const res = await h.http.get(`/v1/models/${name}/versions/1/model.onnx`).buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    }).expect(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="${name}-v1.onnx"`);
    const body = res.body as Buffer;
    expect(Buffer.compare(body, Buffer.from(trainedOnnx.onnx!))).toBe(0);
    const decoded = onnxProto.onnx.ModelProto.decode(body);
    expect(decoded.graph?.node?.map((n) => n.opType)).toContain('Conv');
    const absent = await h.http.get(`/v1/models/${name}/versions/2/model.onnx`).expect(404);
    expect(absent.body.error).toMatchObject({ code: 'ONNX_NOT_AVAILABLE', details: { name, version: 2 } });
    expect(absent.body.error.message).toMatch(/published before ONNX export/);
    expect((await h.http.get(`/v1/models/${name}/versions/9/model.onnx`).expect(404)).body.error.code).toBe('VERSION_NOT_FOUND');
    expect((await h.http.get('/v1/models/nosuch/versions/1/model.onnx').expect(404)).body.error.code).toBe('MODEL_NOT_FOUND');
    expect((await h.http.get(`/v1/models/${name}/versions/0x1/model.onnx`).expect(400)).body.error.code).toBe('VALIDATION_FAILED');
  });

  it('/health/ready names the runtime; /metrics has the tensor count and RSS', async () => {
    const ready = await h.http.get('/health/ready').expect(200);
    expect(ready.body).toMatchObject({ runtime: 'onnxruntime', predictRuntime: { requested: 'onnxruntime' } });
    expect(ready.body.predictRuntime.fallbackReason).toBeUndefined();
    const text = (await h.http.get('/metrics').expect(200)).text;
    const tensors = Number(/^cxr_tfjs_tensors (\d+)$/m.exec(text)?.[1]);
    const rss = Number(/^cxr_process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]);
    // four versions are loaded here: each holds its weights as tensors
    expect(tensors).toBeGreaterThanOrEqual(4 * 20);
    expect(rss).toBeGreaterThan(50 * 1024 * 1024);
    // the gauge follows tf.memory(): predictions do not change it
    await h.http.post('/v1/predict?version=1').set('content-type', 'image/png').send(png[0]).expect(200);
    const after = Number(/^cxr_tfjs_tensors (\d+)$/m.exec((await h.http.get('/metrics')).text)?.[1]);
    expect(after).toBe(tensors);
  });
});

describe('readiness waits for the default model to be loaded and warm', () => {
  let h: PredictHarness;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  /** Loads of artifacts wait for the gate: the real registry, held back. */
  const held = (registry: ModelRegistry): ModelRegistry => ({
    ...registry,
    loadArtifacts: async (name, version) => {
      await gate;
      return registry.loadArtifacts(name, version);
    },
  });

  beforeAll(async () => {
    h = await startPredictHarness(import.meta.url, { runtime, wrapRegistry: held });
  });
  afterAll(async () => {
    release();
    await h?.close();
  });

  it('200 while the default model has no version; a model that does not exist is 404 on the per-model route', async () => {
    const res = await h.http.get('/health/ready').expect(200);
    expect(res.body.models.default).toEqual({ name: h.config.defaultModelName, status: 'absent', version: null });
    expect((await h.http.get('/v1/models/nosuch/ready').expect(404)).body.error.code).toBe('MODEL_NOT_FOUND');
    expect((await h.http.get(`/v1/models/${h.config.defaultModelName}/ready`).expect(503)).body.error.code).toBe('NO_MODEL');
  });

  it('503 MODEL_NOT_READY before the version is warm, 200 after; the per-model route says the same with the version', async () => {
    const name = h.config.defaultModelName;
    await h.publish(name, trainedOnnx);
    const before = await h.http.get('/health/ready').expect(503);
    expect(before.body).toMatchObject({
      status: 'not-ready',
      redis: true,
      models: { default: { name, status: 'loading', version: 1 }, loaded: [] },
      error: { code: 'MODEL_NOT_READY' },
    });
    expect(Number(before.headers['retry-after'])).toBeGreaterThan(0);
    const model = await h.http.get(`/v1/models/${name}/ready`).expect(503);
    expect(model.body.error).toMatchObject({ code: 'MODEL_NOT_READY', details: { name, version: 1, status: 'loading' } });
    expect(Number(model.headers['retry-after'])).toBeGreaterThan(0);
    // still held: asking again does not make it ready
    await new Promise((r) => setTimeout(r, 200));
    await h.http.get('/health/ready').expect(503);

    release();
    await waitFor(async () => (await h.http.get('/health/ready')).status === 200, 20_000, 'readiness');
    const after = await h.http.get('/health/ready').expect(200);
    expect(after.body.models.default).toEqual({ name, status: 'ready', version: 1 });
    expect(after.body.models.loaded).toEqual([{ name, version: 1, runtime: 'onnxruntime' }]);
    expect((await h.http.get(`/v1/models/${name}/ready`).expect(200)).body).toEqual({ name, status: 'ready', version: 1, runtime: 'onnxruntime' });
  });

  it('another model: asking starts its load; a version that cannot load is 503 failed with the reason', async () => {
    await h.publish('second', trained);
    const first = await h.http.get('/v1/models/second/ready');
    if (first.status === 503) expect(first.body.error.details).toMatchObject({ version: 1, status: 'loading' });
    await waitFor(async () => (await h.http.get('/v1/models/second/ready')).status === 200, 20_000, 'second ready');
    expect((await h.http.get('/v1/models/second/ready')).body).toEqual({ name: 'second', status: 'ready', version: 1, runtime: 'tfjs' });

    await h.publish('broken', { modelJson: { modelTopology: { nonsense: true }, weightsManifest: [{ paths: [], weights: [] }] }, weights: new Uint8Array(0) });
    await waitFor(
      async () => (await h.http.get('/v1/models/broken/ready')).body?.error?.details?.status === 'failed',
      20_000,
      'broken reported failed',
    );
    const broken = await h.http.get('/v1/models/broken/ready').expect(503);
    expect(broken.body.error.details).toMatchObject({ name: 'broken', version: 1, status: 'failed', reason: expect.any(String) });
    // the default model is unaffected
    await h.http.get('/health/ready').expect(200);
  });
});
