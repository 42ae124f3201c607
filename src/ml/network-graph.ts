/**
 * Free of TensorFlow.js (like architecture.ts): src/onnx imports these types and nothing else of ml.
 *
 * A trained ChestXRayNet as a plain chain of inference ops with their weights, in the layout ONNX
 * uses (NCHW activations, OIHW conv kernels): what src/ml/onnx-graph.ts reads out of a TensorFlow.js
 * model and src/onnx/writer.ts serialises, so neither needs the other's library. Batch norm is
 * already folded into the conv before it and dropout is gone: this is the network at inference.
 */

export type NetworkOp =
  | {
      readonly op: 'conv';
      readonly name: string;
      readonly inChannels: number;
      readonly outChannels: number;
      readonly kernel: number;
      /** ONNX order: [top, left, bottom, right] (TF 'same' puts an odd extra row/column at the bottom/right). */
      readonly pads: readonly [number, number, number, number];
      /** [outChannels, inChannels, kernel, kernel], row-major. */
      readonly weight: Float32Array;
      readonly bias: Float32Array;
    }
  | { readonly op: 'relu' }
  | { readonly op: 'sigmoid' }
  | { readonly op: 'maxpool'; readonly size: number; readonly stride: number }
  /** Global average pool over H and W, then flattened to [batch, channels]. */
  | { readonly op: 'gap' }
  | {
      readonly op: 'dense';
      readonly name: string;
      readonly inUnits: number;
      readonly outUnits: number;
      /** [inUnits, outUnits], row-major (y = x W + b). */
      readonly weight: Float32Array;
      readonly bias: Float32Array;
    };

export interface NetworkGraph {
  /** Side of the square grey input: the input is [batch, 1, inputSize, inputSize], standardised per image. */
  readonly inputSize: number;
  readonly ops: readonly NetworkOp[];
  /** Units of the last op: the output is [batch, outputUnits] (1: the positive-class probability). */
  readonly outputUnits: number;
}
