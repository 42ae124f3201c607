import { describe, expect, it } from 'vitest';
import { DEFAULT_THRESHOLD, labelling, labelOf } from '../../../src/domain/labelling.ts';
import { applyCalibration } from '../../../src/ml/calibration.ts';

describe('labelling', () => {
  const platt = { method: 'platt', slope: 0.6, intercept: -0.4 };

  it('serves the calibrated probability with the threshold moved onto the same scale', () => {
    const l = labelling({ classNames: ['NORMAL', 'PNEUMONIA'], threshold: 0.7, calibration: platt });
    expect(l.rawThreshold).toBe(0.7);
    expect(l.threshold).toBeCloseTo(applyCalibration(0.7, l.calibration), 12);
    const out = labelOf(l, 0.9);
    expect(out.probability).toBeCloseTo(applyCalibration(0.9, l.calibration), 12);
    expect(out.probability).not.toBeCloseTo(0.9, 3);
    expect(out.threshold).toBe(l.threshold);
  });

  it('labels exactly as the stored operating point does, on either side of it', () => {
    const l = labelling({ threshold: 0.7, calibration: platt });
    for (let i = 0; i <= 1000; i++) {
      const p = i / 1000;
      const out = labelOf(l, p);
      expect(out.label).toBe(p >= 0.7 ? 'PNEUMONIA' : 'NORMAL');
      // The client can check a label against the threshold it is given, on the scale it is given.
      expect(out.probability >= out.threshold).toBe(p >= 0.7);
    }
  });

  it('passes probabilities through for versions without a usable calibration', () => {
    for (const calibration of [undefined, null, { method: 'none' }, { method: 'platt', slope: Number.NaN, intercept: 0 }, { method: 'platt', slope: -1, intercept: 0 }]) {
      const l = labelling({ threshold: 0.3, calibration });
      expect(labelOf(l, 0.25)).toEqual({ probability: 0.25, label: 'NORMAL', threshold: 0.3 });
    }
  });

  it('falls back to the defaults for unusable metadata', () => {
    const l = labelling({ classNames: ['only-one'], threshold: 7 });
    expect(l.classNames).toEqual(['NORMAL', 'PNEUMONIA']);
    expect(l.threshold).toBe(DEFAULT_THRESHOLD);
  });
});
