/**
 * runTraining with patient groups, a threshold policy and calibration, on a real dataset store
 * (generated images under Kermany-style file names, decoded by the real decoder) and real
 * tfjs-node: what the version's metadata says about how far to trust it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KERMANY_GROUP_PATTERN } from '../../src/domain/group-pattern.ts';
import { DEFAULT_TRAINING_PARAMS, type TrainingParams } from '../../src/domain/training-params.ts';
import { isAppError } from '../../src/errors.ts';
import { applyCalibration } from '../../src/ml/calibration.ts';
import { initEngine } from '../../src/ml/engine.ts';
import { IMAGE_LEVEL_SPLIT_WARNING, runTraining, type TrainingDeps } from '../../src/services/training.ts';
import { createDatasetStore, type DatasetStore } from '../../src/storage/dataset-store.ts';
import { createModelRegistry, type ModelRegistry } from '../../src/storage/model-registry.ts';
import { xrayFile } from '../helpers/image-files.ts';
import { writeZip, type ZipItem } from '../helpers/zips.ts';

let dir: string;
let store: DatasetStore;
let registry: ModelRegistry;
let deps: TrainingDeps;
let datasetId: string;
const params: TrainingParams = { ...DEFAULT_TRAINING_PARAMS, inputSize: 64, epochs: 2, batchSize: 16 };
const PATIENTS = { normal: 24, pneumonia: 30 };

/** Kermany-style names: several images per patient, one cross-patient duplicate, one name without a patient. */
async function kermanyLikeZip(file: string): Promise<{ patients: number; unmatched: number }> {
  const items: ZipItem[] = [];
  let seed = 1;
  for (let p = 0; p < PATIENTS.normal; p++) {
    const id = String(100 + p).padStart(4, '0');
    for (let k = 0; k < 1 + (p % 3); k++) {
      const name = p % 5 === 0 ? `NORMAL2-IM-${id}-000${k}` : k === 2 ? `IM-${id}-0001-000${k}` : `IM-${id}-000${k}`;
      items.push({ name: `train/NORMAL/${name}.png`, data: await xrayFile(seed++, false, 64) });
    }
  }
  for (let p = 0; p < PATIENTS.pneumonia; p++) {
    for (let k = 0; k < 1 + (p % 4); k++) {
      items.push({ name: `train/PNEUMONIA/person${p}_${k % 2 ? 'virus' : 'bacteria'}_${seed}.png`, data: await xrayFile(seed++, true, 64) });
    }
  }
  // person999's only image is byte-identical to person3's first: the store keeps one copy, and
  // the two patients must then share a split.
  const person3 = items.find((i) => i.name.includes('/person3_'))!;
  items.push({ name: 'train/PNEUMONIA/person999_virus_1.png', data: person3.data });
  items.push({ name: 'train/PNEUMONIA/scan-without-patient.png', data: await xrayFile(seed++, true, 64) });
  await writeZip(file, items);
  return { patients: PATIENTS.normal + PATIENTS.pneumonia, unmatched: 1 };
}

beforeAll(async () => {
  await initEngine();
  dir = await mkdtemp(path.join(tmpdir(), 'cxr-trust-'));
  store = createDatasetStore({ dataDir: dir, defaultSize: 64 });
  registry = createModelRegistry({ dataDir: dir });
  deps = { registry, datasets: store };
  const file = path.join(dir, 'kermany-like.zip');
  await kermanyLikeZip(file);
  datasetId = (await store.importArchive(file, { name: 'kermany-like', size: 64 })).id;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Meta {
  split: { method: string; level: string; warning?: string; groups?: { matched: number; unmatched: number; patients: Record<string, number> } };
  threshold: number;
  operatingPoint: { policy: string; threshold: number; sensitivity: number; specificity: number; calibratedThreshold?: number; scale: string };
  calibration: { method: string; slope?: number; validation: { before: { ece: number; brier: number }; after?: { ece: number; brier: number } } };
  evaluation: { test: { auc: { value: number; low: number; high: number }; sensitivity: { value: number; low: number; high: number } } };
  metrics: { test: { auc: number } };
  warnings: string[];
  params: TrainingParams;
}

describe('runTraining: trustworthy estimates', () => {
  it('splits by patient, records patients per split, chooses the threshold by policy and calibrates', async () => {
    const outcome = await runTraining(deps, {
      datasetId,
      modelName: 'trust',
      params: { ...params, groupPattern: KERMANY_GROUP_PATTERN, thresholdPolicy: 'sensitivity:0.9', calibration: 'platt' },
    });
    const meta = (await registry.getVersion('trust', outcome.version)).metadata as unknown as Meta;
    expect(meta.split.level).toBe('patient');
    expect(meta.split.warning).toBeUndefined();
    expect(meta.warnings).toEqual([]);
    const g = meta.split.groups!;
    // 54 patients named by the pattern (person999's image was a duplicate, dropped at import) + 1 image without a name
    expect(g.matched + g.unmatched).toBe(outcome.split.train + outcome.split.validation + outcome.split.test);
    expect(g.unmatched).toBe(1);
    // No patient counted in two splits: the per-split counts add up to the distinct patients exactly.
    expect(g.patients.train! + g.patients.validation! + g.patients.test!).toBe(PATIENTS.normal + PATIENTS.pneumonia + 1);
    expect(meta.operatingPoint.policy).toBe('sensitivity:0.9');
    expect(meta.operatingPoint.sensitivity).toBeGreaterThanOrEqual(0.9);
    // Stored on the model's own scale (what serving compares with); the calibrated cut is the same decision.
    expect(meta.operatingPoint.scale).toBe('model');
    expect(meta.threshold).toBe(meta.operatingPoint.threshold);
    const c = meta.calibration as unknown as { slope: number; intercept: number; method: 'platt' };
    expect(meta.operatingPoint.calibratedThreshold).toBeCloseTo(applyCalibration(meta.threshold, c), 12);
    expect(meta.calibration.method).toBe('platt');
    // Before and after on validation (that calibration lowers ECE is shown on a large over-confident set in test/unit/ml/calibration.test.ts).
    for (const q of [meta.calibration.validation.before, meta.calibration.validation.after!]) {
      expect(q.ece).toBeGreaterThanOrEqual(0);
      expect(q.ece).toBeLessThanOrEqual(1);
      expect(q.brier).toBeGreaterThanOrEqual(0);
      expect(q.brier).toBeLessThanOrEqual(1);
    }
    expect(meta.calibration.slope!).toBeGreaterThan(0);
    const auc = meta.evaluation.test.auc;
    expect(auc.low).toBeLessThanOrEqual(auc.value);
    expect(auc.high).toBeGreaterThanOrEqual(auc.value);
    expect(auc.value).toBe(meta.metrics.test.auc);
    expect(meta.params.groupPattern).toBe(KERMANY_GROUP_PATTERN);
    expect(outcome.operatingPoint.threshold).toBe(outcome.threshold);
  }, 180_000);

  it('without a group pattern says the split is by image and may be optimistic', async () => {
    const outcome = await runTraining(deps, { datasetId, modelName: 'trust-image', params: { ...params, epochs: 1, calibration: 'none' } });
    const meta = (await registry.getVersion('trust-image', outcome.version)).metadata as unknown as Meta;
    expect(meta.split.level).toBe('image');
    expect(meta.split.warning).toBe(IMAGE_LEVEL_SPLIT_WARNING);
    expect(meta.warnings).toEqual([IMAGE_LEVEL_SPLIT_WARNING]);
    expect(outcome.warnings).toEqual([IMAGE_LEVEL_SPLIT_WARNING]);
    expect(meta.calibration.method).toBe('none');
    expect(meta.operatingPoint).toMatchObject({ policy: 'sensitivity:0.95', scale: 'model' });
    expect(meta.operatingPoint.calibratedThreshold).toBeUndefined();
  }, 180_000);

  it('refuses an unsafe group pattern before training, publishing nothing', async () => {
    const err = await runTraining(deps, { datasetId, modelName: 'trust-bad', params: { ...params, groupPattern: '(a+)+$' } }).catch((e: unknown) => e);
    expect(isAppError(err) && err.code).toBe('INVALID_GROUP_PATTERN');
    expect(isAppError(err) && err.status).toBe(400);
    await expect(registry.getVersion('trust-bad', 1)).rejects.toThrow();
  });
});
