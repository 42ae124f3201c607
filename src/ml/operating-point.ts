/**
 * Operating points: the decision threshold chosen on validation scores by a declared policy.
 * Scores >= threshold are called positive (as everywhere in src/ml/metrics.ts).
 *
 * Policies (strings, as a training request names them):
 * - `youden`: maximise sensitivity + specificity - 1;
 * - `sensitivity:T` (0 < T < 1): the highest threshold whose sensitivity is >= T (the most
 *   specific one that still finds that share of positives);
 * - `specificity:T`: the lowest threshold whose specificity is >= T (the most sensitive one that
 *   still clears that share of negatives).
 * Thresholds sit halfway between two adjacent distinct scores, so the cut is not on a sample.
 */
import { confusionAt, youdenThreshold } from './metrics.ts';

export type ThresholdPolicy =
  | { readonly kind: 'youden' }
  | { readonly kind: 'sensitivity'; readonly target: number }
  | { readonly kind: 'specificity'; readonly target: number };

/** The policy grammar (also the request schema's pattern; anchored, no nested quantifiers). */
export const THRESHOLD_POLICY_PATTERN = '^(youden|(sensitivity|specificity):0?\\.[0-9]{1,4})$';
const POLICY_RE = new RegExp(THRESHOLD_POLICY_PATTERN);

export class ThresholdPolicyError extends Error {
  override readonly name = 'ThresholdPolicyError';
}

export function parseThresholdPolicy(text: string): ThresholdPolicy {
  if (typeof text !== 'string' || text.length > 32 || !POLICY_RE.test(text)) {
    throw new ThresholdPolicyError(`thresholdPolicy must be "youden", "sensitivity:T" or "specificity:T" with 0 < T < 1 (got ${JSON.stringify(text)})`);
  }
  if (text === 'youden') return { kind: 'youden' };
  const [kind, value] = text.split(':') as ['sensitivity' | 'specificity', string];
  const target = Number(value);
  if (!(target > 0 && target < 1)) throw new ThresholdPolicyError(`thresholdPolicy target must be in (0, 1) (got ${value})`);
  return { kind, target };
}

export function formatThresholdPolicy(p: ThresholdPolicy): string {
  return p.kind === 'youden' ? 'youden' : `${p.kind}:${p.target}`;
}

export interface OperatingPoint {
  readonly policy: string;
  readonly threshold: number;
  /** What the threshold gave on the scores it was chosen on. */
  readonly sensitivity: number;
  readonly specificity: number;
  /** False when the target could not be met (e.g. no positives); the threshold is then the nearest possible. */
  readonly targetMet: boolean;
}

type Scores = ArrayLike<number>;
type Labels = ArrayLike<number>;

/** Distinct scores in descending order with the positives/negatives at or above each. */
function cumulative(probs: Scores, labels: Labels): { scores: number[]; tp: number[]; fp: number[]; pos: number; neg: number } {
  const order = Array.from({ length: probs.length }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]!);
  const scores: number[] = [];
  const tp: number[] = [];
  const fp: number[] = [];
  let t = 0;
  let f = 0;
  for (let i = 0; i < order.length; i++) {
    if (labels[order[i]!] === 1) t++;
    else f++;
    const next = order[i + 1];
    if (next === undefined || probs[next] !== probs[order[i]!]) {
      scores.push(probs[order[i]!]!);
      tp.push(t);
      fp.push(f);
    }
  }
  return { scores, tp, fp, pos: t, neg: f };
}

/** Threshold that calls exactly the scores >= scores[k] positive (k = -1: none). */
function cutBelow(scores: readonly number[], k: number): number {
  // Above every score (capped at 1: probabilities never exceed it, and thresholds stay in [0, 1]).
  if (k < 0) return scores.length === 0 ? 0.5 : Math.min(1, scores[0]! + Math.max((1 - scores[0]!) / 2, 1e-9));
  const next = scores[k + 1];
  return next === undefined ? scores[k]! / 2 : (scores[k]! + next) / 2;
}

export function chooseThreshold(probs: Scores, labels: Labels, policy: ThresholdPolicy): OperatingPoint {
  if (probs.length !== labels.length) throw new RangeError(`probs and labels differ in length (${probs.length} vs ${labels.length})`);
  const c = cumulative(probs, labels);
  let threshold: number;
  let targetMet = c.pos > 0 && c.neg > 0;
  if (policy.kind === 'youden') {
    threshold = youdenThreshold(probs, labels);
  } else if (policy.kind === 'sensitivity') {
    const k = c.tp.findIndex((t) => t / Math.max(c.pos, 1) >= policy.target - 1e-12);
    if (k < 0 || c.pos === 0) targetMet = false;
    threshold = cutBelow(c.scores, k < 0 ? c.scores.length - 1 : k);
  } else {
    // Specificity falls as the cut moves down: take the lowest cut that still meets the target.
    let k = -1;
    for (let i = 0; i < c.scores.length; i++) {
      if (1 - c.fp[i]! / Math.max(c.neg, 1) >= policy.target - 1e-12) k = i;
      else break;
    }
    if (c.neg === 0) targetMet = false;
    threshold = cutBelow(c.scores, k);
  }
  const m = confusionAt(probs, labels, threshold);
  const sensitivity = m.tp + m.fn === 0 ? 0 : m.tp / (m.tp + m.fn);
  const specificity = m.tn + m.fp === 0 ? 0 : m.tn / (m.tn + m.fp);
  if (policy.kind === 'sensitivity' && sensitivity < policy.target - 1e-12) targetMet = false;
  if (policy.kind === 'specificity' && specificity < policy.target - 1e-12) targetMet = false;
  return { policy: formatThresholdPolicy(policy), threshold, sensitivity, specificity, targetMet };
}
