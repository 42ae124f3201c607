import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.ts';
import {
  checkTrainingParams,
  DEFAULT_TRAINING_PARAMS,
  resolveTrainingRequest,
  previewValue,
  schemaErrors,
  TrainingJobRequestSchema,
} from '../../../src/domain/training-params.ts';

const DS = 'ds_abcdefghijklmnop';
const resolve = (body: unknown) => resolveTrainingRequest(body, { modelName: 'chestxraynet' });
const problems = (body: unknown) => schemaErrors(TrainingJobRequestSchema, body);

describe('training parameters', () => {
  it('fills the defaults of DESIGN.md', () => {
    const r = resolve({ datasetId: DS });
    expect(r).toEqual({ datasetId: DS, modelName: 'chestxraynet', params: DEFAULT_TRAINING_PARAMS });
    expect(r.params).toMatchObject({
      epochs: 10,
      batchSize: 16,
      learningRate: 1e-3,
      dropoutRate: 0.6,
      seed: 42,
      validationSplit: 0.15,
      testSplit: 0.15,
      augmentation: { rotation: 0, zoom: 0, shift: 0, horizontalFlip: false },
      classWeighting: 'balanced',
      learningRateSchedule: 'cosine',
      timeBudgetMinutes: 13,
      earlyStoppingPatience: 0,
      inputSize: 256,
      filterMultiplier: 1,
      batchNorm: true,
      thresholdPolicy: 'sensitivity:0.95',
      calibration: 'platt',
    });
  });

  it('bounds the default recipe by a time budget, and leaves explicit epochs unbounded unless asked', () => {
    expect(resolve({ datasetId: DS }).params.timeBudgetMinutes).toBe(13);
    expect(resolve({ datasetId: DS, epochs: 30 }).params.timeBudgetMinutes).toBe(0);
    expect(resolve({ datasetId: DS, epochs: 30, timeBudgetMinutes: 5 }).params.timeBudgetMinutes).toBe(5);
    expect(() => resolve({ datasetId: DS, timeBudgetMinutes: -1 })).toThrow();
  });

  it('takes every parameter, the model name and its architecture options', () => {
    const r = resolve({
      datasetId: DS,
      model: { name: 'variant-2', inputSize: 128, filterMultiplier: 2, batchNorm: true },
      epochs: 200,
      batchSize: 256,
      learningRate: 0.5,
      dropoutRate: 0.95,
      seed: 0,
      validationSplit: 0.5,
      testSplit: 0.01,
      augmentation: { rotation: 45, zoom: 0.5, shift: 0.5, horizontalFlip: true },
      classWeighting: 'none',
      learningRateSchedule: 'cosine',
      timeBudgetMinutes: 20,
      earlyStoppingPatience: 100,
    });
    expect(r.modelName).toBe('variant-2');
    expect(r.params).toEqual({
      epochs: 200,
      batchSize: 256,
      learningRate: 0.5,
      dropoutRate: 0.95,
      seed: 0,
      validationSplit: 0.5,
      testSplit: 0.01,
      augmentation: { rotation: 45, zoom: 0.5, shift: 0.5, horizontalFlip: true },
      classWeighting: 'none',
      learningRateSchedule: 'cosine',
      timeBudgetMinutes: 20,
      earlyStoppingPatience: 100,
      inputSize: 128,
      filterMultiplier: 2,
      batchNorm: true,
      thresholdPolicy: 'sensitivity:0.95',
      calibration: 'platt',
    });
    // Partial augmentation keeps the other fields off.
    expect(resolve({ datasetId: DS, augmentation: { horizontalFlip: true } }).params.augmentation).toEqual({
      rotation: 0,
      zoom: 0,
      shift: 0,
      horizontalFlip: true,
    });
  });

  const invalid: Array<[string, Record<string, unknown>, RegExp]> = [
    ['epochs 0', { epochs: 0 }, /\/epochs: must be an integer >= 1 and <= 200/],
    ['epochs 201', { epochs: 201 }, /\/epochs/],
    ['epochs 2.5', { epochs: 2.5 }, /\/epochs/],
    ['epochs as a string', { epochs: '10' }, /\/epochs/],
    ['batchSize 0', { batchSize: 0 }, /\/batchSize/],
    ['batchSize 257', { batchSize: 257 }, /\/batchSize/],
    ['learningRate 0', { learningRate: 0 }, /\/learningRate: must be a number > 0 and < 1/],
    ['learningRate 1', { learningRate: 1 }, /\/learningRate/],
    ['learningRate negative', { learningRate: -0.1 }, /\/learningRate/],
    ['dropoutRate 0.96', { dropoutRate: 0.96 }, /\/dropoutRate/],
    ['dropoutRate -0.1', { dropoutRate: -0.1 }, /\/dropoutRate/],
    ['seed negative', { seed: -1 }, /\/seed/],
    ['seed 2^32', { seed: 2 ** 32 }, /\/seed/],
    ['seed fractional', { seed: 1.5 }, /\/seed/],
    ['validationSplit 0', { validationSplit: 0 }, /\/validationSplit/],
    ['validationSplit 0.6', { validationSplit: 0.6 }, /\/validationSplit/],
    ['testSplit 0', { testSplit: 0 }, /\/testSplit/],
    ['testSplit 0.51', { testSplit: 0.51 }, /\/testSplit/],
    ['rotation 46', { augmentation: { rotation: 46 } }, /\/augmentation\/rotation/],
    ['zoom 0.6', { augmentation: { zoom: 0.6 } }, /\/augmentation\/zoom/],
    ['shift -0.1', { augmentation: { shift: -0.1 } }, /\/augmentation\/shift/],
    ['horizontalFlip as a string', { augmentation: { horizontalFlip: 'yes' } }, /\/augmentation\/horizontalFlip/],
    ['unknown augmentation field', { augmentation: { vflip: true } }, /\/augmentation\/vflip: unexpected property/],
    ['classWeighting other', { classWeighting: 'auto' }, /\/classWeighting: must be one of "balanced", "none"/],
    ['earlyStoppingPatience 101', { earlyStoppingPatience: 101 }, /\/earlyStoppingPatience/],
    ['inputSize 100', { model: { inputSize: 100 } }, /\/model\/inputSize: .*multiple of 64/],
    ['inputSize 0', { model: { inputSize: 0 } }, /\/model\/inputSize/],
    ['inputSize 576', { model: { inputSize: 576 } }, /\/model\/inputSize/],
    ['filterMultiplier 0', { model: { filterMultiplier: 0 } }, /\/model\/filterMultiplier/],
    ['filterMultiplier 9', { model: { filterMultiplier: 9 } }, /\/model\/filterMultiplier/],
    ['batchNorm as a number', { model: { batchNorm: 1 } }, /\/model\/batchNorm/],
    ['model name with capitals', { model: { name: 'Bad Name' } }, /\/model\/name: must match/],
    ['unknown model field', { model: { layers: 3 } }, /\/model\/layers: unexpected property/],
    ['unknown top-level field', { epoch: 3 }, /\/epoch: unexpected property/],
  ];

  it.each(invalid)('refuses %s', (_name, fields, message) => {
    const errors = problems({ datasetId: DS, ...fields });
    expect(errors.join('\n')).toMatch(message);
    expect(() => resolve({ datasetId: DS, ...fields })).toThrow(AppError);
    try {
      resolve({ datasetId: DS, ...fields });
    } catch (err) {
      expect((err as AppError).code).toBe('VALIDATION_FAILED');
      expect((err as AppError).status).toBe(400);
      expect((err as AppError).details?.errors).toEqual(errors);
    }
  });

  it('refuses a missing or malformed dataset id and a body that is not an object', () => {
    expect(problems({})).toEqual(['/datasetId: is required']);
    expect(problems({ datasetId: '../etc' })[0]).toMatch(/\/datasetId: must match/);
    expect(problems({ datasetId: 7 })[0]).toMatch(/\/datasetId/);
    for (const body of [null, [], 'x', 3, undefined]) expect(problems(body)).toHaveLength(1);
  });

  it('names every problem, not only the first', () => {
    expect(problems({ datasetId: DS, epochs: 0, batchSize: 0, foo: 1 })).toHaveLength(3);
  });

  it('re-checks a dequeued payload', () => {
    expect(checkTrainingParams(DEFAULT_TRAINING_PARAMS)).toEqual(DEFAULT_TRAINING_PARAMS);
    expect(() => checkTrainingParams({ ...DEFAULT_TRAINING_PARAMS, epochs: 0 })).toThrow(/epochs/);
    expect(() => checkTrainingParams({ ...DEFAULT_TRAINING_PARAMS, inputSize: 65 })).toThrow(/inputSize/);
    expect(() => checkTrainingParams({ epochs: 3 })).toThrow(/VALIDATION|required|Invalid/);
  });

  it('never quotes a client value whole in a message', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    const huge = 'y'.repeat(1_000_000);
    for (const body of [{ datasetId: deep }, { datasetId: huge }, { datasetId: DS, classWeighting: huge }, { datasetId: DS, epochs: deep }]) {
      let message = '';
      try {
        resolve(body);
      } catch (err) {
        message = (err as AppError).message;
      }
      expect(message).toMatch(/^Invalid training job: /);
      expect(message.length).toBeLessThan(300);
    }
  });

  it('previews values by kind, strings cut', () => {
    expect(previewValue(500)).toBe('500');
    expect(previewValue('abc')).toBe('"abc"');
    expect(previewValue('z'.repeat(100))).toBe(`"${'z'.repeat(40)}..." (100 characters)`);
    expect(previewValue([[1]])).toBe('an array of 1 item');
    expect(previewValue({ a: 1 })).toBe('an object');
    expect(previewValue(null)).toBe('null');
  });
});
