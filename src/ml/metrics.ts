/**
 * Binary classification metrics in plain JS. Labels: 1 = positive. A score >= threshold is
 * predicted positive. Convention: a metric whose denominator is zero (an empty set, or one class
 * only: AUC, sensitivity without positives, precision without predicted positives...) is 0,
 * never NaN, so results always serialise as numbers.
 */
import type { BinaryMetrics, ConfusionMatrix, RocPoint } from './types.ts';

type Scores = ArrayLike<number>;
type Labels = ArrayLike<number>;

const ratio = (num: number, den: number): number => (den === 0 ? 0 : num / den);

function checkLengths(probs: Scores, labels: Labels): void {
  if (probs.length !== labels.length) {
    throw new RangeError(`probs and labels differ in length (${probs.length} vs ${labels.length})`);
  }
}

function classCounts(labels: Labels): { pos: number; neg: number } {
  let pos = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) pos++;
  return { pos, neg: labels.length - pos };
}

/** Indices ordered by descending score. */
function byScoreDesc(probs: Scores): number[] {
  return Array.from({ length: probs.length }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]!);
}

/** Area under the ROC curve from ranks (Mann-Whitney U); tied scores count one half. 0 with a class missing. */
export function rocAuc(probs: Scores, labels: Labels): number {
  return aucWithInterval(probs, labels).value;
}

interface Cut {
  readonly score: number;
  readonly tp: number;
  readonly fp: number;
}

/** Cumulative counts at each distinct score, from the highest down. */
function cuts(probs: Scores, labels: Labels): Cut[] {
  const order = byScoreDesc(probs);
  const out: Cut[] = [];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; i++) {
    if (labels[order[i]!] === 1) tp++;
    else fp++;
    const next = order[i + 1];
    if (next === undefined || probs[next] !== probs[order[i]!]) out.push({ score: probs[order[i]!]!, tp, fp });
  }
  return out;
}

/**
 * ROC points from (0,0) to (1,1), one per distinct score; the first point's threshold is the
 * highest score + 1. With maxPoints, evenly thinned keeping both ends.
 */
export function rocCurve(probs: Scores, labels: Labels, maxPoints = Infinity): RocPoint[] {
  checkLengths(probs, labels);
  if (probs.length === 0) return [];
  const { pos, neg } = classCounts(labels);
  const cs = cuts(probs, labels);
  const points: RocPoint[] = [{ threshold: cs[0]!.score + 1, fpr: 0, tpr: 0 }];
  for (const c of cs) points.push({ threshold: c.score, fpr: ratio(c.fp, neg), tpr: ratio(c.tp, pos) });
  const limit = Math.max(2, Math.floor(maxPoints));
  if (points.length <= limit) return points;
  const thinned: RocPoint[] = [];
  for (let k = 0; k < limit; k++) thinned.push(points[Math.round((k * (points.length - 1)) / (limit - 1))]!);
  return thinned;
}

/**
 * The threshold maximising Youden's J = sensitivity + specificity - 1, placed halfway between
 * the lowest score called positive and the next lower score. 0.5 when no cut beats chance
 * (J <= 0) or a class is missing.
 */
export function youdenThreshold(probs: Scores, labels: Labels): number {
  checkLengths(probs, labels);
  const { pos, neg } = classCounts(labels);
  if (pos === 0 || neg === 0) return 0.5;
  const cs = cuts(probs, labels);
  let bestJ = 0;
  let best = 0.5;
  for (let k = 0; k + 1 < cs.length; k++) {
    const j = cs[k]!.tp / pos - cs[k]!.fp / neg;
    if (j > bestJ + 1e-12) {
      bestJ = j;
      best = (cs[k]!.score + cs[k + 1]!.score) / 2;
    }
  }
  return best;
}

export function confusionAt(probs: Scores, labels: Labels, threshold: number): ConfusionMatrix {
  checkLengths(probs, labels);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < probs.length; i++) {
    const predicted = probs[i]! >= threshold;
    if (labels[i] === 1) {
      if (predicted) tp++;
      else fn++;
    } else if (predicted) fp++;
    else tn++;
  }
  return { tp, fp, tn, fn };
}

export function binaryMetrics(probs: Scores, labels: Labels, threshold: number, maxRocPoints = 200): BinaryMetrics {
  const confusion = confusionAt(probs, labels, threshold);
  const { tp, fp, tn, fn } = confusion;
  return {
    count: probs.length,
    auc: rocAuc(probs, labels),
    accuracy: ratio(tp + tn, probs.length),
    sensitivity: ratio(tp, tp + fn),
    specificity: ratio(tn, tn + fp),
    precision: ratio(tp, tp + fp),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    threshold,
    confusion,
    roc: rocCurve(probs, labels, maxRocPoints),
  };
}

/** Mean binary cross-entropy, probabilities clipped to [1e-7, 1 - 1e-7] as Keras does. */
export function binaryCrossEntropy(probs: Scores, labels: Labels): number {
  checkLengths(probs, labels);
  const eps = 1e-7;
  let sum = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = Math.min(Math.max(probs[i]!, eps), 1 - eps);
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return ratio(sum, probs.length);
}

/** Fraction of scores on the right side of the threshold. */
export function accuracyAt(probs: Scores, labels: Labels, threshold = 0.5): number {
  const { tp, tn } = confusionAt(probs, labels, threshold);
  return ratio(tp + tn, probs.length);
}

// ---------------------------------------------------------------------------------------------
// Intervals, calibration and the full evaluation report (training's test split and evaluations).

/** Two-sided 95% normal quantile. */
export const Z95 = 1.959963984540054;

export interface Interval {
  readonly low: number;
  readonly high: number;
}

/** A proportion with its Wilson score interval. */
export interface Proportion extends Interval {
  readonly value: number;
  /** Successes / trials behind the value. */
  readonly successes: number;
  readonly trials: number;
}

/**
 * Wilson score interval for `successes` out of `trials` (95% unless z says otherwise). With no
 * trials the interval is the whole of [0, 1] (and the value 0, by this module's convention).
 */
export function wilsonInterval(successes: number, trials: number, z = Z95): Interval {
  if (!(Number.isInteger(successes) && Number.isInteger(trials) && successes >= 0 && successes <= trials)) {
    throw new RangeError(`need integers 0 <= successes <= trials (got ${successes} of ${trials})`);
  }
  if (trials === 0) return { low: 0, high: 1 };
  const p = successes / trials;
  const z2 = z * z;
  const den = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / den;
  const half = (z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / den;
  // Exact ends at 0 and 1 (the formula gives them up to rounding).
  return { low: successes === 0 ? 0 : Math.max(0, centre - half), high: successes === trials ? 1 : Math.min(1, centre + half) };
}

export function proportion(successes: number, trials: number, z = Z95): Proportion {
  return { value: ratio(successes, trials), successes, trials, ...wilsonInterval(successes, trials, z) };
}

export interface AucEstimate extends Interval {
  readonly value: number;
  /** DeLong standard error of the AUC. */
  readonly standardError: number;
  readonly method: 'delong-logit';
}

/**
 * Midranks (1-based, ties share the mean rank) of `values`; O(n log n).
 */
function midranks(values: readonly number[]): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Float64Array(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]!] === values[order[i]!]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]!] = r;
    i = j + 1;
  }
  return ranks;
}

/**
 * ROC AUC with a 95% interval from DeLong's variance (fast midrank algorithm of Sun & Xu 2014,
 * O(n log n)), built on the logit scale so it stays inside [0, 1] near perfect separation. With
 * one class missing the value is 0 and the interval [0, 1]; with perfect (or perfectly reversed)
 * separation the variance is 0 and the interval collapses to the point.
 */
export function aucWithInterval(probs: Scores, labels: Labels, z = Z95): AucEstimate {
  checkLengths(probs, labels);
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < probs.length; i++) (labels[i] === 1 ? pos : neg).push(probs[i]!);
  const m = pos.length;
  const n = neg.length;
  if (m === 0 || n === 0) return { value: 0, low: 0, high: 1, standardError: 0, method: 'delong-logit' };
  const all = midranks([...pos, ...neg]);
  const rp = midranks(pos);
  const rn = midranks(neg);
  let sumPos = 0;
  for (let i = 0; i < m; i++) sumPos += all[i]!;
  const auc = (sumPos - (m * (m + 1)) / 2) / (m * n);
  // Structural components: v10[i] = share of negatives below positive i, v01[j] = share of positives above negative j.
  let s10 = 0;
  for (let i = 0; i < m; i++) {
    const v = (all[i]! - rp[i]!) / n;
    s10 += (v - auc) ** 2;
  }
  let s01 = 0;
  for (let j = 0; j < n; j++) {
    const v = 1 - (all[m + j]! - rn[j]!) / m;
    s01 += (v - auc) ** 2;
  }
  const variance = (m > 1 ? s10 / (m - 1) / m : 0) + (n > 1 ? s01 / (n - 1) / n : 0);
  const se = Math.sqrt(variance);
  if (se === 0 || auc <= 0 || auc >= 1) return { value: auc, low: auc, high: auc, standardError: se, method: 'delong-logit' };
  const logit = Math.log(auc / (1 - auc));
  const seLogit = se / (auc * (1 - auc));
  const expit = (v: number) => 1 / (1 + Math.exp(-v));
  return { value: auc, low: expit(logit - z * seLogit), high: expit(logit + z * seLogit), standardError: se, method: 'delong-logit' };
}

export interface ReliabilityBin {
  /** [low, high) of the predicted probability (the last bin includes 1). */
  readonly low: number;
  readonly high: number;
  readonly count: number;
  /** Mean predicted probability in the bin (0 when empty). */
  readonly meanPredicted: number;
  /** Share of positives in the bin (0 when empty). */
  readonly fractionPositive: number;
}

export interface CalibrationReport {
  /** Expected calibration error: count-weighted mean |meanPredicted - fractionPositive| over equal-width bins. */
  readonly ece: number;
  /** Mean squared error of the probability against the 0/1 label. */
  readonly brier: number;
  readonly bins: readonly ReliabilityBin[];
}

/** ECE, Brier score and reliability bins (equal width, `binCount` of them) in one O(n) pass. */
export function calibrationReport(probs: Scores, labels: Labels, binCount = 10): CalibrationReport {
  checkLengths(probs, labels);
  if (!(Number.isInteger(binCount) && binCount >= 1 && binCount <= 1000)) throw new RangeError(`binCount must be in 1..1000 (got ${binCount})`);
  const count = new Float64Array(binCount);
  const sumP = new Float64Array(binCount);
  const sumY = new Float64Array(binCount);
  let brier = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = Math.min(Math.max(probs[i]!, 0), 1);
    const y = labels[i] === 1 ? 1 : 0;
    const b = Math.min(binCount - 1, Math.floor(p * binCount));
    count[b]! += 1;
    sumP[b]! += p;
    sumY[b]! += y;
    brier += (p - y) ** 2;
  }
  let ece = 0;
  const bins: ReliabilityBin[] = [];
  for (let b = 0; b < binCount; b++) {
    const c = count[b]!;
    const meanPredicted = ratio(sumP[b]!, c);
    const fractionPositive = ratio(sumY[b]!, c);
    ece += c * Math.abs(meanPredicted - fractionPositive);
    bins.push({ low: b / binCount, high: (b + 1) / binCount, count: c, meanPredicted, fractionPositive });
  }
  return { ece: ratio(ece, probs.length), brier: ratio(brier, probs.length), bins };
}

/** Everything an evaluation reports at one threshold; proportions carry 95% Wilson intervals. */
export interface BinaryEvaluation {
  readonly count: number;
  readonly positives: number;
  readonly negatives: number;
  readonly threshold: number;
  readonly auc: AucEstimate;
  readonly accuracy: Proportion;
  readonly sensitivity: Proportion;
  readonly specificity: Proportion;
  /** Positive predictive value (precision). */
  readonly ppv: Proportion;
  readonly npv: Proportion;
  readonly f1: number;
  readonly logLoss: number;
  readonly confusion: ConfusionMatrix;
  /** At most `maxRocPoints` points, both ends kept. */
  readonly roc: readonly RocPoint[];
  readonly calibration: CalibrationReport;
}

export interface EvaluationOptions {
  readonly maxRocPoints?: number;
  readonly calibrationBins?: number;
}

/** The one evaluation report (O(n log n)): AUC with DeLong interval, threshold metrics with Wilson intervals, ROC, calibration. */
export function evaluateBinary(probs: Scores, labels: Labels, threshold: number, opts: EvaluationOptions = {}): BinaryEvaluation {
  const confusion = confusionAt(probs, labels, threshold);
  const { tp, fp, tn, fn } = confusion;
  return {
    count: probs.length,
    positives: tp + fn,
    negatives: tn + fp,
    threshold,
    auc: aucWithInterval(probs, labels),
    accuracy: proportion(tp + tn, probs.length),
    sensitivity: proportion(tp, tp + fn),
    specificity: proportion(tn, tn + fp),
    ppv: proportion(tp, tp + fp),
    npv: proportion(tn, tn + fn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    logLoss: binaryCrossEntropy(probs, labels),
    confusion,
    roc: rocCurve(probs, labels, opts.maxRocPoints ?? 200),
    calibration: calibrationReport(probs, labels, opts.calibrationBins ?? 10),
  };
}

/** The flat summary (job results, the CLI table) of a full evaluation: the same numbers, no intervals. */
export function summarize(e: BinaryEvaluation): BinaryMetrics {
  return {
    count: e.count,
    auc: e.auc.value,
    accuracy: e.accuracy.value,
    sensitivity: e.sensitivity.value,
    specificity: e.specificity.value,
    precision: e.ppv.value,
    f1: e.f1,
    threshold: e.threshold,
    confusion: e.confusion,
    roc: e.roc,
  };
}
