import * as tf from '@tensorflow/tfjs';
import type { NetworkGraph, NetworkOp } from './network-graph.ts';
import { createRng } from './random.ts';

/**
 * Reads a trained ChestXRayNet (src/ml/model.ts) out of TensorFlow.js as a chain of inference ops
 * in ONNX's layout (src/ml/network-graph.ts), for src/onnx/writer.ts:
 * - conv kernels HWIO [kh, kw, in, out] -> OIHW [out, in, kh, kw]; 'same' padding (stride 1) ->
 *   explicit pads, the odd extra at the bottom/right as TensorFlow does;
 * - batch norm folded into the conv before it (inference statistics): w' = w * s, b' = (b - mean) * s + beta,
 *   s = gamma / sqrt(variance + epsilon), computed in float64 and rounded once;
 * - dropout dropped; the global average pool's output is [batch, channels] before the dense layers,
 *   so no flatten order question arises (the spatial size is 1x1).
 * Any layer or setting outside that table throws: an exported model that silently differs from
 * the trained one is worse than none.
 */

export class GraphExportError extends Error {
  override readonly name = 'GraphExportError';
}

type Config = Record<string, unknown>;

const pair = (v: unknown): [number, number] => {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0] as number, v[1] as number];
  throw new GraphExportError(`expected a number or a pair, got ${JSON.stringify(v)}`);
};

function activationOp(name: unknown, layer: string): NetworkOp | null {
  if (name === undefined || name === null || name === 'linear') return null;
  if (name === 'relu') return { op: 'relu' };
  if (name === 'sigmoid') return { op: 'sigmoid' };
  throw new GraphExportError(`${layer}: activation ${JSON.stringify(name)} has no export`);
}

/** The layer's weights by their short name ('kernel', 'bias', 'gamma', ...), as float32 copies. */
function weightsOf(layer: tf.layers.Layer): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  const values = layer.getWeights();
  layer.weights.forEach((w, i) => {
    const short = w.originalName.split('/').at(-1)!;
    const t = values[i]!;
    out.set(short, { shape: t.shape.slice(), data: Float32Array.from(t.dataSync() as Float32Array) });
  });
  return out;
}

function need<T>(m: Map<string, T>, key: string, layer: string): T {
  const v = m.get(key);
  if (v === undefined) throw new GraphExportError(`${layer}: no ${key} weight`);
  return v;
}

/** HWIO [kh, kw, in, out] -> OIHW [out, in, kh, kw]. */
export function hwioToOihw(data: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        for (let o = 0; o < cout; o++) {
          out[((o * cin + i) * kh + y) * kw + x] = data[((y * kw + x) * cin + i) * cout + o]!;
        }
      }
    }
  }
  return out;
}

/** TensorFlow's 'same' padding at stride 1: k - 1 in all, the odd one at the end. */
function samePads(kh: number, kw: number): [number, number, number, number] {
  const th = kh - 1;
  const tw = kw - 1;
  return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
}

function convOp(layer: tf.layers.Layer, cin: number): { conv: Extract<NetworkOp, { op: 'conv' }>; act: NetworkOp | null } {
  const c = layer.getConfig() as Config;
  const name = layer.name;
  const [kh, kw] = pair(c.kernelSize);
  const [sh, sw] = pair(c.strides ?? 1);
  const [dh, dw] = pair(c.dilationRate ?? 1);
  if (kh !== kw) throw new GraphExportError(`${name}: non-square kernel ${kh}x${kw}`);
  if (sh !== 1 || sw !== 1 || dh !== 1 || dw !== 1) throw new GraphExportError(`${name}: only stride 1 and dilation 1 are exported`);
  if (c.dataFormat !== undefined && c.dataFormat !== 'channelsLast') throw new GraphExportError(`${name}: dataFormat ${String(c.dataFormat)}`);
  const w = weightsOf(layer);
  const kernel = need(w, 'kernel', name);
  const [, , kin, cout] = kernel.shape as [number, number, number, number];
  if (kin !== cin) throw new GraphExportError(`${name}: kernel expects ${kin} input channels, the graph has ${cin}`);
  const pads: [number, number, number, number] =
    c.padding === 'same' ? samePads(kh, kw) : c.padding === 'valid' ? [0, 0, 0, 0] : (() => {
      throw new GraphExportError(`${name}: padding ${String(c.padding)}`);
    })();
  const bias = w.get('bias')?.data ?? new Float32Array(cout);
  return {
    conv: { op: 'conv', name, inChannels: cin, outChannels: cout, kernel: kh, pads, weight: hwioToOihw(kernel.data, kh, kw, cin, cout), bias },
    act: activationOp(c.activation, name),
  };
}

/** Folds inference batch norm into the conv before it. */
function foldBatchNorm(conv: Extract<NetworkOp, { op: 'conv' }>, layer: tf.layers.Layer): Extract<NetworkOp, { op: 'conv' }> {
  const c = layer.getConfig() as Config;
  const name = layer.name;
  const axis = c.axis ?? -1;
  if (axis !== -1 && axis !== 3) throw new GraphExportError(`${name}: batch norm over axis ${String(axis)}`);
  const eps = typeof c.epsilon === 'number' ? c.epsilon : 1e-3;
  const w = weightsOf(layer);
  const n = conv.outChannels;
  const ones = new Float32Array(n).fill(1);
  const gamma = c.scale === false ? ones : need(w, 'gamma', name).data;
  const beta = c.center === false ? new Float32Array(n) : need(w, 'beta', name).data;
  const mean = need(w, 'moving_mean', name).data;
  const variance = need(w, 'moving_variance', name).data;
  if (mean.length !== n) throw new GraphExportError(`${name}: ${mean.length} channels after a conv of ${n}`);
  const per = conv.inChannels * conv.kernel * conv.kernel;
  const weight = new Float32Array(conv.weight.length);
  const bias = new Float32Array(n);
  for (let o = 0; o < n; o++) {
    const s = gamma[o]! / Math.sqrt(variance[o]! + eps);
    for (let k = 0; k < per; k++) weight[o * per + k] = conv.weight[o * per + k]! * s;
    bias[o] = (conv.bias[o]! - mean[o]!) * s + beta[o]!;
  }
  return { ...conv, weight, bias };
}

/** The inference chain of a ChestXRayNet-like sequential model. */
export function networkGraphOf(model: tf.LayersModel): NetworkGraph {
  const inShape = model.inputs[0]?.shape;
  if (model.inputs.length !== 1 || model.outputs.length !== 1 || !inShape || inShape.length !== 4) {
    throw new GraphExportError(`expected one [batch, s, s, 1] input and one output (got ${JSON.stringify(inShape)})`);
  }
  const [, h, w, ch] = inShape;
  if (typeof h !== 'number' || h !== w || ch !== 1) throw new GraphExportError(`input shape ${JSON.stringify(inShape)} is not [batch, s, s, 1]`);
  const ops: NetworkOp[] = [];
  let channels = 1;
  let side = h;
  let units: number | null = null;
  /** The conv whose activation waits for a batch norm (linear conv, then bn, then relu). */
  let pendingConv = -1;
  let previous: tf.layers.Layer | undefined;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const inbound = layer.inboundNodes[0]?.inboundLayers ?? [];
    if (cls !== 'InputLayer' && (inbound.length !== 1 || inbound[0] !== previous)) {
      throw new GraphExportError(`${layer.name}: the model is not a simple chain`);
    }
    previous = layer;
    const c = layer.getConfig() as Config;
    switch (cls) {
      case 'InputLayer':
        break;
      case 'Conv2D': {
        if (units !== null) throw new GraphExportError(`${layer.name}: conv after the dense head`);
        const { conv, act } = convOp(layer, channels);
        ops.push(conv);
        pendingConv = act ? -1 : ops.length - 1;
        if (act) ops.push(act);
        channels = conv.outChannels;
        break;
      }
      case 'BatchNormalization': {
        if (pendingConv !== ops.length - 1 || ops[pendingConv]?.op !== 'conv') {
          throw new GraphExportError(`${layer.name}: batch norm is exported only right after a linear conv`);
        }
        ops[pendingConv] = foldBatchNorm(ops[pendingConv] as Extract<NetworkOp, { op: 'conv' }>, layer);
        pendingConv = -1;
        break;
      }
      case 'Activation': {
        pendingConv = -1;
        const act = activationOp(c.activation, layer.name);
        if (act) ops.push(act);
        break;
      }
      case 'MaxPooling2D': {
        pendingConv = -1;
        const [ph, pw] = pair(c.poolSize);
        const [sh, sw] = pair(c.strides ?? c.poolSize);
        if (ph !== pw || sh !== sw) throw new GraphExportError(`${layer.name}: non-square pooling`);
        if (c.padding !== undefined && c.padding !== 'valid' && (ph !== sh || side % sh !== 0)) {
          throw new GraphExportError(`${layer.name}: padding ${String(c.padding)} on a side of ${side}`);
        }
        ops.push({ op: 'maxpool', size: ph, stride: sh });
        side = Math.floor((side - ph) / sh) + 1;
        break;
      }
      case 'GlobalAveragePooling2D':
        pendingConv = -1;
        ops.push({ op: 'gap' });
        units = channels;
        break;
      case 'Dense': {
        pendingConv = -1;
        if (units === null) throw new GraphExportError(`${layer.name}: dense before the global pool`);
        const wts = weightsOf(layer);
        const kernel = need(wts, 'kernel', layer.name);
        const [kin, out] = kernel.shape as [number, number];
        if (kin !== units) throw new GraphExportError(`${layer.name}: kernel expects ${kin} inputs, the graph has ${units}`);
        ops.push({ op: 'dense', name: layer.name, inUnits: kin, outUnits: out, weight: kernel.data, bias: wts.get('bias')?.data ?? new Float32Array(out) });
        const act = activationOp(c.activation, layer.name);
        if (act) ops.push(act);
        units = out;
        break;
      }
      case 'Dropout':
        // identity at inference
        break;
      default:
        throw new GraphExportError(`${layer.name}: layer ${cls} has no export`);
    }
  }
  if (units === null) throw new GraphExportError('the model has no dense head');
  return { inputSize: h, ops, outputUnits: units };
}

/**
 * Grey test images (count * size * size bytes) for checking an export against TensorFlow.js:
 * uniform noise, noise framed by a flat black border (ties in every max pool over the border,
 * zero-padding next to zeros), a black image with one bright square, and an all-black image (the
 * standardisation's std floor). Deterministic for a seed.
 */
export function exportCheckImages(size: number, count: number, seed: number): Uint8Array {
  const rand = createRng(seed);
  const n = size * size;
  const out = new Uint8Array(count * n);
  for (let k = 0; k < count; k++) {
    const img = out.subarray(k * n, (k + 1) * n);
    const kind = k % 4;
    const border = Math.max(1, Math.floor(size / 8));
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const inFrame = y >= border && y < size - border && x >= border && x < size - border;
        let v: number;
        if (kind === 0) v = Math.floor(rand() * 256);
        else if (kind === 1) v = inFrame ? Math.floor(rand() * 256) : 0;
        else if (kind === 2) v = Math.abs(y - size / 2) < size / 6 && Math.abs(x - size / 3) < size / 6 ? 230 : 0;
        else v = 0;
        img[y * size + x] = v;
      }
    }
  }
  return out;
}
