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

/** Area under the ROC curve from ranks (Mann-Whitney U); tied scores count one half. */
export function rocAuc(probs: Scores, labels: Labels): number {
  checkLengths(probs, labels);
  const { pos, neg } = classCounts(labels);
  if (pos === 0 || neg === 0) return 0;
  const order = byScoreDesc(probs).reverse();
  let rankSumPos = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && probs[order[j + 1]!] === probs[order[i]!]) j++;
    const meanRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[order[k]!] === 1) rankSumPos += meanRank;
    i = j + 1;
  }
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
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
