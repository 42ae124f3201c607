import { describe, expect, it } from 'vitest';
import { confusionAt } from '../../../src/ml/metrics.ts';
import { chooseThreshold, parseThresholdPolicy, ThresholdPolicyError } from '../../../src/ml/operating-point.ts';
import { createRng } from '../../../src/ml/random.ts';

function simulated(seed: number, pos: number, neg: number) {
  const rand = createRng(seed);
  const probs: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < pos; i++) {
    probs.push(Math.min(1, Math.max(0, 0.65 + 0.25 * (rand() - 0.5) * 2)));
    labels.push(1);
  }
  for (let i = 0; i < neg; i++) {
    probs.push(Math.min(1, Math.max(0, 0.35 + 0.25 * (rand() - 0.5) * 2)));
    labels.push(0);
  }
  return { probs, labels };
}

const rates = (probs: number[], labels: number[], t: number) => {
  const m = confusionAt(probs, labels, t);
  return { sens: m.tp / (m.tp + m.fn), spec: m.tn / (m.tn + m.fp) };
};

describe('parseThresholdPolicy', () => {
  it('parses the declared policies and refuses others', () => {
    expect(parseThresholdPolicy('youden')).toEqual({ kind: 'youden' });
    expect(parseThresholdPolicy('sensitivity:0.95')).toEqual({ kind: 'sensitivity', target: 0.95 });
    expect(parseThresholdPolicy('specificity:.9')).toEqual({ kind: 'specificity', target: 0.9 });
    for (const bad of ['', 'youden:1', 'sensitivity', 'sensitivity:1', 'sensitivity:0', 'specificity:1.5', 'accuracy:0.9', 'x'.repeat(100)]) {
      expect(() => parseThresholdPolicy(bad), bad).toThrow(ThresholdPolicyError);
    }
  });
});

describe('chooseThreshold', () => {
  it('sensitivity:T hits its target on validation, with the best specificity that allows', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { probs, labels } = simulated(seed, 300, 500);
      for (const target of [0.8, 0.9, 0.95, 0.99]) {
        const op = chooseThreshold(probs, labels, { kind: 'sensitivity', target });
        const r = rates(probs, labels, op.threshold);
        expect(r.sens).toBeGreaterThanOrEqual(target);
        expect(op.sensitivity).toBe(r.sens);
        expect(op.specificity).toBe(r.spec);
        expect(op.targetMet).toBe(true);
        // Cutting at the next distinct score up would miss the target: the threshold is the highest that meets it.
        // (The lowest score above the threshold is the lowest one called positive: same decisions.)
        const higher = [...new Set(probs)].filter((p) => p > op.threshold).sort((a, b) => a - b)[1];
        if (higher !== undefined) expect(rates(probs, labels, higher).sens).toBeLessThan(target);
      }
    }
  });

  it('specificity:T hits its target on validation, with the best sensitivity that allows', () => {
    for (const seed of [6, 7, 8]) {
      const { probs, labels } = simulated(seed, 400, 200);
      for (const target of [0.8, 0.9, 0.95]) {
        const op = chooseThreshold(probs, labels, { kind: 'specificity', target });
        const r = rates(probs, labels, op.threshold);
        expect(r.spec).toBeGreaterThanOrEqual(target);
        expect(op.targetMet).toBe(true);
        // Cutting at the highest score below the threshold calls one more distinct score positive.
        const lower = [...new Set(probs)].filter((p) => p < op.threshold).sort((a, b) => b - a)[0];
        if (lower !== undefined) expect(rates(probs, labels, lower).spec).toBeLessThan(target);
      }
    }
  });

  it('youden maximises sensitivity + specificity over every cut', () => {
    const { probs, labels } = simulated(9, 200, 200);
    const op = chooseThreshold(probs, labels, { kind: 'youden' });
    const j = op.sensitivity + op.specificity;
    for (const t of new Set(probs)) {
      const r = rates(probs, labels, t);
      expect(r.sens + r.spec).toBeLessThanOrEqual(j + 1e-12);
    }
    expect(op.policy).toBe('youden');
  });

  it('edge cases: everything negative for specificity 0.99 on inseparable scores, targetMet false without a class', () => {
    const op = chooseThreshold([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], { kind: 'specificity', target: 0.99 });
    expect(op.specificity).toBe(1);
    expect(op.sensitivity).toBe(0);
    expect(chooseThreshold([0.2, 0.7], [0, 0], { kind: 'sensitivity', target: 0.9 }).targetMet).toBe(false);
  });
});
