import { describe, expect, it } from 'vitest';
import {
  accuracyAt,
  binaryCrossEntropy,
  binaryMetrics,
  confusionAt,
  rocAuc,
  rocCurve,
  youdenThreshold,
} from '../../../src/ml/metrics.ts';

describe('rocAuc', () => {
  it('is 1 when perfectly separated, 0 when reversed, 0.5 when all tied', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
  });

  it('matches hand-computed values, ties counting one half', () => {
    // pairs (pos, neg): (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) -> 3/4
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12);
    // pairs: (0.5 vs 0.5 tie) (0.5>0.2) (0.9>0.5) (0.9>0.2) -> 3.5/4
    expect(rocAuc(new Float32Array([0.5, 0.2, 0.5, 0.9]), Uint8Array.from([0, 0, 1, 1]))).toBeCloseTo(0.875, 12);
  });

  it('is 0, not NaN, with one class or none', () => {
    expect(rocAuc([], [])).toBe(0);
    expect(rocAuc([0.2, 0.7], [1, 1])).toBe(0);
    expect(() => rocAuc([0.1], [])).toThrow(RangeError);
  });
});

describe('rocCurve', () => {
  it('walks the distinct thresholds from (0,0) to (1,1)', () => {
    expect(rocCurve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toEqual([
      { threshold: 1.8, fpr: 0, tpr: 0 },
      { threshold: 0.8, fpr: 0, tpr: 0.5 },
      { threshold: 0.4, fpr: 0.5, tpr: 0.5 },
      { threshold: 0.35, fpr: 0.5, tpr: 1 },
      { threshold: 0.1, fpr: 1, tpr: 1 },
    ]);
  });

  it('thins to maxPoints keeping both ends', () => {
    const probs = Array.from({ length: 1000 }, (_, i) => i / 1000);
    const labels = probs.map((_, i) => i % 2);
    const roc = rocCurve(probs, labels, 11);
    expect(roc).toHaveLength(11);
    expect(roc[0]).toMatchObject({ fpr: 0, tpr: 0 });
    expect(roc[10]).toMatchObject({ fpr: 1, tpr: 1 });
  });
});

describe('youdenThreshold', () => {
  it('lies halfway between the scores of the best cut', () => {
    expect(youdenThreshold([0.1, 0.3, 0.6, 0.7, 0.2, 0.9], [0, 0, 1, 1, 0, 1])).toBeCloseTo(0.45, 12);
    // J = 0.5 at 0.8 and at 0.35: the first (higher) cut wins.
    expect(youdenThreshold([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.6, 12);
    // J = 1 when 0.9 and 0.7 are called positive: halfway to the next score, 0.6
    expect(youdenThreshold([0.9, 0.7, 0.6, 0.5, 0.2], [1, 1, 0, 0, 0])).toBeCloseTo(0.65, 12);
  });

  it('is 0.5 when no cut beats chance or a class is missing', () => {
    expect(youdenThreshold([0.9, 0.1], [0, 1])).toBe(0.5);
    expect(youdenThreshold([0.3, 0.6], [1, 1])).toBe(0.5);
    expect(youdenThreshold([], [])).toBe(0.5);
  });
});

describe('binaryMetrics', () => {
  it('counts the confusion matrix at the threshold (>= is positive)', () => {
    const probs = [0.9, 0.8, 0.3, 0.6, 0.2, 0.5];
    const labels = [1, 1, 1, 0, 0, 0];
    const m = binaryMetrics(probs, labels, 0.5);
    expect(m.confusion).toEqual({ tp: 2, fn: 1, fp: 2, tn: 1 });
    expect(m.count).toBe(6);
    expect(m.accuracy).toBeCloseTo(3 / 6, 12);
    expect(m.sensitivity).toBeCloseTo(2 / 3, 12);
    expect(m.specificity).toBeCloseTo(1 / 3, 12);
    expect(m.precision).toBeCloseTo(2 / 4, 12);
    expect(m.f1).toBeCloseTo((2 * 2) / (2 * 2 + 2 + 1), 12);
    expect(m.threshold).toBe(0.5);
    expect(m.auc).toBeCloseTo(rocAuc(probs, labels), 12);
    expect(m.roc[0]).toMatchObject({ fpr: 0, tpr: 0 });
  });

  it('has no NaN anywhere for empty or one-class input (undefined ratios are 0)', () => {
    for (const [probs, labels] of [
      [[], []],
      [[0.2, 0.9], [1, 1]],
      [[0.2, 0.9], [0, 0]],
    ] as const) {
      const m = binaryMetrics(probs, labels, 0.5);
      const numbers = [m.auc, m.accuracy, m.sensitivity, m.specificity, m.precision, m.f1, ...m.roc.flatMap((p) => [p.fpr, p.tpr])];
      for (const v of numbers) expect(Number.isFinite(v)).toBe(true);
    }
    expect(binaryMetrics([0.2, 0.9], [0, 0], 0.5)).toMatchObject({ sensitivity: 0, precision: 0, specificity: 0.5, auc: 0 });
  });

  it('confusionAt and accuracyAt agree', () => {
    expect(confusionAt([0.5, 0.49], [1, 0], 0.5)).toEqual({ tp: 1, fp: 0, tn: 1, fn: 0 });
    expect(accuracyAt([0.5, 0.49, 0.7], [1, 0, 0])).toBeCloseTo(2 / 3, 12);
  });
});

describe('binaryCrossEntropy', () => {
  it('is the mean negative log-likelihood, clipped', () => {
    expect(binaryCrossEntropy([0.5, 0.5], [1, 0])).toBeCloseTo(Math.LN2, 12);
    expect(binaryCrossEntropy([0.8, 0.4], [1, 0])).toBeCloseTo(-(Math.log(0.8) + Math.log(0.6)) / 2, 12);
    expect(binaryCrossEntropy([0], [1])).toBeCloseTo(-Math.log(1e-7), 6);
    expect(binaryCrossEntropy([], [])).toBe(0);
  });
});
