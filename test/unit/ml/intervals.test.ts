import { describe, expect, it } from 'vitest';
import { aucWithInterval, calibrationReport, evaluateBinary, rocAuc, summarize, wilsonInterval } from '../../../src/ml/metrics.ts';
import { createRng } from '../../../src/ml/random.ts';

/** Standard normal draws (Box-Muller) from a seeded generator. */
function normals(rand: () => number) {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 on erf; |error| < 1.5e-7). */
function phi(x: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}

/** Binormal scores: negatives N(0,1), positives N(d,1); true AUC = phi(d / sqrt 2). */
function binormal(rand: () => number, pos: number, neg: number, d: number) {
  const z = normals(rand);
  const probs: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < pos; i++) {
    probs.push(z() + d);
    labels.push(1);
  }
  for (let i = 0; i < neg; i++) {
    probs.push(z());
    labels.push(0);
  }
  return { probs, labels };
}

describe('wilsonInterval', () => {
  it('matches published values', () => {
    // Newcombe (1998), Statistics in Medicine 17:857, table I: 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605
    const a = wilsonInterval(81, 263);
    expect(a.low).toBeCloseTo(0.2553, 4);
    expect(a.high).toBeCloseTo(0.3662, 4);
    const b = wilsonInterval(15, 148);
    expect(b.low).toBeCloseTo(0.0624, 4);
    expect(b.high).toBeCloseTo(0.1605, 4);
    // 0/10 -> 0 to 0.2775; 10/10 -> 0.7225 to 1 (Newcombe table I)
    expect(wilsonInterval(0, 10).low).toBe(0);
    expect(wilsonInterval(0, 10).high).toBeCloseTo(0.2775, 4);
    expect(wilsonInterval(10, 10).low).toBeCloseTo(0.7225, 4);
    expect(wilsonInterval(10, 10).high).toBe(1);
  });

  it('is [0, 1] without trials and refuses impossible counts', () => {
    expect(wilsonInterval(0, 0)).toEqual({ low: 0, high: 1 });
    expect(() => wilsonInterval(3, 2)).toThrow(RangeError);
    expect(() => wilsonInterval(1.5, 2)).toThrow(RangeError);
  });

  it('covers the true proportion at about the nominal 95%', () => {
    const rand = createRng(3);
    const p = 0.3;
    const n = 80;
    let covered = 0;
    const reps = 2000;
    for (let r = 0; r < reps; r++) {
      let k = 0;
      for (let i = 0; i < n; i++) if (rand() < p) k++;
      const ci = wilsonInterval(k, n);
      if (ci.low <= p && p <= ci.high) covered++;
    }
    expect(covered / reps).toBeGreaterThan(0.93);
    expect(covered / reps).toBeLessThan(0.975);
  });
});

describe('aucWithInterval (DeLong)', () => {
  it('agrees with the rank AUC, including ties', () => {
    const probs = [0.5, 0.2, 0.5, 0.9, 0.1, 0.7, 0.7];
    const labels = [0, 0, 1, 1, 0, 1, 0];
    expect(aucWithInterval(probs, labels).value).toBeCloseTo(rocAuc(probs, labels), 12);
    // pairs (pos vs neg): 0.5 -> 0.5 tie + 2; 0.9 -> 4; 0.7 -> 3 + 0.7 tie: 10 of 12
    expect(rocAuc(probs, labels)).toBeCloseTo(10 / 12, 12);
  });

  it('matches the DeLong variance computed pair by pair', () => {
    const { probs, labels } = binormal(createRng(8), 30, 40, 1);
    const pos = probs.filter((_, i) => labels[i] === 1);
    const neg = probs.filter((_, i) => labels[i] === 0);
    const psi = (x: number, y: number) => (x > y ? 1 : x === y ? 0.5 : 0);
    const v10 = pos.map((x) => neg.reduce((s, y) => s + psi(x, y), 0) / neg.length);
    const v01 = neg.map((y) => pos.reduce((s, x) => s + psi(x, y), 0) / pos.length);
    const auc = v10.reduce((a, b) => a + b, 0) / pos.length;
    const s10 = v10.reduce((s, v) => s + (v - auc) ** 2, 0) / (pos.length - 1);
    const s01 = v01.reduce((s, v) => s + (v - auc) ** 2, 0) / (neg.length - 1);
    const e = aucWithInterval(probs, labels);
    expect(e.value).toBeCloseTo(auc, 12);
    expect(e.standardError).toBeCloseTo(Math.sqrt(s10 / pos.length + s01 / neg.length), 12);
    expect(e.low).toBeLessThan(auc);
    expect(e.high).toBeGreaterThan(auc);
  });

  it('covers the true AUC at about the nominal 95% on simulated scores', () => {
    const rand = createRng(42);
    for (const [d, pos, neg] of [
      [1, 60, 120],
      [2.5, 100, 50],
    ] as const) {
      const truth = phi(d / Math.SQRT2);
      let covered = 0;
      const reps = 600;
      for (let r = 0; r < reps; r++) {
        const { probs, labels } = binormal(rand, pos, neg, d);
        const ci = aucWithInterval(probs, labels);
        if (ci.low <= truth && truth <= ci.high) covered++;
      }
      const rate = covered / reps;
      console.log(`DeLong coverage at AUC ${truth.toFixed(3)}: ${rate.toFixed(3)}`);
      expect(rate).toBeGreaterThan(0.92);
      expect(rate).toBeLessThan(0.98);
    }
  });

  it('stays within [0, 1] and has no NaN at the edges', () => {
    expect(aucWithInterval([0.1, 0.9], [0, 1])).toMatchObject({ value: 1, low: 1, high: 1 });
    expect(aucWithInterval([0.3, 0.4], [1, 1])).toMatchObject({ value: 0, low: 0, high: 1 });
    const near = aucWithInterval([0.1, 0.2, 0.3, 0.25, 0.8, 0.9, 0.95], [0, 0, 0, 1, 1, 1, 1]);
    expect(near.low).toBeGreaterThanOrEqual(0);
    expect(near.high).toBeLessThanOrEqual(1);
  });

  it('is O(n log n): 200,000 scores in well under the time a quadratic pass would need', () => {
    const { probs, labels } = binormal(createRng(1), 100_000, 100_000, 1);
    const t0 = performance.now();
    const e = aucWithInterval(probs, labels);
    const ms = performance.now() - t0;
    console.log(`DeLong on 200k scores: ${ms.toFixed(0)} ms`);
    expect(e.value).toBeCloseTo(phi(1 / Math.SQRT2), 2);
    // A quadratic algorithm does 1e10 comparisons here (minutes); n log n is well under a second even on a busy box.
    expect(ms).toBeLessThan(20_000);
  });
});

describe('calibrationReport', () => {
  it('ECE and Brier by hand', () => {
    // bin [0.2, 0.3): 0.2, 0.2 with labels 0, 1 -> |0.2 - 0.5| = 0.3 over 2; bin [0.9, 1]: 0.9, 1.0 labels 1, 1 -> |0.95 - 1| = 0.05 over 2
    const r = calibrationReport([0.2, 0.2, 0.9, 1], [0, 1, 1, 1]);
    expect(r.ece).toBeCloseTo((2 * 0.3 + 2 * 0.05) / 4, 12);
    expect(r.brier).toBeCloseTo((0.04 + 0.64 + 0.01 + 0) / 4, 12);
    expect(r.bins).toHaveLength(10);
    expect(r.bins[2]).toMatchObject({ count: 2, fractionPositive: 0.5 });
    expect(r.bins[9]).toMatchObject({ count: 2, fractionPositive: 1 });
    expect(r.bins.reduce((n, b) => n + b.count, 0)).toBe(4);
  });

  it('is near zero for probabilities that are calibrated by construction', () => {
    const rand = createRng(4);
    const probs: number[] = [];
    const labels: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      const p = rand();
      probs.push(p);
      labels.push(rand() < p ? 1 : 0);
    }
    expect(calibrationReport(probs, labels).ece).toBeLessThan(0.02);
  });
});

describe('evaluateBinary', () => {
  it('reports every metric with Wilson intervals from one confusion matrix; summarize keeps the flat numbers', () => {
    const probs = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1, 0.65, 0.35];
    const labels = [1, 1, 1, 0, 1, 0, 0, 0, 1, 0];
    const e = evaluateBinary(probs, labels, 0.5);
    expect(e.confusion).toEqual({ tp: 4, fp: 1, tn: 4, fn: 1 });
    expect(e.sensitivity).toMatchObject({ value: 0.8, successes: 4, trials: 5, ...wilsonInterval(4, 5) });
    expect(e.specificity.value).toBe(0.8);
    expect(e.ppv.value).toBe(0.8);
    expect(e.npv.value).toBe(0.8);
    expect(e.accuracy).toMatchObject({ value: 0.8, trials: 10 });
    expect(e.f1).toBeCloseTo(0.8, 12);
    expect(e.positives).toBe(5);
    expect(e.roc.length).toBeLessThanOrEqual(200);
    expect(e.calibration.bins).toHaveLength(10);
    const s = summarize(e);
    expect(s).toMatchObject({ count: 10, auc: e.auc.value, accuracy: 0.8, precision: 0.8, threshold: 0.5 });
  });

  it('bounds the ROC points', () => {
    const { probs, labels } = binormal(createRng(2), 5000, 5000, 1);
    expect(evaluateBinary(probs, labels, 0.5, { maxRocPoints: 50 }).roc).toHaveLength(50);
  });
});
