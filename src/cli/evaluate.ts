/**
 * `npm run evaluate -- --model NAME --version N --dataset <id|zip|dir> [--group-pattern RE] [--json]`
 * (until package.json has the script: `npx tsx src/cli/evaluate.ts ...`): scores every image of a
 * labelled dataset with a model version in this process, with the same use-case the worker runs
 * (src/services/evaluation-run.ts: preprocessing, calibration and threshold as serving), shows
 * progress on stderr and prints the metrics with their 95% intervals. No Redis is needed. The
 * record is stored beside the version like a queued evaluation's (`runner: "cli"`), so the API
 * lists it. A zip or folder is imported into DATA_DIR first (as `npm run train -- --data` does).
 * Ctrl-C stops between batches and records the evaluation as failed.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { isDatasetId } from '../domain/ids.ts';
import { randomId } from '../domain/random-id.ts';
import type { Proportion } from '../ml/metrics.ts';
import type { EvaluationRecord } from '../services/evaluation-types.ts';
import type { DatasetManifest } from '../storage/dataset-store.ts';
import { fail, intOption, UsageError } from './args.ts';
import { abortOnSignals } from './signals.ts';

const USAGE = `Usage: npm run evaluate -- --dataset <dataset id | zip | folder> [options]
       (or: npx tsx src/cli/evaluate.ts --dataset ...)

Scores every image of a labelled dataset (class folders, as for training) with a model version,
calibrated and thresholded as the API serves it, and prints the metrics with 95% intervals. The
evaluation is stored beside the version in DATA_DIR (the API lists it).

  --model NAME          model name (default: DEFAULT_MODEL_NAME, chestxraynet)
  --version N           the version (default: the 'production' alias, else the latest)
  --alias A             the version an alias points at
  --dataset X           an imported dataset id (ds_...), or a zip or folder to import first
  --group-pattern RE    one capture group naming the patient in each image path: counts patients
  --positive-class C    class folder that is the positive class, when importing (default PNEUMONIA)
  --json                print the stored record as JSON on stdout
  -h, --help`;

function parse() {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      version: { type: 'string' },
      alias: { type: 'string' },
      dataset: { type: 'string' },
      'group-pattern': { type: 'string' },
      'positive-class': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  return values;
}

const f4 = (x: number) => x.toFixed(4);
const interval = (low: number, high: number) => `${f4(low)} - ${f4(high)}`;
const rate = (p: Proportion) => [f4(p.value), interval(p.low, p.high), `${p.successes}/${p.trials}`] as const;

/** The metrics table: value, 95% interval, and the counts behind each proportion. */
function metricsReport(rec: EvaluationRecord): string {
  const r = rec.result!;
  const m = r.metrics;
  const rows: (readonly [string, string, string, string])[] = [
    ['ROC AUC', f4(m.auc.value), interval(m.auc.low, m.auc.high), `DeLong, SE ${f4(m.auc.standardError)}`],
    ['accuracy', ...rate(m.accuracy)],
    ['sensitivity', ...rate(m.sensitivity)],
    ['specificity', ...rate(m.specificity)],
    ['PPV', ...rate(m.ppv)],
    ['NPV', ...rate(m.npv)],
    ['F1', f4(m.f1), '', ''],
    ['log loss', f4(m.logLoss), '', ''],
    ['ECE', f4(m.calibration.ece), '', `${m.calibration.bins.length} bins`],
    ['Brier', f4(m.calibration.brier), '', ''],
  ];
  const out = [`${'metric'.padEnd(13)}${'value'.padStart(8)}   ${'95% interval'.padEnd(17)}  counts`];
  for (const [name, value, ci, note] of rows) out.push(`${name.padEnd(13)}${value.padStart(8)}   ${ci.padEnd(17)}  ${note}`.trimEnd());
  const c = m.confusion;
  out.push(`${'TP FP TN FN'.padEnd(13)}${`${c.tp} ${c.fp} ${c.tn} ${c.fn}`.padStart(8)}`);
  return out.join('\n');
}

async function main(): Promise<void> {
  const o = parse();
  if (o.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!o.dataset) throw new UsageError('give --dataset <dataset id | zip | folder>');
  if (o.version !== undefined && o.alias !== undefined) throw new UsageError('give --version or --alias, not both');
  const config = loadConfig(process.env);
  const name = o.model ?? config.defaultModelName;
  const version = o.version === undefined ? undefined : intOption('--version', o.version, 1, Number.MAX_SAFE_INTEGER);
  if (o['group-pattern'] !== undefined) {
    const { compileGroupPattern } = await import('../domain/group-pattern.ts');
    compileGroupPattern(o['group-pattern']);
  }

  // TensorFlow.js and storage load only now: a refused option never pays for them.
  const [{ initEngine }, { runEvaluation }, { checkEvaluationClasses }, { labelling }, { createDatasetStore }, { createEvaluationStore }, { createModelRegistry }] =
    await Promise.all([
      import('../ml/engine.ts'),
      import('../services/evaluation-run.ts'),
      import('../services/evaluation-scoring.ts'),
      import('../domain/labelling.ts'),
      import('../storage/dataset-store.ts'),
      import('../storage/evaluation-store.ts'),
      import('../storage/model-registry.ts'),
    ]);
  const registry = createModelRegistry({ dataDir: config.dataDir, defaultModel: config.defaultModelName });
  const v = await registry.resolve(name, { ...(version !== undefined ? { version } : {}), ...(o.alias ? { alias: o.alias } : {}) });
  const info = await registry.getVersion(name, v);
  const declared = (info.metadata.modelOptions as { inputSize?: unknown } | undefined)?.inputSize;
  const size = typeof declared === 'number' && Number.isInteger(declared) ? declared : 256;
  const datasets = createDatasetStore({ dataDir: config.dataDir, defaultSize: size, limits: { maxImagePixels: config.limits.imagePixels } });

  let manifest: DatasetManifest;
  if (isDatasetId(o.dataset)) {
    manifest = await datasets.get(o.dataset);
  } else {
    const source = path.resolve(o.dataset);
    const found = await stat(source).catch(() => {
      throw new UsageError(`--dataset ${o.dataset}: not a dataset id (ds_...) and no such file or folder`);
    });
    const opts = { name: path.basename(source).replace(/\.zip$/i, ''), size, ...(o['positive-class'] ? { positiveClass: o['positive-class'] } : {}) };
    process.stderr.write(`importing ${source} ...\n`);
    manifest = found.isDirectory() ? await datasets.importDirectory(source, opts) : await datasets.importArchive(source, { ...opts, filename: path.basename(source) });
  }
  // Refused before anything is stored (the worker checks again).
  checkEvaluationClasses(manifest, labelling(info.metadata).classNames);
  const byClass = Object.entries(manifest.counts.byClass)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const engine = await initEngine();
  process.stderr.write(
    `model ${name} version ${v}; dataset ${manifest.id} "${manifest.name}": ${manifest.counts.images} images (${byClass}); engine ${engine.description}\n`,
  );

  const store = createEvaluationStore<EvaluationRecord>({ dataDir: config.dataDir });
  const id = randomId('ev_');
  const createdAt = new Date().toISOString();
  const groupPattern = o['group-pattern'];
  await store.create(name, v, {
    id,
    model: name,
    version: v,
    dataset: { id: manifest.id, name: manifest.name, contentHash: manifest.contentHash },
    status: 'queued',
    ...(groupPattern !== undefined ? { groupPattern } : {}),
    runner: 'cli',
    createdAt,
    progress: { done: 0, total: manifest.counts.images },
  });

  const controller = abortOnSignals();

  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  const onProgress = (done: number, total: number) => {
    const line = `scored ${done}/${total} images`;
    if (tty) process.stderr.write(`\r\x1b[K${line}`);
    else if (done === total || Date.now() - lastLine > 10_000) {
      lastLine = Date.now();
      process.stderr.write(`${line}\n`);
    }
  };
  let rec: EvaluationRecord;
  try {
    rec = await runEvaluation(
      { registry, datasets, store },
      { evaluationId: id, modelName: name, version: v, datasetId: manifest.id, ...(groupPattern !== undefined ? { groupPattern } : {}), submittedAt: createdAt },
      { signal: controller.signal, onProgress },
    );
  } catch (err) {
    if (tty) process.stderr.write('\n');
    if (controller.signal.aborted) {
      process.stderr.write(`evaluation ${id} stopped; recorded as failed\n`);
      process.exit(130);
    }
    throw err;
  }
  if (tty) process.stderr.write('\n');
  if (o.json) {
    process.stdout.write(`${JSON.stringify(rec)}\n`);
    return;
  }
  const r = rec.result!;
  process.stdout.write(
    `\nevaluation ${rec.id}: model ${name} version ${v} on ${r.images} images` +
      `${r.patients !== undefined ? ` (${r.patients} patients${r.grouping?.unmatched ? `, ${r.grouping.unmatched} images matched no patient` : ''})` : ''}\n` +
      `decision threshold ${f4(r.threshold)} on ${r.calibrated ? 'calibrated' : 'model'} probabilities (the version's operating point, as the API serves it)\n` +
      `positives ${r.metrics.positives}, negatives ${r.metrics.negatives}\n\n` +
      `${metricsReport(rec)}\n\n` +
      `stored in ${path.join(config.dataDir, 'models', name, 'versions', String(v), 'evaluations', `${rec.id}.json`)}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => fail(err),
);
