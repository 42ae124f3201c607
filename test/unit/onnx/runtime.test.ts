/**
 * PREDICT_RUNTIME's three answers on the real onnxruntime-node, and on an import that fails the
 * way a missing package does (the module name does not resolve).
 */
import { describe, expect, it } from 'vitest';
import { choosePredictRuntime, OnnxRuntimeUnavailableError } from '../../../src/onnx/runtime.ts';

const missing = () => import(['onnxruntime', 'node', 'not', 'installed'].join('-'));

describe('choosePredictRuntime', () => {
  it('auto: onnxruntime when it loads and runs', async () => {
    const rt = await choosePredictRuntime('auto', { threads: 2 });
    expect(rt.name).toBe('onnxruntime');
    expect(rt.fallbackReason).toBeUndefined();
    expect(rt.description).toMatch(/^onnxruntime-node 1\.\d+\.\d+ \(CPU, 2 intra-op threads\)$/);
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
