/**
 * The scoring of an external evaluation on known scores: the numbers by hand, and the decisions
 * exactly the labels serving gives (src/domain/labelling.ts labelOf), calibrated or not.
 */
import { describe, expect, it } from 'vitest';
import { labelling, labelOf } from '../../../src/domain/labelling.ts';
import { applyCalibration } from '../../../src/ml/calibration.ts';
import { calibrationReport, evaluateBinary } from '../../../src/ml/metrics.ts';
import { checkEvaluationClasses, countPatients, scoreEvaluation, servedProbabilities } from '../../../src/services/evaluation-scoring.ts';

const probs = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1];
const labels = [1, 1, 0, 1, 0, 1, 0, 0];
const classNames = ['NORMAL', 'PNEUMONIA'];

/** The confusion the labels serving gives would make. */
function servedConfusion(l: ReturnType<typeof labelling>, p: readonly number[], y: readonly number[]) {
  const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
  p.forEach((prob, i) => {
    const positive = labelOf(l, prob).label === l.classNames[1];
    if (y[i] === 1) c[positive ? 'tp' : 'fn']++;
    else c[positive ? 'fp' : 'tn']++;
  });
  return c;
}

describe('scoreEvaluation', () => {
  it('an uncalibrated version: the numbers worked out by hand', () => {
    const l = labelling({ classNames, threshold: 0.5 });
    const { metrics, threshold, calibrated } = scoreEvaluation(probs, labels, l);
    expect({ threshold, calibrated }).toEqual({ threshold: 0.5, calibrated: false });
    // positive > negative pairs: 0.9 and 0.8 beat all 4, 0.6 beats 3, 0.3 beats 2 -> 13 of 16
    expect(metrics.auc.value).toBe(13 / 16);
    expect(metrics.confusion).toEqual({ tp: 3, fp: 1, tn: 3, fn: 1 });
    expect(metrics.accuracy).toMatchObject({ value: 0.75, successes: 6, trials: 8 });
    for (const k of ['sensitivity', 'specificity', 'ppv', 'npv'] as const) {
      expect(metrics[k]).toMatchObject({ value: 0.75, successes: 3, trials: 4 });
      // Wilson 95% for 3 of 4
      expect(metrics[k].low).toBeCloseTo(0.3006, 4);
      expect(metrics[k].high).toBeCloseTo(0.9544, 4);
    }
    expect(metrics.f1).toBe(0.75);
    expect({ count: metrics.count, positives: metrics.positives, negatives: metrics.negatives }).toEqual({ count: 8, positives: 4, negatives: 4 });
    expect(metrics.auc.low).toBeLessThan(metrics.auc.value);
    expect(metrics.auc.high).toBeGreaterThan(metrics.auc.value);
  });

  it('a calibrated version: the calibrated probabilities serving answers, at the threshold moved onto their scale', () => {
    const calibration = { method: 'platt', slope: 1.7, intercept: -0.4 };
    const l = labelling({ classNames, threshold: 0.65, calibration });
    const served = servedProbabilities(probs, l);
    probs.forEach((p, i) => expect(served[i]).toBe(labelOf(l, p).probability));
    const { metrics, threshold, calibrated } = scoreEvaluation(probs, labels, l);
    expect(calibrated).toBe(true);
    expect(threshold).toBe(applyCalibration(0.65, l.calibration));
    expect(metrics).toEqual(evaluateBinary(served, labels, threshold));
    // ranking is unchanged by a monotonic calibration; calibration quality is that of the served numbers
    expect(metrics.auc.value).toBe(13 / 16);
    expect(metrics.calibration).toEqual(calibrationReport(served, labels));
    expect(metrics.calibration).not.toEqual(calibrationReport(probs, labels));
    expect(metrics.confusion).toEqual(servedConfusion(l, probs, labels));
    expect(metrics.confusion).toEqual({ tp: 2, fp: 1, tn: 3, fn: 2 });
  });

  it('a steep calibration that rounds probabilities onto the threshold: the decisions stay the labels clients get', () => {
    // slope 50 sends 0.89 and 0.9 (and above) to exactly 1: the calibrated cut cannot tell 0.89 from 0.9.
    const l = labelling({ classNames, threshold: 0.9, calibration: { method: 'platt', slope: 50, intercept: 0 } });
    const p = [0.95, 0.9, 0.89, 0.89, 0.5, 0.2];
    const y = [1, 1, 1, 0, 0, 0];
    const served = servedProbabilities(p, l);
    expect(served[2]).toBe(1);
    expect(l.threshold).toBe(1);
    const naive = evaluateBinary(served, y, l.threshold);
    const { metrics } = scoreEvaluation(p, y, l);
    expect(metrics.confusion).toEqual(servedConfusion(l, p, y));
    expect(metrics.confusion).toEqual({ tp: 2, fp: 0, tn: 3, fn: 1 });
    expect(naive.confusion).not.toEqual(metrics.confusion);
    // ranking and calibration stay those of the served probabilities
    expect(metrics.auc).toEqual(naive.auc);
    expect(metrics.calibration).toEqual(naive.calibration);
    expect(metrics.sensitivity).toMatchObject({ successes: 2, trials: 3 });
  });
});

describe('checkEvaluationClasses', () => {
  it('passes the same [negative, positive] names and refuses others, swapped ones included', () => {
    expect(() => checkEvaluationClasses({ id: 'ds_a', classNames: ['NORMAL', 'PNEUMONIA'] }, classNames)).not.toThrow();
    for (const names of [['NORMAL', 'COVID'], ['PNEUMONIA', 'NORMAL'], ['normal', 'pneumonia']]) {
      expect(() => checkEvaluationClasses({ id: 'ds_a', classNames: names }, classNames)).toThrow(
        expect.objectContaining({ code: 'DATASET_CLASSES_MISMATCH', status: 422 }),
      );
    }
  });
});

describe('countPatients', () => {
  it('counts distinct keys, and every unmatched image as one patient', () => {
    const sources = ['NORMAL/person1_a.png', 'NORMAL/person1_b.png', 'PNEUMONIA/person2_a.png', 'PNEUMONIA/scan.png'];
    expect(countPatients(sources, '(person\\d+)_')).toEqual({ patients: 3, matched: 3, unmatched: 1 });
    expect(() => countPatients(sources, 'person\\d+')).toThrow(expect.objectContaining({ code: 'INVALID_GROUP_PATTERN' }));
  });
});
