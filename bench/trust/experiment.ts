/**
 * One row of the experiment table (docs/experiments.md): trains a recipe through runTraining (the
 * service's own use-case) on a dataset with a patient-disjoint split, then reports the
 * patient-disjoint validation and test AUC (DeLong 95% intervals) and the stress-test AUC (the
 * test split perturbed like another hospital's images, src/ml/stress.ts, plus a JPEG quality 30
 * round trip through sharp) and the minutes it took. Appends the row as JSON to
 * bench/results/trust-experiments.jsonl. The dataset is imported once per DATA_DIR and reused.
 *
 *   MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=4000000000 flock /tmp/cpu.lock \
 *     node --import tsx bench/trust/experiment.ts --data /work/shared/data/kermany-train-224.zip \
 *     --data-dir /tmp/trust-exp --input-size 128 --epochs 10 --recipe geometric
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { KERMANY_GROUP_PATTERN } from '../../src/domain/group-pattern.ts';
import { DEFAULT_TRAINING_PARAMS, resolveTrainingRequest } from '../../src/domain/training-params.ts';
import { labelling } from '../../src/domain/labelling.ts';
import { applyCalibrationAll } from '../../src/ml/calibration.ts';
import { initEngine } from '../../src/ml/engine.ts';
import { evaluateModel } from '../../src/ml/evaluate.ts';
import { evaluateBinary } from '../../src/ml/metrics.ts';
import { chooseThreshold, parseThresholdPolicy } from '../../src/ml/operating-point.ts';
import { modelFromArtifacts } from '../../src/ml/serialize.ts';
import { standardPerturbations, stressTest, type Perturbation } from '../../src/ml/stress.ts';
import { planSplit, runTraining } from '../../src/services/training.ts';
import { createDatasetStore } from '../../src/storage/dataset-store.ts';
import { createModelRegistry } from '../../src/storage/model-registry.ts';
import { flag, RESULTS_DIR } from '../train/common.ts';

const argv = process.argv.slice(2);
const data = flag(argv, 'data') ?? '/work/shared/data/kermany-train-224.zip';
const dataDir = path.resolve(flag(argv, 'data-dir') ?? '/tmp/trust-exp');
const inputSize = Number(flag(argv, 'input-size') ?? 128);
const epochs = Number(flag(argv, 'epochs') ?? 10);
const recipe = flag(argv, 'recipe') ?? 'off';
const extra = JSON.parse(flag(argv, 'params') ?? '{}') as Record<string, unknown>;
/** A labelled zip of other patients from another acquisition batch (see bench/trust/README.md: make-shift-split.py). */
const external = flag(argv, 'external');
/** Policies whose validation-chosen threshold is also scored on the external set (evidence for the default). */
const POLICIES = ['youden', 'sensitivity:0.95', 'sensitivity:0.98', 'specificity:0.9', 'specificity:0.95', 'specificity:0.98'];

const RECIPES: Record<string, Record<string, unknown>> = {
  off: {},
  geometric: { augmentation: { rotation: 10, zoom: 0.1, shift: 0.1, horizontalFlip: true } },
  'geometric+gamma': { augmentation: { rotation: 10, zoom: 0.1, shift: 0.1, horizontalFlip: true, gamma: 0.25, contrast: 0.15, brightness: 0.05 } },
};
if (!RECIPES[recipe]) throw new Error(`--recipe must be one of ${Object.keys(RECIPES).join(', ')}`);

/** JPEG quality 30 round trip (another site's compression). */
const jpeg30: Perturbation = {
  name: 'jpeg quality 30',
  applyPixels: async (pixels, count, size) => {
    const out = new Uint8Array(count * size * size);
    for (let k = 0; k < count; k++) {
      const img = Buffer.from(pixels.subarray(k * size * size, (k + 1) * size * size));
      const encoded = await sharp(img, { raw: { width: size, height: size, channels: 1 } }).jpeg({ quality: 30 }).toBuffer();
      const { data: decoded } = await sharp(encoded).greyscale().raw().toBuffer({ resolveWithObject: true });
      out.set(decoded.subarray(0, size * size), k * size * size);
    }
    return out;
  },
};

const started = performance.now();
const engine = await initEngine();
const store = createDatasetStore({ dataDir, defaultSize: inputSize });
const registry = createModelRegistry({ dataDir });
const name = path.basename(data).replace(/\.zip$/i, '');
let dataset = (await store.list()).find((d) => d.name === name && d.size === inputSize);
if (!dataset) {
  process.stderr.write(`importing ${data} at ${inputSize}x${inputSize} ...\n`);
  dataset = await store.importArchive(path.resolve(data), { name, size: inputSize, filename: path.basename(data) });
}
const importSeconds = (performance.now() - started) / 1000;
const req = resolveTrainingRequest(
  { datasetId: dataset.id, model: { inputSize, name: `exp-${recipe.replace(/[^a-z0-9-]/g, '-')}` }, epochs, groupPattern: KERMANY_GROUP_PATTERN, ...RECIPES[recipe], ...extra },
  { modelName: 'exp' },
);
process.stderr.write(`engine ${engine.name}; recipe ${recipe}; params ${JSON.stringify(req.params)}\n`);
const trainStart = performance.now();
let lastEpoch = 0;
const outcome = await runTraining({ datasets: store, registry }, req, {
  onProgress: (p) => {
    if (p.history.length > lastEpoch) {
      lastEpoch = p.history.length;
      const e = p.history.at(-1)!;
      process.stderr.write(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)} val_loss ${e.valLoss.toFixed(4)} ${e.imagesPerSecond.toFixed(0)} img/s\n`);
    }
  },
});
const trainMinutes = (performance.now() - trainStart) / 60_000;
const meta = (await registry.getVersion(outcome.name, outcome.version)).metadata as unknown as {
  evaluation: { validation: { auc: { value: number; low: number; high: number } }; test: { auc: { value: number; low: number; high: number } } };
};

// The version on its own (patient-disjoint) test split, clean and perturbed.
const images = await store.openImages(dataset.id, inputSize);
const { split } = planSplit(images.manifest, { ...DEFAULT_TRAINING_PARAMS, ...req.params });
const model = await modelFromArtifacts(await registry.loadArtifacts(outcome.name, outcome.version));
const stress = await stressTest(model, images, split.test, { perturbations: [...standardPerturbations(), jpeg30] });

// The external-shift proxy: the version scored on patients of another acquisition batch, exactly as
// serving labels them (calibrated probabilities, the stored threshold), and what each other policy's
// validation-chosen threshold would have given there.
let externalReport: Record<string, unknown> | null = null;
if (external) {
  const extName = path.basename(external).replace(/\.zip$/i, '');
  let ext = (await store.list()).find((d) => d.name === extName && d.size === inputSize);
  ext ??= await store.importArchive(path.resolve(external), { name: extName, size: inputSize, filename: path.basename(external) });
  const extImages = await store.openImages(ext.id, inputSize);
  const all = Array.from({ length: extImages.labels.length }, (_, i) => i);
  const scored = await evaluateModel(model, extImages, all, 32);
  const val = await evaluateModel(model, images, split.validation, 32);
  await extImages.close();
  const version = await registry.getVersion(outcome.name, outcome.version);
  const l = labelling(version.metadata);
  const stored = evaluateBinary(applyCalibrationAll(scored.probs, l.calibration), scored.labels, l.threshold);
  const byPolicy = POLICIES.map((policy) => {
    const t = chooseThreshold(val.probs, val.labels, parseThresholdPolicy(policy)).threshold;
    const e = evaluateBinary(scored.probs, scored.labels, t);
    return { policy, threshold: t, accuracy: e.accuracy.value, sensitivity: e.sensitivity.value, specificity: e.specificity.value };
  });
  externalReport = {
    dataset: extName,
    images: stored.count,
    auc: stored.auc,
    accuracy: stored.accuracy.value,
    sensitivity: stored.sensitivity.value,
    specificity: stored.specificity.value,
    threshold: l.threshold,
    ece: stored.calibration.ece,
    byPolicy,
  };
}
model.dispose();
await images.close();

const ci = (a: { value: number; low: number; high: number }) => `${a.value.toFixed(3)} [${a.low.toFixed(3)}, ${a.high.toFixed(3)}]`;
const row = {
  recipe,
  inputSize,
  epochs,
  bestEpoch: outcome.bestEpoch,
  params: req.params,
  grouping: outcome.grouping,
  validationAuc: meta.evaluation.validation.auc,
  testAuc: meta.evaluation.test.auc,
  stressMeanAuc: stress.meanAuc,
  stressWorst: stress.worst,
  stress: stress.perturbed.map((r) => ({ name: r.name, auc: r.auc.value })),
  operatingPoint: outcome.operatingPoint,
  external: externalReport,
  trainMinutes,
  importSeconds,
  engine: engine.name,
  at: new Date().toISOString(),
};
mkdirSync(RESULTS_DIR, { recursive: true });
appendFileSync(path.join(RESULTS_DIR, 'trust-experiments.jsonl'), `${JSON.stringify(row)}\n`);
process.stdout.write(
  `| ${recipe} (${inputSize}px, ${epochs} epochs, best ${outcome.bestEpoch}) | ${ci(meta.evaluation.validation.auc)} | ${ci(meta.evaluation.test.auc)} | ` +
    `${stress.meanAuc.toFixed(3)} (worst: ${stress.worst?.name} ${stress.worst?.auc.value.toFixed(3)}) | ${trainMinutes.toFixed(1)} |\n`,
);
if (externalReport) {
  const e = externalReport as { auc: { value: number; low: number; high: number }; accuracy: number; sensitivity: number; specificity: number; byPolicy: Array<Record<string, number | string>> };
  process.stdout.write(`external ${externalReport.dataset}: AUC ${ci(e.auc)}, at the stored threshold accuracy ${e.accuracy.toFixed(3)} sensitivity ${e.sensitivity.toFixed(3)} specificity ${e.specificity.toFixed(3)}\n`);
  for (const b of e.byPolicy)
    process.stdout.write(`  policy ${b.policy}: threshold ${Number(b.threshold).toFixed(3)} accuracy ${Number(b.accuracy).toFixed(3)} sens ${Number(b.sensitivity).toFixed(3)} spec ${Number(b.specificity).toFixed(3)}\n`);
}
for (const r of stress.perturbed) process.stdout.write(`  ${r.name}: ${r.auc.value.toFixed(3)} (${r.delta >= 0 ? '+' : ''}${r.delta.toFixed(3)})\n`);
process.exit(0);
