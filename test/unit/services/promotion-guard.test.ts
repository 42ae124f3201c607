/** The promotion guard's rule (candidate.auc.high < production.auc.value) and which evaluations it compares. */
import { describe, expect, it } from 'vitest';
import { isAppError } from '../../../src/errors.ts';
import { evaluateBinary } from '../../../src/ml/metrics.ts';
import type { EvaluationLister, EvaluationRecord } from '../../../src/services/evaluation-types.ts';
import { checkPromotion, comparePromotion, PROMOTION_RULE } from '../../../src/services/promotion-guard.ts';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A completed evaluation on generated scores; `shift` sets how well they separate the classes. */
function evaluated(id: string, version: number, datasetId: string, shift: number, createdAt: string, contentHash = 'aa'.repeat(32)): EvaluationRecord {
  const r = rng(id.length * 31 + Math.round(shift * 1000));
  const n = 600;
  const probs = new Float32Array(n);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    probs[i] = Math.min(1, r() * (1 - shift) + (labels[i] ? shift : 0));
  }
  return {
    id,
    model: 'm',
    version,
    dataset: { id: datasetId, name: datasetId, contentHash },
    status: 'completed',
    createdAt,
    result: { images: n, threshold: 0.5, calibrated: false, metrics: evaluateBinary(probs, labels, 0.5) },
  };
}

/** The same record with its AUC replaced (to put the rule's boundary exactly). */
function withAuc(r: EvaluationRecord, value: number, low: number, high: number): EvaluationRecord {
  return { ...r, result: { ...r.result!, metrics: { ...r.result!.metrics, auc: { ...r.result!.metrics.auc, value, low, high } } } };
}

const lister = (byVersion: Record<number, EvaluationRecord[]>): EvaluationLister => ({
  listEvaluations: async (_model, version) => byVersion[version] ?? [],
});

describe('comparePromotion', () => {
  it('flags a candidate whose upper AUC bound is below production AUC, and not one whose interval reaches it', () => {
    const prod = evaluated('ev_p', 1, 'ds_x', 0.6, '2026-01-01T00:00:00Z');
    const weak = evaluated('ev_c', 2, 'ds_x', 0.05, '2026-01-02T00:00:00Z');
    const [c] = comparePromotion({ version: 2, evaluations: [weak] }, { version: 1, evaluations: [prod] });
    expect(c!.candidate.auc.high).toBeLessThan(c!.production.auc.value);
    expect(c!.worse).toBe(true);
    const p = prod.result!.metrics.auc.value;
    const touching = withAuc(weak, p - 0.05, p - 0.1, p); // high == production value: not beyond
    expect(comparePromotion({ version: 2, evaluations: [touching] }, { version: 1, evaluations: [prod] })[0]!.worse).toBe(false);
    const below = withAuc(weak, p - 0.05, p - 0.1, p - 1e-9);
    expect(comparePromotion({ version: 2, evaluations: [below] }, { version: 1, evaluations: [prod] })[0]!.worse).toBe(true);
  });

  it('compares only the latest completed evaluation of each version on the same dataset id and content hash', () => {
    const prod = [evaluated('ev_p', 1, 'ds_x', 0.5, '2026-01-01T00:00:00Z')];
    const candidate = [
      { ...evaluated('ev_running', 2, 'ds_x', 0.0, '2026-01-05T00:00:00Z'), status: 'running' as const, result: undefined },
      evaluated('ev_new', 2, 'ds_x', 0.6, '2026-01-04T00:00:00Z'),
      evaluated('ev_old', 2, 'ds_x', 0.0, '2026-01-03T00:00:00Z'),
      evaluated('ev_other_hash', 2, 'ds_x', 0.0, '2026-01-06T00:00:00Z', 'bb'.repeat(32)),
      evaluated('ev_elsewhere', 2, 'ds_y', 0.0, '2026-01-06T00:00:00Z'),
    ];
    const out = comparePromotion({ version: 2, evaluations: candidate }, { version: 1, evaluations: prod });
    expect(out).toHaveLength(1);
    expect(out[0]!.candidate.evaluationId).toBe('ev_new');
    expect(out[0]!.worse).toBe(false);
  });
});

describe('checkPromotion', () => {
  const prod = evaluated('ev_p', 1, 'ds_x', 0.6, '2026-01-01T00:00:00Z');
  const weak = evaluated('ev_c', 2, 'ds_x', 0.05, '2026-01-02T00:00:00Z');

  it('refuses with PROMOTION_WORSE and both AUCs, intervals, dataset and evaluation ids', async () => {
    const err = await checkPromotion(lister({ 1: [prod], 2: [weak] }), { name: 'm', candidate: 2, current: 1, force: false }).catch((e: unknown) => e);
    expect(isAppError(err) && err.code).toBe('PROMOTION_WORSE');
    const e = err as { message: string; details: Record<string, unknown> };
    const cAuc = weak.result!.metrics.auc;
    const pAuc = prod.result!.metrics.auc;
    for (const text of [cAuc.value, cAuc.low, cAuc.high, pAuc.value, pAuc.low, pAuc.high].map((n) => n.toFixed(4))) expect(e.message).toContain(text);
    for (const text of ['ds_x', 'ev_p', 'ev_c', PROMOTION_RULE, 'force']) expect(e.message).toContain(text);
    expect(e.details).toMatchObject({
      candidate: 2,
      production: 1,
      rule: PROMOTION_RULE,
      comparisons: [{ dataset: { id: 'ds_x' }, candidate: { evaluationId: 'ev_c', auc: { value: cAuc.value, high: cAuc.high } }, production: { evaluationId: 'ev_p', auc: { value: pAuc.value } }, worse: true }],
    });
  });

  it('lets it through when forced (noting the override), when not worse, without a common dataset, or with nothing to compare', async () => {
    const both = lister({ 1: [prod], 2: [weak] });
    expect(await checkPromotion(both, { name: 'm', candidate: 2, current: 1, force: true })).toEqual({ outcome: 'overridden', datasets: ['ds_x'] });
    expect(await checkPromotion(both, { name: 'm', candidate: 1, current: 2, force: false })).toEqual({ outcome: 'passed', datasets: ['ds_x'] });
    const apart = lister({ 1: [prod], 2: [evaluated('ev_c', 2, 'ds_y', 0.05, '2026-01-02T00:00:00Z')] });
    expect(await checkPromotion(apart, { name: 'm', candidate: 2, current: 1, force: false })).toEqual({ outcome: 'no-common-dataset' });
    expect(await checkPromotion(both, { name: 'm', candidate: 2, current: null, force: false })).toEqual({ outcome: 'not-applicable' });
    expect(await checkPromotion(both, { name: 'm', candidate: 2, current: 2, force: false })).toEqual({ outcome: 'not-applicable' });
  });
});
