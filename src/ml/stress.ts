import * as tf from '@tensorflow/tfjs';
import { adjustIntensity, warpImages } from './augment.ts';
import { chunk, nextTurn, prefetchBatches, throwIfAborted } from './batches.ts';
import { aucWithInterval, type AucEstimate } from './metrics.ts';
import { standardizeImages } from './standardize.ts';
import type { ImageSource } from './types.ts';

/**
 * Stress tests for a recipe: the held-out images perturbed the way another hospital's images
 * differ (exposure, contrast, gamma, blur, noise, framing, resolution, JPEG quality), and the ROC
 * AUC on each. For the experiment table, not for serving.
 */

export interface Perturbation {
  readonly name: string;
  /** [n, size, size, 1] in pixel units (0..255) -> the same shape and units. `batch` seeds any randomness. */
  readonly apply?: (x: tf.Tensor4D, batch: number) => tf.Tensor4D;
  /**
   * Alternatively on the uint8 pixels (count * size * size bytes), for what needs an encoder the
   * pure ML code does not have (e.g. JPEG round trips); the caller supplies it.
   */
  readonly applyPixels?: (pixels: Uint8Array, count: number, size: number) => Promise<Uint8Array>;
}

const same = <T>(n: number, v: T): T[] => Array.from({ length: n }, () => v);

function intensity(name: string, gamma: number, contrast: number, brightness: number): Perturbation {
  return { name, apply: (x) => adjustIntensity(x, same(x.shape[0], { gamma, contrast, brightness })) };
}

/** Gaussian blur with standard deviation `sigma` pixels (kernel radius 3 sigma), edges replicated. */
function blur(sigma: number): Perturbation {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const w = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = w.reduce((a, b) => a + b, 0);
  const k = w.map((v) => v / sum);
  return {
    name: `blur sigma ${sigma}`,
    apply: (x) =>
      tf.tidy(() => {
        const padded = tf.mirrorPad(x, [[0, 0], [r, r], [r, r], [0, 0]], 'symmetric');
        const rows = tf.conv2d(padded, tf.tensor4d(k, [1, 2 * r + 1, 1, 1]), 1, 'valid');
        return tf.conv2d(rows, tf.tensor4d(k, [2 * r + 1, 1, 1, 1]), 1, 'valid');
      }),
  };
}

/** Additive Gaussian noise (standard deviation in grey levels), seeded per batch. */
function noise(std: number, seed: number): Perturbation {
  return {
    name: `noise std ${std}`,
    apply: (x, batch) => tf.tidy(() => tf.clipByValue(tf.add(x, tf.randomNormal(x.shape, 0, std, 'float32', seed + batch)), 0, 255) as tf.Tensor4D),
  };
}

/** scale > 1 zooms in (a tighter crop), < 1 zooms out (edges replicated). */
function zoom(scale: number): Perturbation {
  return {
    name: scale > 1 ? `crop ${Math.round(100 / scale)}%` : `zoom out ${Math.round(scale * 100)}%`,
    apply: (x) => warpImages(x, same(x.shape[0], { angle: 0, scale, shiftX: 0, shiftY: 0, flip: false })),
  };
}

/** Down to `factor` of the side and back up (bilinear): a lower-resolution acquisition. */
function resolution(factor: number): Perturbation {
  return {
    name: `resolution x${factor}`,
    apply: (x) =>
      tf.tidy(() => {
        const s = x.shape[1];
        const small = Math.max(8, Math.round(s * factor));
        return tf.image.resizeBilinear(tf.image.resizeBilinear(x, [small, small], true), [s, s], true);
      }),
  };
}

/** The default set (deterministic: noise is seeded). JPEG needs an encoder: pass it as an extra perturbation. */
export function standardPerturbations(seed = 1): Perturbation[] {
  return [
    intensity('brighter +0.15', 1, 1, 0.15),
    intensity('darker -0.15', 1, 1, -0.15),
    intensity('contrast x0.7', 1, 0.7, 0),
    intensity('contrast x1.3', 1, 1.3, 0),
    intensity('gamma 0.7', 0.7, 1, 0),
    intensity('gamma 1.5', 1.5, 1, 0),
    blur(1.5),
    noise(8, seed),
    zoom(1.15),
    zoom(0.87),
    resolution(0.5),
  ];
}

export interface StressResult {
  readonly name: string;
  readonly auc: AucEstimate;
  /** auc - the unperturbed AUC. */
  readonly delta: number;
}

export interface StressReport {
  readonly count: number;
  readonly clean: AucEstimate;
  readonly perturbed: readonly StressResult[];
  /** Mean AUC over the perturbations: the table's "stress-test AUC". */
  readonly meanAuc: number;
  readonly worst: StressResult | undefined;
}

async function scores(
  model: tf.LayersModel,
  source: ImageSource,
  batches: readonly (readonly number[])[],
  p: Perturbation | undefined,
  signal: AbortSignal | undefined,
): Promise<Float32Array> {
  const out = new Float32Array(batches.reduce((n, b) => n + b.length, 0));
  const reader = prefetchBatches(source, batches);
  const size = source.size;
  let offset = 0;
  for (let b = 0; b < batches.length; b++) {
    throwIfAborted(signal);
    const k = batches[b]!.length;
    let pixels = await reader.next();
    if (p?.applyPixels) pixels = await p.applyPixels(pixels, k, size);
    const probs = tf.tidy(() => {
      // [k, size, size, 1] 0..255 -> perturbed -> standardised -> [k, 1]
      const x = tf.tensor4d(new Float32Array(pixels.subarray(0, k * size * size)), [k, size, size, 1]);
      const y = p?.apply ? p.apply(x, b) : x;
      return model.predict(standardizeImages(y)) as tf.Tensor;
    });
    out.set(await probs.data(), offset);
    probs.dispose();
    offset += k;
    await nextTurn();
  }
  return out;
}

/** ROC AUC (with DeLong interval) of `model` on `indices` of `source`, clean and under each perturbation. */
export async function stressTest(
  model: tf.LayersModel,
  source: ImageSource,
  indices: readonly number[],
  opts: { readonly batchSize?: number; readonly perturbations?: readonly Perturbation[]; readonly signal?: AbortSignal } = {},
): Promise<StressReport> {
  const batches = chunk(indices, opts.batchSize ?? 32);
  const labels = Uint8Array.from(indices, (i) => source.labels[i]!);
  const clean = aucWithInterval(await scores(model, source, batches, undefined, opts.signal), labels);
  const perturbed: StressResult[] = [];
  for (const p of opts.perturbations ?? standardPerturbations()) {
    const auc = aucWithInterval(await scores(model, source, batches, p, opts.signal), labels);
    perturbed.push({ name: p.name, auc, delta: auc.value - clean.value });
  }
  const meanAuc = perturbed.length ? perturbed.reduce((s, r) => s + r.auc.value, 0) / perturbed.length : clean.value;
  const worst = perturbed.reduce<StressResult | undefined>((w, r) => (w === undefined || r.auc.value < w.auc.value ? r : w), undefined);
  return { count: indices.length, clean, perturbed, meanAuc, worst };
}
