import type * as Ort from 'onnxruntime-node';
import { ONNX_INPUT, ONNX_OUTPUT, probeModel } from './writer.ts';

/**
 * ONNX Runtime (onnxruntime-node, its bundled CPU library) behind a small interface: load it once,
 * prove it works on a one-op model, and make sessions for model.onnx files (input `xray`
 * [batch, 1, size, size] float32, output `probability` [batch, 1]). Sessions use the CPU execution
 * provider with every graph optimisation, sequential execution and `threads` intra-op threads
 * (batches under MULTI_THREAD_MIN_BATCH images on one).
 */

export class OnnxRuntimeUnavailableError extends Error {
  override readonly name = 'OnnxRuntimeUnavailableError';
}

export interface OnnxSession {
  /** x: count * size * size standardised floats ([count, 1, size, size]); one probability per image. */
  run(x: Float32Array, count: number, size: number): Promise<Float32Array>;
  /** Idempotent. */
  release(): Promise<void>;
}

export interface OnnxRuntime {
  /** e.g. 'onnxruntime-node 1.30.0 (CPU, 2 intra-op threads)'. */
  readonly description: string;
  readonly version: string;
  readonly threads: number;
  createSession(model: Uint8Array): Promise<OnnxSession>;
}

export interface OnnxRuntimeOptions {
  /** Intra-op threads of every session. */
  readonly threads: number;
  /** How the onnxruntime-node module is imported (default: the installed package). */
  readonly importModule?: () => Promise<unknown>;
}

const firstLine = (err: unknown): string => {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0] ?? msg;
};

function moduleOf(imported: unknown): typeof Ort {
  const m = imported as Partial<typeof Ort> & { default?: Partial<typeof Ort> };
  const ort = m.InferenceSession ? m : m.default;
  if (!ort?.InferenceSession || !ort.Tensor) throw new Error('the module has no InferenceSession');
  return ort as typeof Ort;
}

/**
 * Batches smaller than this run on one intra-op thread even when the runtime has more. In the API
 * the other core is decoding the next uploads: a second onnxruntime thread there has to wait for
 * a core, and the run waits for it. Measured with `npm run bench:predict` (2000x2000 JPEGs, mean
 * batch 1.7, 2 cores, 2026-12-03): 2 threads for every batch 80-86 / 82-90 req/s at 8 / 32
 * connections and 22-24 CPU ms per request; 1 thread for every batch 87-88 / 90 req/s, 21-22 ms;
 * this rule 91-99 / 91-99 req/s, 19-21 ms. The model alone, idle (bench-runtimes.ts): 1 and 2
 * threads give the same images/s at batch 1 (~660-700); from batch 2 up 2 threads give 1.4-2x,
 * ~900 against ~490 at batch 16, which large batches (small uploads, many clients) keep.
 */
export const MULTI_THREAD_MIN_BATCH = 4;

/** The intra-op threads a batch of `count` images runs on, for a runtime of `threads`. */
export function intraOpThreadsFor(count: number, threads: number): number {
  return count < MULTI_THREAD_MIN_BATCH ? 1 : threads;
}

/**
 * Imports onnxruntime-node and runs a one-op model on it. Throws OnnxRuntimeUnavailableError,
 * with the reason, when the package or its native library is missing or broken.
 */
export async function loadOnnxRuntime(opts: OnnxRuntimeOptions): Promise<OnnxRuntime> {
  const { threads } = opts;
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be an integer >= 1 (got ${threads})`);
  let ort: typeof Ort;
  try {
    ort = moduleOf(await (opts.importModule ?? (() => import('onnxruntime-node')))());
  } catch (err) {
    throw new OnnxRuntimeUnavailableError(`onnxruntime-node did not load: ${firstLine(err)}`, { cause: err });
  }
  const version = ort.env?.versions?.node ?? ort.env?.versions?.common ?? 'unknown';
  const sessionOptions: Ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
    // The intra-op threads sleep when a run ends instead of spinning for the next one: in the API the
    // cores are shared with the image decodes. Measured (2 cores, batch 2, 10 ms between runs):
    // 19-20 CPU ms per run spinning, 8-9 ms not, for 4.5 -> 5-6.7 ms of wall time per run.
    extra: { session: { 'intra_op.allow_spinning': '0' } },
  };

  async function createSession(model: Uint8Array): Promise<OnnxSession> {
    const session = await ort.InferenceSession.create(model, sessionOptions);
    if (!session.inputNames.includes(ONNX_INPUT) || !session.outputNames.includes(ONNX_OUTPUT)) {
      await session.release();
      throw new Error(`the model's inputs/outputs are ${session.inputNames.join(',')} -> ${session.outputNames.join(',')}, not ${ONNX_INPUT} -> ${ONNX_OUTPUT}`);
    }
    // Small batches run on a one-thread session of the same model (intraOpThreadsFor).
    let single: Ort.InferenceSession | undefined;
    if (threads > 1) {
      try {
        single = await ort.InferenceSession.create(model, { ...sessionOptions, intraOpNumThreads: 1 });
      } catch (err) {
        await session.release();
        throw err;
      }
    }
    let released = false;
    return {
      async run(x, count, size) {
        if (released) throw new Error('the ONNX session was released');
        if (x.length !== count * size * size) throw new RangeError(`expected ${count * size * size} floats, got ${x.length}`);
        const input = new ort.Tensor('float32', x, [count, 1, size, size]);
        const runner = single && intraOpThreadsFor(count, threads) === 1 ? single : session;
        const out = await runner.run({ [ONNX_INPUT]: input });
        const probs = out[ONNX_OUTPUT];
        if (!probs || probs.type !== 'float32' || probs.size !== count) {
          throw new Error(`the ONNX session returned ${probs?.size ?? 'no'} ${probs?.type ?? ''} values for ${count} images`);
        }
        return Float32Array.from(probs.data as Float32Array);
      },
      async release() {
        if (released) return;
        released = true;
        await Promise.all([session.release(), single?.release()]);
      },
    };
  }

  // A session on a one-op model proves the native library loads and runs, not only that the package imports.
  try {
    const probe = await ort.InferenceSession.create(probeModel(), { ...sessionOptions, intraOpNumThreads: 1 });
    try {
      const out = await probe.run({ x: new ort.Tensor('float32', Float32Array.from([-1, 0.5, -2, 3]), [1, 4]) });
      const y = Array.from((out.y?.data ?? []) as Float32Array);
      if (y.join(',') !== '0,0.5,0,3') throw new Error(`the probe model answered [${y.join(', ')}]`);
    } finally {
      await probe.release();
    }
  } catch (err) {
    throw new OnnxRuntimeUnavailableError(`onnxruntime-node ${version} loaded but cannot run a model: ${firstLine(err)}`, { cause: err });
  }
  return {
    description: `onnxruntime-node ${version} (CPU, ${threads} intra-op thread${threads === 1 ? '' : `s; batches under ${MULTI_THREAD_MIN_BATCH} on 1`})`,
    version,
    threads,
    createSession,
  };
}

export type PredictRuntimeChoice = 'auto' | 'onnxruntime' | 'tfjs';

/** Which runtime serves predictions in this process (Grad-CAM is always TensorFlow.js). */
export interface PredictRuntime {
  readonly name: 'onnxruntime' | 'tfjs';
  readonly requested: PredictRuntimeChoice;
  readonly description: string;
  /** Set when onnxruntime was wanted (auto) but did not load. */
  readonly fallbackReason?: string;
  /** Present when name is 'onnxruntime'. */
  readonly onnx?: OnnxRuntime;
}

/**
 * PREDICT_RUNTIME: 'tfjs' never loads onnxruntime; 'onnxruntime' requires it (throws
 * OnnxRuntimeUnavailableError: a start-up error); 'auto' uses it when it loads and otherwise
 * returns tfjs with the reason (the caller must say so loudly).
 */
export async function choosePredictRuntime(choice: PredictRuntimeChoice, opts: OnnxRuntimeOptions): Promise<PredictRuntime> {
  if (choice === 'tfjs') return { name: 'tfjs', requested: choice, description: 'TensorFlow.js (PREDICT_RUNTIME=tfjs)' };
  try {
    const onnx = await loadOnnxRuntime(opts);
    return { name: 'onnxruntime', requested: choice, description: onnx.description, onnx };
  } catch (err) {
    if (choice === 'onnxruntime' || !(err instanceof OnnxRuntimeUnavailableError)) throw err;
    return { name: 'tfjs', requested: choice, description: 'TensorFlow.js (onnxruntime unavailable)', fallbackReason: err.message };
  }
}

const shared = new Map<number, Promise<OnnxRuntime>>();

/** One loaded runtime per thread count per process (a failed load is tried again next time). */
export function sharedOnnxRuntime(threads: number): Promise<OnnxRuntime> {
  let p = shared.get(threads);
  if (!p) {
    p = loadOnnxRuntime({ threads });
    shared.set(threads, p);
    p.catch(() => shared.delete(threads));
  }
  return p;
}
