/**
 * model.onnx against TensorFlow.js, on the real runtimes (tfjs-node, onnxruntime-node): the same
 * standardised inputs through the tfjs model and through its ONNX export on onnxruntime must agree
 * to 1e-5 on every probability, for models with and without batch norm and with several filter
 * multipliers and input sizes, on random inputs and on tie-heavy ones (flat black frames, black
 * images). Weights, biases and batch-norm statistics are set to random non-trivial values first
 * (fresh batch norm is the identity, which would hide a wrong fold), and the outputs are checked
 * to be spread out (saturated sigmoids would hide any difference). A deliberately wrong export is
 * shown to exceed the tolerance, so the comparison can fail.
 */
import * as tf from '@tensorflow/tfjs';
import onnxProto from 'onnx-proto';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { buildChestXRayNet, type ModelOptions } from '../../../src/ml/model.ts';
import type { NetworkGraph } from '../../../src/ml/network-graph.ts';
import { exportCheckImages, GraphExportError, hwioToOihw, networkGraphOf } from '../../../src/ml/onnx-graph.ts';
import { predictStandardized, standardizedBatch } from '../../../src/ml/predict.ts';
import { createRng } from '../../../src/ml/random.ts';
import { loadOnnxRuntime, OnnxRuntimeUnavailableError, type OnnxRuntime } from '../../../src/onnx/runtime.ts';
import { encodeNetworkGraph, onnxOpTypes, ONNX_INPUT, ONNX_OUTPUT } from '../../../src/onnx/writer.ts';
import { exportCheckedOnnx, ONNX_TOLERANCE } from '../../../src/services/onnx-export.ts';

let ort: OnnxRuntime;
beforeAll(async () => {
  await initEngine();
  ort = await loadOnnxRuntime({ threads: 1 });
});

/** Every weight drawn anew: kernels scaled Glorot-like, biases and BN statistics far from identity. */
function randomiseWeights(model: tf.LayersModel, seed: number): void {
  const rand = createRng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  for (const layer of model.layers) {
    const current = layer.getWeights();
    if (current.length === 0) continue;
    const next = current.map((w, i) => {
      const name = layer.weights[i]!.originalName;
      const fanIn = w.shape.length === 4 ? w.shape[0]! * w.shape[1]! * w.shape[2]! : w.shape[0]!;
      const values = Float32Array.from({ length: w.size }, () => {
        if (name.endsWith('moving_variance')) return 0.05 + 3 * rand();
        if (name.endsWith('moving_mean')) return gauss() * 0.5;
        if (name.endsWith('gamma')) return 0.3 + 1.5 * rand();
        if (name.endsWith('beta') || name.endsWith('bias')) return gauss() * 0.2;
        return (gauss() * 1.4) / Math.sqrt(fanIn);
      });
      return tf.tensor(values, w.shape);
    });
    layer.setWeights(next);
    next.forEach((t) => t.dispose());
  }
}

/** Random standardised inputs, and tie-heavy ones (flat frames, black images, a black image with a square). */
function inputs(size: number, seed: number): { x: Float32Array; count: number } {
  const count = 12;
  const n = size * size;
  const rand = createRng(seed);
  const images: Uint8Array[] = [];
  const ties = exportCheckImages(size, 8, seed);
  for (let i = 0; i < 8; i++) images.push(ties.subarray(i * n, (i + 1) * n));
  for (let i = 0; i < 4; i++) {
    // smooth random field with grain: closer to an X-ray than noise, and no ties
    const fx = 1 + rand() * 4;
    const fy = 1 + rand() * 4;
    images.push(
      Uint8Array.from({ length: n }, (_, k) => {
        const y = Math.floor(k / size);
        const xx = k % size;
        return Math.max(0, Math.min(255, Math.round(128 + 90 * Math.sin((fx * xx) / size * Math.PI) * Math.cos((fy * y) / size * Math.PI) + 20 * (rand() - 0.5))));
      }),
    );
  }
  return { x: standardizedBatch(images, size), count };
}

async function compare(model: tf.LayersModel, graph: NetworkGraph, size: number, seed: number): Promise<{ maxAbsDiff: number; tfjs: Float32Array }> {
  const { x, count } = inputs(size, seed);
  const want = predictStandardized(model, x, count, size);
  const session = await ort.createSession(encodeNetworkGraph(graph));
  try {
    const got = await session.run(x, count, size);
    let maxAbsDiff = 0;
    got.forEach((g, i) => (maxAbsDiff = Math.max(maxAbsDiff, Math.abs(g - want[i]!))));
    return { maxAbsDiff, tfjs: want };
  } finally {
    await session.release();
  }
}

const CASES: [string, Partial<ModelOptions>][] = [
  ['no batch norm, x1, 64 px', { inputSize: 64, batchNorm: false, filterMultiplier: 1 }],
  ['batch norm, x1, 64 px', { inputSize: 64, batchNorm: true, filterMultiplier: 1 }],
  ['batch norm, x0.5, 128 px', { inputSize: 128, batchNorm: true, filterMultiplier: 0.5 }],
  ['no batch norm, x1.5, 128 px', { inputSize: 128, batchNorm: false, filterMultiplier: 1.5 }],
  ['batch norm, x2, 64 px', { inputSize: 64, batchNorm: true, filterMultiplier: 2 }],
  ['no batch norm, x0.25, 256 px (the default size)', { inputSize: 256, batchNorm: false, filterMultiplier: 0.25 }],
];

describe('ONNX export vs TensorFlow.js (max abs diff <= 1e-5)', () => {
  it.each(CASES)('%s', async (_name, options) => {
    const model = buildChestXRayNet({ ...options, seed: 5 });
    try {
      randomiseWeights(model, 17);
      const size = options.inputSize!;
      const graph = networkGraphOf(model);
      expect(graph.ops.filter((o) => o.op === 'conv')).toHaveLength(7);
      const { maxAbsDiff, tfjs } = await compare(model, graph, size, 3);
      // the outputs are spread out, so a difference would show
      const spread = Math.max(...tfjs) - Math.min(...tfjs);
      expect(spread).toBeGreaterThan(0.05);
      expect(tfjs.some((p) => p > 0.02 && p < 0.98)).toBe(true);
      expect(maxAbsDiff).toBeLessThanOrEqual(ONNX_TOLERANCE);
    } finally {
      model.dispose();
    }
  });

  it('uses only Conv, Relu, MaxPool, GlobalAveragePool, Flatten, Gemm and Sigmoid, with batch norm and dropout gone', () => {
    const model = buildChestXRayNet({ inputSize: 64, batchNorm: true, dropoutRate: 0.5 });
    try {
      const ops = onnxOpTypes(encodeNetworkGraph(networkGraphOf(model)));
      expect(new Set(ops)).toEqual(new Set(['Conv', 'Relu', 'MaxPool', 'GlobalAveragePool', 'Flatten', 'Gemm', 'Sigmoid']));
      expect(ops.filter((o) => o === 'Conv')).toHaveLength(7);
      expect(ops.filter((o) => o === 'MaxPool')).toHaveLength(6);
      expect(ops.filter((o) => o === 'Gemm')).toHaveLength(3);
      const decoded = onnxProto.onnx.ModelProto.decode(encodeNetworkGraph(networkGraphOf(model)));
      expect(decoded.graph?.input?.[0]?.name).toBe(ONNX_INPUT);
      expect(decoded.graph?.output?.[0]?.name).toBe(ONNX_OUTPUT);
      const dims = decoded.graph?.input?.[0]?.type?.tensorType?.shape?.dim?.map((d) => d.dimParam || Number(d.dimValue));
      expect(dims).toEqual(['batch', 1, 64, 64]);
      expect(Number(decoded.opsetImport?.[0]?.version)).toBe(13);
    } finally {
      model.dispose();
    }
  });

  it('a wrong export exceeds the tolerance: the comparison can fail', async () => {
    const model = buildChestXRayNet({ inputSize: 64, batchNorm: true, seed: 2 });
    try {
      randomiseWeights(model, 23);
      const graph = networkGraphOf(model);
      // TF's 'same' pads are symmetric for odd kernels; all at the bottom/right is a plausible bug
      const shifted: NetworkGraph = {
        ...graph,
        ops: graph.ops.map((o) => (o.op === 'conv' ? { ...o, pads: [0, 0, o.kernel - 1, o.kernel - 1] as const } : o)),
      };
      expect((await compare(model, shifted, 64, 3)).maxAbsDiff).toBeGreaterThan(100 * ONNX_TOLERANCE);
      // kernels flipped (convolution instead of TensorFlow's cross-correlation), the classic transposition bug
      const flipped: NetworkGraph = {
        ...graph,
        ops: graph.ops.map((o) => {
          if (o.op !== 'conv') return o;
          const k2 = o.kernel * o.kernel;
          const weight = new Float32Array(o.weight.length);
          for (let base = 0; base < o.weight.length; base += k2) for (let j = 0; j < k2; j++) weight[base + j] = o.weight[base + k2 - 1 - j]!;
          return { ...o, weight };
        }),
      };
      expect((await compare(model, flipped, 64, 3)).maxAbsDiff).toBeGreaterThan(100 * ONNX_TOLERANCE);
    } finally {
      model.dispose();
    }
  });
});

describe('exportCheckedOnnx (the publish check)', () => {
  it('keeps model.onnx with the measured difference', async () => {
    const model = buildChestXRayNet({ inputSize: 64, batchNorm: true, seed: 4 });
    try {
      randomiseWeights(model, 31);
      const out = await exportCheckedOnnx(model, 64, { metadata: { classNames: '["NORMAL","PNEUMONIA"]' } });
      expect(out.bytes).toBeInstanceOf(Uint8Array);
      expect(out.report).toMatchObject({ file: 'model.onnx', opset: 13, check: { images: 8, tolerance: 1e-5 } });
      expect(out.report.check.maxAbsDiff).toBeLessThanOrEqual(1e-5);
      expect(out.report.bytes).toBe(out.bytes!.byteLength);
      const decoded = onnxProto.onnx.ModelProto.decode(out.bytes!);
      expect(decoded.metadataProps?.find((p) => p.key === 'classNames')?.value).toBe('["NORMAL","PNEUMONIA"]');
    } finally {
      model.dispose();
    }
  });

  it('refuses an export that disagrees, saying by how much', async () => {
    const model = buildChestXRayNet({ inputSize: 64, seed: 4 });
    try {
      randomiseWeights(model, 37);
      const out = await exportCheckedOnnx(model, 64, {
        alterGraph: (g) => ({ ...g, ops: g.ops.map((o) => (o.op === 'dense' ? { ...o, bias: o.bias.map((b) => b + 0.5) } : o)) }),
      });
      expect(out.bytes).toBeUndefined();
      expect(out.report.file).toBeNull();
      expect(out.report.reason).toMatch(/differ by up to .* \(> 0\.00001\)/);
      expect(out.report.check.maxAbsDiff).toBeGreaterThan(1e-5);
    } finally {
      model.dispose();
    }
  });

  it('without a runtime to check on, keeps no model.onnx and says why', async () => {
    const model = buildChestXRayNet({ inputSize: 64 });
    try {
      const out = await exportCheckedOnnx(model, 64, {
        runtime: () => loadOnnxRuntime({ threads: 1, importModule: () => import(['no', 'such', 'onnxruntime'].join('-')) }),
      });
      expect(out.bytes).toBeUndefined();
      expect(out.report.reason).toMatch(/^not checked, so not kept: onnxruntime-node did not load/);
    } finally {
      model.dispose();
    }
  });
});

describe('networkGraphOf', () => {
  it('moves HWIO kernels to OIHW', () => {
    // kh=1, kw=2, in=2, out=3: value = 100*y + 10*x + ... encode indices
    const kh = 1, kw = 2, cin = 2, cout = 3;
    const hwio = new Float32Array(kh * kw * cin * cout);
    for (let x = 0; x < kw; x++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) hwio[(x * cin + i) * cout + o] = 100 * o + 10 * i + x;
    const oihw = hwioToOihw(hwio, kh, kw, cin, cout);
    for (let o = 0; o < cout; o++) for (let i = 0; i < cin; i++) for (let x = 0; x < kw; x++) expect(oihw[(o * cin + i) * kw + x]).toBe(100 * o + 10 * i + x);
  });

  it('refuses layers it cannot export instead of writing a different network', () => {
    const input = tf.input({ shape: [64, 64, 1] });
    const conv = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', activation: 'tanh' }).apply(input) as tf.SymbolicTensor;
    const flat = tf.layers.flatten().apply(conv) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 1, activation: 'sigmoid' }).apply(flat) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    try {
      expect(() => networkGraphOf(model)).toThrow(GraphExportError);
      expect(() => networkGraphOf(model)).toThrow(/activation "tanh"/);
    } finally {
      model.dispose();
    }
  });

  it('does not leak tensors', () => {
    const model = buildChestXRayNet({ inputSize: 64, batchNorm: true });
    const before = tf.memory().numTensors;
    networkGraphOf(model);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('loadOnnxRuntime', () => {
  it('names a module that does not load or has no InferenceSession', async () => {
    await expect(loadOnnxRuntime({ threads: 1, importModule: () => import(['no', 'such', 'onnxruntime'].join('-')) })).rejects.toThrow(OnnxRuntimeUnavailableError);
    await expect(loadOnnxRuntime({ threads: 1, importModule: async () => ({ default: {} }) })).rejects.toThrow(/no InferenceSession/);
  });
});
