import onnxProto from 'onnx-proto';
import type { NetworkGraph, NetworkOp } from '../ml/network-graph.ts';

/**
 * Serialises a NetworkGraph (src/ml/network-graph.ts) as an ONNX model (protobuf, through the
 * generated onnx-proto classes): opset 13, IR version 8, float32 weights as raw little-endian
 * initializers. Ops used: Conv, Relu, MaxPool, GlobalAveragePool, Flatten, Gemm, Sigmoid.
 *
 * Input `xray`: float32 [batch, 1, size, size], each image standardised as the service does
 * (src/ml/standardize.ts: (x - mean) / max(std, 1/sqrt(size*size)) over the image's 0..255 grey
 * pixels). With one channel this is byte for byte the NHWC tensor TensorFlow.js takes, so no
 * Transpose is needed on either side. Output `probability`: float32 [batch, 1].
 */

const { onnx } = onnxProto;

export const ONNX_OPSET = 13;
export const ONNX_IR_VERSION = 8;
export const ONNX_INPUT = 'xray';
export const ONNX_OUTPUT = 'probability';

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT = onnx.AttributeProto.AttributeType.INT;
const INTS = onnx.AttributeProto.AttributeType.INTS;

function rawLittleEndian(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}

const ints = (name: string, values: readonly number[]) => ({ name, type: INTS, ints: [...values] });
const int = (name: string, value: number) => ({ name, type: INT, i: value });

function tensorValue(name: string, dims: readonly (number | string)[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export interface OnnxModelInfo {
  readonly producerVersion?: string;
  readonly docString?: string;
  /** Stored as the model's metadata_props (e.g. class names, the threshold, preprocessing). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** The ONNX bytes of a network graph. */
export function encodeNetworkGraph(graph: NetworkGraph, info: OnnxModelInfo = {}): Uint8Array {
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const initializer: onnxProto.onnx.ITensorProto[] = [];
  let current = ONNX_INPUT;
  const lastIndex = graph.ops.length - 1;
  const next = (i: number, what: string) => (i === lastIndex ? ONNX_OUTPUT : `t${i}_${what}`);
  const weight = (name: string, dims: number[], values: Float32Array) => {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (values.length !== expected) throw new RangeError(`${name}: ${values.length} values for dims ${dims.join('x')}`);
    initializer.push({ name, dims, dataType: FLOAT, rawData: rawLittleEndian(values) });
    return name;
  };
  graph.ops.forEach((op: NetworkOp, i) => {
    switch (op.op) {
      case 'conv': {
        const out = next(i, op.name);
        const w = weight(`${op.name}.weight`, [op.outChannels, op.inChannels, op.kernel, op.kernel], op.weight);
        const b = weight(`${op.name}.bias`, [op.outChannels], op.bias);
        nodes.push({
          name: op.name,
          opType: 'Conv',
          input: [current, w, b],
          output: [out],
          attribute: [
            ints('kernel_shape', [op.kernel, op.kernel]),
            ints('strides', [1, 1]),
            ints('dilations', [1, 1]),
            ints('pads', op.pads),
            int('group', 1),
          ],
        });
        current = out;
        break;
      }
      case 'relu':
      case 'sigmoid': {
        const out = next(i, op.op);
        nodes.push({ name: `${op.op}_${i}`, opType: op.op === 'relu' ? 'Relu' : 'Sigmoid', input: [current], output: [out] });
        current = out;
        break;
      }
      case 'maxpool': {
        const out = next(i, 'pool');
        nodes.push({
          name: `pool_${i}`,
          opType: 'MaxPool',
          input: [current],
          output: [out],
          attribute: [ints('kernel_shape', [op.size, op.size]), ints('strides', [op.stride, op.stride]), ints('pads', [0, 0, 0, 0])],
        });
        current = out;
        break;
      }
      case 'gap': {
        const pooled = `t${i}_gap`;
        const out = next(i, 'flat');
        nodes.push({ name: `gap_${i}`, opType: 'GlobalAveragePool', input: [current], output: [pooled] });
        nodes.push({ name: `flatten_${i}`, opType: 'Flatten', input: [pooled], output: [out], attribute: [int('axis', 1)] });
        current = out;
        break;
      }
      case 'dense': {
        const out = next(i, op.name);
        const w = weight(`${op.name}.weight`, [op.inUnits, op.outUnits], op.weight);
        const b = weight(`${op.name}.bias`, [op.outUnits], op.bias);
        nodes.push({ name: op.name, opType: 'Gemm', input: [current, w, b], output: [out], attribute: [int('transA', 0), int('transB', 0)] });
        current = out;
        break;
      }
    }
  });
  if (current !== ONNX_OUTPUT) throw new RangeError('the graph has no ops');
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'chestxray-service',
    producerVersion: info.producerVersion ?? '',
    docString: info.docString ?? '',
    metadataProps: Object.entries(info.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: 'ChestXRayNet',
      node: nodes,
      initializer,
      input: [tensorValue(ONNX_INPUT, ['batch', 1, graph.inputSize, graph.inputSize])],
      output: [tensorValue(ONNX_OUTPUT, ['batch', graph.outputUnits])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The op types of an ONNX model's graph, in order (for checks and tests). */
export function onnxOpTypes(bytes: Uint8Array): string[] {
  const model = onnx.ModelProto.decode(bytes);
  return (model.graph?.node ?? []).map((n) => n.opType ?? '');
}

/** A one-op model (Relu on [batch, 4]) that proves a runtime can create and run a session. */
export function probeModel(): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'chestxray-service',
    graph: {
      name: 'probe',
      node: [{ name: 'relu', opType: 'Relu', input: ['x'], output: ['y'] }],
      input: [tensorValue('x', ['batch', 4])],
      output: [tensorValue('y', ['batch', 4])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
