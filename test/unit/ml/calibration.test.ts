import { describe, expect, it } from 'vitest';
import { applyCalibration, applyCalibrationAll, calibrationFromMetadata, fitCalibration, logit, sigmoid } from '../../../src/ml/calibration.ts';
import { calibrationReport, rocAuc } from '../../../src/ml/metrics.ts';
import { createRng } from '../../../src/ml/random.ts';

/**
 * A deliberately over-confident model: the true probability is sigmoid(z) and the model reports
 * sigmoid(sharpness * z + shift).
 */
function overConfident(seed: number, n: number, sharpness: number, shift = 0) {
  const rand = createRng(seed);
  const probs = new Float32Array(n);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const z = (rand() - 0.5) * 8;
    labels[i] = rand() < sigmoid(z) ? 1 : 0;
    probs[i] = sigmoid(sharpness * z + shift);
  }
  return { probs, labels };
}

describe('fitCalibration', () => {
  it('temperature scaling lowers ECE and Brier on an over-confident model and recovers the temperature', () => {
    const fit = overConfident(1, 4000, 3);
    const cal = fitCalibration(fit.probs, fit.labels, 'temperature');
    expect(cal.method).toBe('temperature');
    expect(cal.temperature!).toBeGreaterThan(2.6);
    expect(cal.temperature!).toBeLessThan(3.4);
    // Judged on fresh data from the same model.
    const held = overConfident(2, 4000, 3);
    const before = calibrationReport(held.probs, held.labels);
    const after = calibrationReport(applyCalibrationAll(held.probs, cal), held.labels);
    console.log(`ECE ${before.ece.toFixed(4)} -> ${after.ece.toFixed(4)}, Brier ${before.brier.toFixed(4)} -> ${after.brier.toFixed(4)}`);
    expect(before.ece).toBeGreaterThan(0.08);
    expect(after.ece).toBeLessThan(before.ece / 3);
    expect(after.brier).toBeLessThan(before.brier);
    // Monotonic: the ranking, hence the AUC, is unchanged.
    expect(rocAuc(applyCalibrationAll(held.probs, cal), held.labels)).toBeCloseTo(rocAuc(held.probs, held.labels), 6);
  });

  it('Platt scaling also removes a shift of the prior (as class weighting causes)', () => {
    const fit = overConfident(3, 4000, 2, 1.5);
    const platt = fitCalibration(fit.probs, fit.labels, 'platt');
    const temperature = fitCalibration(fit.probs, fit.labels, 'temperature');
    const held = overConfident(4, 4000, 2, 1.5);
    const ece = (c: Parameters<typeof applyCalibrationAll>[1]) => calibrationReport(applyCalibrationAll(held.probs, c), held.labels).ece;
    expect(platt.slope).toBeCloseTo(0.5, 1);
    expect(platt.intercept).toBeCloseTo(-0.75, 1);
    expect(ece(platt)).toBeLessThan(0.03);
    expect(ece(platt)).toBeLessThan(ece(temperature));
    expect(ece(platt)).toBeLessThan(ece(null));
  });

  it('stays finite on perfectly separated validation scores (smoothed targets)', () => {
    const probs = [0.01, 0.02, 0.03, 0.97, 0.98, 0.99];
    const labels = [0, 0, 0, 1, 1, 1];
    for (const method of ['temperature', 'platt'] as const) {
      const c = fitCalibration(probs, labels, method);
      expect(Number.isFinite(c.slope) && Number.isFinite(c.intercept)).toBe(true);
      expect(c.slope).toBeGreaterThan(0);
    }
  });

  it('refuses validation scores of one class', () => {
    expect(() => fitCalibration([0.2, 0.4], [1, 1], 'platt')).toThrow(RangeError);
  });
});

describe('applyCalibration (the serving path calls this)', () => {
  it('is the identity without a calibration, and sigmoid(slope * logit(p) + intercept) with one', () => {
    expect(applyCalibration(0.73, undefined)).toBe(0.73);
    expect(applyCalibration(0.73, null)).toBe(0.73);
    const c = { method: 'platt' as const, slope: 0.5, intercept: 0.2 };
    expect(applyCalibration(0.73, c)).toBeCloseTo(sigmoid(0.5 * logit(0.73) + 0.2), 12);
    expect(applyCalibration(0, c)).toBeGreaterThan(0);
    expect(applyCalibration(1, c)).toBeLessThan(1);
    expect(applyCalibration(0.3, { method: 'platt', slope: Number.NaN, intercept: 0 })).toBe(0.3);
  });
});

describe('calibrationFromMetadata', () => {
  it('reads a stored calibration and ignores missing or malformed ones', () => {
    expect(calibrationFromMetadata({ calibration: { method: 'platt', slope: 0.8, intercept: -0.3, fittedOn: 'validation' } })).toEqual({
      method: 'platt',
      slope: 0.8,
      intercept: -0.3,
    });
    expect(calibrationFromMetadata({ calibration: { method: 'temperature', slope: 0.5, intercept: 0 } })?.temperature).toBe(2);
    for (const bad of [{}, null, { calibration: { method: 'none' } }, { calibration: { method: 'platt', slope: -1, intercept: 0 } }, { calibration: { method: 'platt', slope: 1 } }]) {
      expect(calibrationFromMetadata(bad)).toBeNull();
    }
  });
});
