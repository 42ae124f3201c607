import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { registerTensorflowTrainingGradients } from './tensorflow-gradients.ts';
import { registerWasmTrainingGradients } from './wasm-gradients.ts';

export type EngineName = 'tensorflow' | 'wasm';

export interface EngineInfo {
  readonly name: EngineName;
  readonly tfjsVersion: string;
  /** Human-readable line for logs and /health/ready. */
  readonly description: string;
  /** Why the preferred engine was not used, when it was not. */
  readonly fallbackReason?: string;
}

export class EngineUnavailableError extends Error {
  override readonly name = 'EngineUnavailableError';
}

const require = createRequire(import.meta.url);
let initialised: Promise<EngineInfo> | undefined;

function requestedEngine(value = process.env.ENGINE): EngineName | 'auto' {
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if (value === 'tensorflow' || value === 'wasm') return value;
  throw new EngineUnavailableError(`ENGINE must be one of auto, tensorflow, wasm (got "${value}")`);
}

/**
 * libtensorflow turns oneDNN on by itself only on CPUs with AVX512_VNNI, AVX512_BF16 or AMX; on
 * AVX2-only CPUs convolutions otherwise run on the slow Eigen path (measured on an AVX2 machine:
 * conv ops per training step 327 -> 84 ms with oneDNN). TensorFlow reads the variable when it loads,
 * so this runs before tfjs-node is required; an explicit value (e.g. TF_ENABLE_ONEDNN_OPTS=0 to
 * rule oneDNN's round-off out) is kept.
 */
export function enableOneDnn(env: NodeJS.ProcessEnv = process.env): void {
  if (env.TF_ENABLE_ONEDNN_OPTS === undefined || env.TF_ENABLE_ONEDNN_OPTS === '') env.TF_ENABLE_ONEDNN_OPTS = '1';
}

/** The only place the process loads tfjs-node (the API, worker, CLI and benches all come here). */
function loadTfjsNode(): { ok: true } | { ok: false; reason: string } {
  try {
    process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
    enableOneDnn();
    require('@tensorflow/tfjs-node');
    return { ok: true };
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err);
    return { ok: false, reason: `@tensorflow/tfjs-node did not load: ${reason}` };
  }
}

async function useWasm(): Promise<void> {
  await import('@tensorflow/tfjs-backend-wasm');
  registerWasmTrainingGradients();
  if (!(await tf.setBackend('wasm'))) throw new EngineUnavailableError('the wasm backend failed to initialise');
}

async function init(preference: EngineName | 'auto'): Promise<EngineInfo> {
  let fallbackReason: string | undefined;
  if (preference !== 'wasm') {
    const loaded = loadTfjsNode();
    if (loaded.ok && (await tf.setBackend('tensorflow'))) {
      await tf.ready();
      registerTensorflowTrainingGradients();
      return {
        name: 'tensorflow',
        tfjsVersion: tf.version.tfjs,
        description: `tfjs-node ${tf.version.tfjs} on libtensorflow (native)`,
      };
    }
    fallbackReason = loaded.ok ? 'the tensorflow backend failed to initialise' : loaded.reason;
    if (preference === 'tensorflow') {
      throw new EngineUnavailableError(`ENGINE=tensorflow was requested but ${fallbackReason}; run npm run install-engine`);
    }
  }
  await useWasm();
  await tf.ready();
  return {
    name: 'wasm',
    tfjsVersion: tf.version.tfjs,
    description: `tfjs ${tf.version.tfjs} wasm backend (portable fallback, ~3x slower training than tfjs-node)`,
    ...(fallbackReason ? { fallbackReason } : {}),
  };
}

/**
 * Chooses and initialises the TensorFlow.js backend once per process: tfjs-node when it loads,
 * else wasm with the training gradients it lacks. ENGINE=tensorflow|wasm forces one. The pure-JS
 * cpu backend is never chosen.
 */
export function initEngine(preference: EngineName | 'auto' = requestedEngine()): Promise<EngineInfo> {
  initialised ??= init(preference);
  return initialised;
}

/** Throws unless an engine fit for training is active (guards against silent cpu fallback). */
export function assertTrainingEngine(): void {
  const backend = tf.getBackend();
  if (backend !== 'tensorflow' && backend !== 'wasm') {
    throw new EngineUnavailableError(`refusing to train on the "${backend}" backend; call initEngine() first`);
  }
}

/** The backend TensorFlow.js runs on now ('tensorflow', 'wasm'). */
export function activeBackend(): string {
  return tf.getBackend();
}

/** Node's and TensorFlow.js's package versions, for a model version's metadata. */
export function libraryVersions(): Record<string, string> {
  const versions: Record<string, string> = { node: process.version };
  for (const [k, v] of Object.entries(tf.version)) if (typeof v === 'string') versions[k] = v;
  return versions;
}

/** TensorFlow.js tensors alive in this process (a leak shows as growth). */
export function tensorCount(): number {
  return tf.memory().numTensors;
}
