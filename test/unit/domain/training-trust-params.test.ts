import { describe, expect, it } from 'vitest';
import { KERMANY_GROUP_PATTERN } from '../../../src/domain/group-pattern.ts';
import { checkTrainingParams, resolveTrainingRequest } from '../../../src/domain/training-params.ts';
import { isAppError } from '../../../src/errors.ts';

const DS = 'ds_aaaaaaaaaaaaaaaa';
const resolve = (body: Record<string, unknown>) => resolveTrainingRequest({ datasetId: DS, ...body }, { modelName: 'chestxraynet' });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isAppError(err) ? `${err.status} ${err.code}` : String(err);
  }
  return undefined;
}

describe('training parameters for trustworthy models', () => {
  it('fills thresholdPolicy and calibration, keeps groupPattern only when given', () => {
    const d = resolve({}).params;
    expect(d.thresholdPolicy).toBe('sensitivity:0.95');
    expect(d.calibration).toBe('platt');
    expect('groupPattern' in d).toBe(false);
    const p = resolve({ groupPattern: KERMANY_GROUP_PATTERN, thresholdPolicy: 'youden', calibration: 'temperature' }).params;
    expect(p).toMatchObject({ groupPattern: KERMANY_GROUP_PATTERN, thresholdPolicy: 'youden', calibration: 'temperature' });
    expect(checkTrainingParams(p)).toEqual(p);
  });

  it('refuses bad policies and calibrations with VALIDATION_FAILED', () => {
    for (const body of [{ thresholdPolicy: 'accuracy:0.9' }, { thresholdPolicy: 'sensitivity:1.0' }, { thresholdPolicy: 'specificity:0.0' }, { calibration: 'isotonic' }]) {
      expect(codeOf(() => resolve(body)), JSON.stringify(body)).toBe('400 VALIDATION_FAILED');
    }
  });

  it('refuses unsafe, malformed or miscounted group patterns with INVALID_GROUP_PATTERN, too long ones by the schema', () => {
    for (const groupPattern of ['(a+)+$', '(x', 'person\\d+', '(a)(b)']) {
      expect(codeOf(() => resolve({ groupPattern })), groupPattern).toBe('400 INVALID_GROUP_PATTERN');
    }
    expect(codeOf(() => resolve({ groupPattern: `(${'a'.repeat(300)})` }))).toBe('400 VALIDATION_FAILED');
    // A dequeued payload is re-checked the same way.
    expect(codeOf(() => checkTrainingParams({ ...resolve({}).params, groupPattern: '(a+)+$' }))).toBe('400 INVALID_GROUP_PATTERN');
  });

  it('accepts intensity augmentation within range', () => {
    expect(resolve({ augmentation: { brightness: 0.1, contrast: 0.2, gamma: 0.3 } }).params.augmentation).toMatchObject({
      brightness: 0.1,
      contrast: 0.2,
      gamma: 0.3,
    });
    expect(codeOf(() => resolve({ augmentation: { gamma: 0.9 } }))).toBe('400 VALIDATION_FAILED');
  });

  it('keeps jobs queued before these fields existed valid', () => {
    const { thresholdPolicy: _t, calibration: _c, ...old } = resolve({}).params;
    expect(checkTrainingParams(old)).toEqual(old);
  });
});
