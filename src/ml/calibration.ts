/**
 * Probability calibration fitted on validation scores: temperature scaling (p' = sigmoid(z / T))
 * or Platt scaling (p' = sigmoid(a z + b)), with z = logit(p) of the model's probability. Both are
 * monotonic, so ranking (AUC) is unchanged and a threshold on one scale maps to the same
 * decisions on the other (applyCalibration(threshold)). Fitted by Newton's method on the log-loss against Platt's smoothed targets
 * (y+ = (N+ + 1) / (N+ + 2), y- = 1 / (N- + 2)), which keeps the fit finite when validation is
 * perfectly separated.
 */

export type CalibrationMethod = 'temperature' | 'platt' | 'none';

/** What a model version stores and serving applies: p' = sigmoid(slope * logit(p) + intercept). */
export interface Calibration {
  readonly method: 'temperature' | 'platt';
  readonly slope: number;
  readonly intercept: number;
  /** 1 / slope for temperature scaling. */
  readonly temperature?: number;
}

const EPS = 1e-7;

export function logit(p: number): number {
  const c = p < EPS ? EPS : p > 1 - EPS ? 1 - EPS : p;
  return Math.log(c / (1 - c));
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/**
 * The serving path's one call: a model probability -> the calibrated probability. Compare it
 * with applyCalibration(version threshold) (operatingPoint.calibratedThreshold), or the raw
 * probability with the version's threshold: the decisions are the same. Without a calibration (versions trained before it, or method 'none')
 * the probability is returned as it is. A malformed calibration (non-finite numbers) also leaves
 * it unchanged.
 */
export function applyCalibration(prob: number, calibration: Calibration | null | undefined): number {
  if (!calibration || !Number.isFinite(calibration.slope) || !Number.isFinite(calibration.intercept)) return prob;
  return sigmoid(calibration.slope * logit(prob) + calibration.intercept);
}

/**
 * The calibration a version's metadata records (`metadata.calibration`), checked: null for
 * versions without one, with method 'none', or with anything malformed (then serving uses the
 * model's probability, as for versions trained before calibration existed).
 */
export function calibrationFromMetadata(metadata: unknown): Calibration | null {
  const c = (metadata as { calibration?: unknown } | null | undefined)?.calibration as Record<string, unknown> | undefined;
  if (!c || typeof c !== 'object') return null;
  const { method, slope, intercept } = c;
  if (method !== 'platt' && method !== 'temperature') return null;
  if (typeof slope !== 'number' || !Number.isFinite(slope) || slope <= 0) return null;
  if (typeof intercept !== 'number' || !Number.isFinite(intercept)) return null;
  return method === 'temperature' ? { method, slope, intercept, temperature: 1 / slope } : { method, slope, intercept };
}

/** applyCalibration over many probabilities (a new array). */
export function applyCalibrationAll(probs: ArrayLike<number>, calibration: Calibration | null | undefined): Float32Array {
  const out = new Float32Array(probs.length);
  for (let i = 0; i < probs.length; i++) out[i] = applyCalibration(probs[i]!, calibration);
  return out;
}

/** Mean log-loss of sigmoid(a z + b) against targets t (and its gradient and Hessian in a, b). */
function lossAt(z: Float64Array, t: Float64Array, a: number, b: number) {
  let loss = 0;
  let ga = 0;
  let gb = 0;
  let haa = 0;
  let hab = 0;
  let hbb = 0;
  for (let i = 0; i < z.length; i++) {
    const s = a * z[i]! + b;
    const p = sigmoid(s);
    // log(1 + e^s) - t s, stable
    loss += (s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s))) - t[i]! * s;
    const r = p - t[i]!;
    const w = p * (1 - p);
    ga += r * z[i]!;
    gb += r;
    haa += w * z[i]! * z[i]!;
    hab += w * z[i]!;
    hbb += w;
  }
  const n = Math.max(z.length, 1);
  return { loss: loss / n, ga: ga / n, gb: gb / n, haa: haa / n, hab: hab / n, hbb: hbb / n };
}

/**
 * Fits a calibration on (probability, label) pairs. Throws RangeError without both classes.
 * Newton steps with backtracking; at most 100 iterations (it converges in about ten).
 */
export function fitCalibration(probs: ArrayLike<number>, labels: ArrayLike<number>, method: 'temperature' | 'platt'): Calibration {
  if (probs.length !== labels.length) throw new RangeError(`probs and labels differ in length (${probs.length} vs ${labels.length})`);
  let pos = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) pos++;
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) throw new RangeError('calibration needs validation images of both classes');
  const hi = (pos + 1) / (pos + 2);
  const lo = 1 / (neg + 2);
  const z = Float64Array.from(probs as ArrayLike<number>, (p) => logit(p));
  const t = Float64Array.from(labels as ArrayLike<number>, (y) => (y === 1 ? hi : lo));
  const withBias = method === 'platt';
  let a = 1;
  let b = 0;
  let cur = lossAt(z, t, a, b);
  for (let iter = 0; iter < 100; iter++) {
    let da: number;
    let db: number;
    if (withBias) {
      const det = cur.haa * cur.hbb - cur.hab * cur.hab;
      if (!(Math.abs(det) > 1e-18)) break;
      da = -(cur.hbb * cur.ga - cur.hab * cur.gb) / det;
      db = -(-cur.hab * cur.ga + cur.haa * cur.gb) / det;
    } else {
      if (!(cur.haa > 1e-18)) break;
      da = -cur.ga / cur.haa;
      db = 0;
    }
    let step = 1;
    let next = lossAt(z, t, a + da, b + db);
    while (next.loss > cur.loss + 1e-15 && step > 1e-6) {
      step /= 2;
      next = lossAt(z, t, a + step * da, b + step * db);
    }
    if (next.loss > cur.loss + 1e-15) break;
    a += step * da;
    b += step * db;
    const done = Math.abs(cur.loss - next.loss) < 1e-12;
    cur = next;
    if (done) break;
  }
  // A temperature must stay positive: a model that ranks backwards on validation is not "calibrated" by flipping it.
  if (!(a > 1e-6)) a = 1e-6;
  return withBias ? { method: 'platt', slope: a, intercept: b } : { method: 'temperature', slope: a, intercept: 0, temperature: 1 / a };
}
