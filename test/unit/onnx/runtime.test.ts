/**
 * PREDICT_RUNTIME's three answers on the real onnxruntime-node, and on an import that fails the
 * way a missing package does (the module name does not resolve).
 */
import { describe, expect, it } from 'vitest';
import { buildChestXRayNet } from '../../../src/ml/model.ts';
import { networkGraphOf } from '../../../src/ml/onnx-graph.ts';
import { initEngine } from '../../../src/ml/engine.ts';
import { createRng } from '../../../src/ml/random.ts';
import { choosePredictRuntime, intraOpThreadsFor, loadOnnxRuntime, MULTI_THREAD_MIN_BATCH, OnnxRuntimeUnavailableError } from '../../../src/onnx/runtime.ts';
import { encodeNetworkGraph } from '../../../src/onnx/writer.ts';

const missing = () => import(['onnxruntime', 'node', 'not', 'installed'].join('-'));

describe('choosePredictRuntime', () => {
  it('auto: onnxruntime when it loads and runs', async () => {
    const rt = await choosePredictRuntime('auto', { threads: 2 });
    expect(rt.name).toBe('onnxruntime');
    expect(rt.fallbackReason).toBeUndefined();
    expect(rt.description).toMatch(/^onnxruntime-node 1\.\d+\.\d+ \(CPU, 2 intra-op threads; batches under 4 on 1\)$/);
    expect(rt.onnx?.threads).toBe(2);
  });

  it('auto: TensorFlow.js with the reason when onnxruntime does not load', async () => {
    const rt = await choosePredictRuntime('auto', { threads: 2, importModule: missing });
    expect(rt).toMatchObject({ name: 'tfjs', requested: 'auto' });
    expect(rt.onnx).toBeUndefined();
    expect(rt.fallbackReason).toMatch(/^onnxruntime-node did not load: /);
  });

  it('onnxruntime: required, so a missing runtime throws (a start-up error)', async () => {
    await expect(choosePredictRuntime('onnxruntime', { threads: 1, importModule: missing })).rejects.toThrow(OnnxRuntimeUnavailableError);
    expect((await choosePredictRuntime('onnxruntime', { threads: 1 })).name).toBe('onnxruntime');
  });

  it('tfjs: never imports onnxruntime', async () => {
    let imported = false;
    const rt = await choosePredictRuntime('tfjs', {
      threads: 1,
      importModule: async () => {
        imported = true;
        return missing();
      },
    });
    expect(rt).toMatchObject({ name: 'tfjs', requested: 'tfjs' });
    expect(imported).toBe(false);
  });

  it('a module that imports but cannot run a model is unavailable too', async () => {
    const broken = {
      InferenceSession: { create: async () => Promise.reject(new Error('libonnxruntime.so.1: cannot open shared object file')) },
      Tensor: class {},
      env: { versions: { node: '1.30.0' } },
    };
    const rt = await choosePredictRuntime('auto', { threads: 1, importModule: async () => broken });
    expect(rt.name).toBe('tfjs');
    expect(rt.fallbackReason).toBe('onnxruntime-node 1.30.0 loaded but cannot run a model: libonnxruntime.so.1: cannot open shared object file');
  });
});

describe('sessions of a multi-thread runtime', () => {
  it('run batches under MULTI_THREAD_MIN_BATCH on one thread and larger ones on all, with the same answers as a one-thread runtime', async () => {
    expect([1, 2, 3, 4, 16].map((n) => intraOpThreadsFor(n, 2))).toEqual([1, 1, 1, 2, 2]);
    expect(intraOpThreadsFor(16, 1)).toBe(1);
    expect(MULTI_THREAD_MIN_BATCH).toBe(4);
    await initEngine();
    const size = 64;
    const model = buildChestXRayNet({ inputSize: size });
    const bytes = encodeNetworkGraph(networkGraphOf(model));
    model.dispose();
    const [one, two] = await Promise.all([loadOnnxRuntime({ threads: 1 }), loadOnnxRuntime({ threads: 2 })]);
    const [a, b] = await Promise.all([one.createSession(bytes), two.createSession(bytes)]);
    const rand = createRng(5);
    for (const count of [1, 3, 4, 8]) {
      const x = Float32Array.from({ length: count * size * size }, () => rand() * 2 - 1);
      const [pa, pb] = await Promise.all([a.run(x, count, size), b.run(x, count, size)]);
      expect(pb.length).toBe(count);
      for (let i = 0; i < count; i++) expect(Math.abs(pa[i]! - pb[i]!)).toBeLessThanOrEqual(1e-6);
    }
    await Promise.all([a.release(), b.release(), b.release()]);
    await expect(b.run(new Float32Array(size * size), 1, size)).rejects.toThrow(/released/);
  });
});
