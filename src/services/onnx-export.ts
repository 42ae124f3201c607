import { exportCheckImages, networkGraphOf } from '../ml/onnx-graph.ts';
import { predictStandardized, standardizedBatch } from '../ml/predict.ts';
import type { NetworkGraph } from '../ml/network-graph.ts';
import { sharedOnnxRuntime, type OnnxRuntime } from '../onnx/runtime.ts';
import { encodeNetworkGraph, ONNX_INPUT, ONNX_OPSET, ONNX_OUTPUT } from '../onnx/writer.ts';
import { ONNX_FILE } from '../storage/model-files.ts';

/**
 * model.onnx for a version being published: the trained TensorFlow.js model read out as an
 * inference graph (src/ml/onnx-graph.ts), serialised (src/onnx/writer.ts), and checked on
 * onnxruntime against TensorFlow.js on the same standardised inputs (random noise, noise in a flat
 * black frame, a black image with one bright square, an all-black image) before it is kept.
 *
 * Decision (issue 10): a failed export or check never fails the training job. The version is
 * published without model.onnx; metadata.onnx says why (and the largest difference seen); the
 * job's outcome carries a warning and the trainer logs it. The version then serves on
 * TensorFlow.js, which is what was checked against, so nothing wrong is ever served; and a
 * training run of many minutes is not thrown away for an optional artifact. Tests hold the
 * exporter to the tolerance, so a mismatch here is a bug to report, not a state to live with.
 */

/** Largest |onnxruntime - TensorFlow.js| allowed on a probability. */
export const ONNX_TOLERANCE = 1e-5;
const CHECK_IMAGES = 8;
const CHECK_SEED = 20_251_110;

/** What metadata.onnx records. */
export interface OnnxExportReport {
  /** 'model.onnx' when the file is kept; null when the version has none. */
  readonly file: string | null;
  readonly opset: number;
  readonly input: { readonly name: string; readonly shape: readonly (number | string)[]; readonly layout: string };
  readonly output: { readonly name: string; readonly shape: readonly (number | string)[] };
  readonly check: {
    readonly images: number;
    readonly tolerance: number;
    /** null when the check could not run. */
    readonly maxAbsDiff: number | null;
    readonly runtime: string | null;
  };
  readonly bytes?: number;
  /** Why there is no model.onnx. */
  readonly reason?: string;
}

export interface OnnxExport {
  /** The bytes to store, only when the check passed. */
  readonly bytes?: Uint8Array;
  readonly report: OnnxExportReport;
}

export interface OnnxExportOptions {
  /** The runtime the check runs on (default: onnxruntime-node, one thread, loaded once per process). */
  readonly runtime?: () => Promise<OnnxRuntime>;
  /** Stored in model.onnx's metadata_props (class names, threshold, preprocessing). */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly producerVersion?: string;
  /** Changes the graph before it is written (tests: prove a wrong export is refused). */
  readonly alterGraph?: (graph: NetworkGraph) => NetworkGraph;
}

type TfModel = Parameters<typeof networkGraphOf>[0];

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

export async function exportCheckedOnnx(model: TfModel, inputSize: number, opts: OnnxExportOptions = {}): Promise<OnnxExport> {
  const base = {
    opset: ONNX_OPSET,
    input: { name: ONNX_INPUT, shape: ['batch', 1, inputSize, inputSize], layout: 'NCHW, grey, standardised per image' },
    output: { name: ONNX_OUTPUT, shape: ['batch', 1] },
  };
  const absent = (reason: string, maxAbsDiff: number | null, runtime: string | null): OnnxExport => ({
    report: { file: null, ...base, check: { images: CHECK_IMAGES, tolerance: ONNX_TOLERANCE, maxAbsDiff, runtime }, reason },
  });
  let bytes: Uint8Array;
  try {
    const graph = networkGraphOf(model);
    bytes = encodeNetworkGraph(opts.alterGraph ? opts.alterGraph(graph) : graph, {
      ...(opts.producerVersion !== undefined ? { producerVersion: opts.producerVersion } : {}),
      docString: `ChestXRayNet. Input ${ONNX_INPUT}: float32 [batch, 1, ${inputSize}, ${inputSize}], grey pixels 0..255 standardised per image, (x - mean) / max(std, 1/${inputSize}). Output ${ONNX_OUTPUT}: float32 [batch, 1], the positive-class probability. Research use only.`,
      ...(opts.metadata ? { metadata: opts.metadata } : {}),
    });
  } catch (err) {
    return absent(`export failed: ${message(err)}`, null, null);
  }
  let runtime: OnnxRuntime;
  try {
    runtime = await (opts.runtime ?? (() => sharedOnnxRuntime(1)))();
  } catch (err) {
    return absent(`not checked, so not kept: ${message(err)}`, null, null);
  }
  let maxAbsDiff = 0;
  try {
    const pixels = exportCheckImages(inputSize, CHECK_IMAGES, CHECK_SEED);
    const n = inputSize * inputSize;
    const images = Array.from({ length: CHECK_IMAGES }, (_, i) => pixels.subarray(i * n, (i + 1) * n));
    const x = standardizedBatch(images, inputSize);
    const want = predictStandardized(model, x, CHECK_IMAGES, inputSize);
    const session = await runtime.createSession(bytes);
    let got: Float32Array;
    try {
      got = await session.run(x, CHECK_IMAGES, inputSize);
    } finally {
      await session.release();
    }
    for (let i = 0; i < CHECK_IMAGES; i++) {
      const d = Math.abs(got[i]! - want[i]!);
      maxAbsDiff = Number.isNaN(d) ? Infinity : Math.max(maxAbsDiff, d);
    }
  } catch (err) {
    return absent(`the check on ${runtime.description} failed: ${message(err)}`, null, runtime.description);
  }
  if (!(maxAbsDiff <= ONNX_TOLERANCE)) {
    return absent(
      `onnxruntime and TensorFlow.js differ by up to ${maxAbsDiff.toExponential(2)} (> ${ONNX_TOLERANCE}) on the check images`,
      maxAbsDiff,
      runtime.description,
    );
  }
  return {
    bytes,
    report: {
      file: ONNX_FILE,
      ...base,
      check: { images: CHECK_IMAGES, tolerance: ONNX_TOLERANCE, maxAbsDiff, runtime: runtime.description },
      bytes: bytes.byteLength,
    },
  };
}
