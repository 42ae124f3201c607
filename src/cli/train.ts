/**
 * `npm run train -- --data <zip|dir> [options]`: imports the dataset into DATA_DIR (default
 * ./data) through the dataset store, trains in this process with runTraining (no Redis needed),
 * shows progress on stderr (a bar on a terminal, plain lines otherwise), prints the validation and
 * test metrics and the new model version. Ctrl-C stops within one batch and publishes nothing.
 *
 * The malloc setting (src/malloc-env.ts) only works when set at process start, so when it is
 * missing this command re-runs itself once with it (same node flags, same arguments).
 */
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../config.ts';
import { hasMallocEnv, MALLOC_ENV } from '../malloc-env.ts';
import { RECOMMENDED_AUGMENTATION, type BinaryMetrics } from '../ml/types.ts';
import type { TrainingJobProgress } from '../queue/names.ts';
import { resolveTrainingRequest } from '../domain/training-params.ts';
import type { TrainingOutcome } from '../services/training.ts';
import type { DatasetManifest } from '../storage/dataset-store.ts';
import { fail, formatSeconds, intOption, numberOption, UsageError } from './args.ts';
import { abortOnSignals } from './signals.ts';

const USAGE = `Usage: npm run train -- --data <zip|dir> [options]

Trains ChestXRayNet on a zip (or folder) of class folders (NORMAL/, PNEUMONIA/, optionally under
train/ val/ test/) and publishes a new model version in DATA_DIR (default ./data).

  --data PATH               zip archive or folder to import (or --dataset ID to reuse one)
  --dataset ID              an already imported dataset
  --name NAME               model name (default: DEFAULT_MODEL_NAME, chestxraynet)
  --epochs N                1-200 (10)            --batch-size N        1-256 (16)
  --learning-rate X         (0, 1) (0.001)        --dropout X           0-0.95 (0.6)
  --seed N                  (42)                  --input-size N        64-512, multiple of 64 (256)
  --validation-split X      (0, 0.5] (0.15)       --test-split X        (0, 0.5] (0.15)
  --filter-multiplier X     (0, 8] (1)            --batch-norm          batch normalisation
  --class-weighting MODE    balanced | none (balanced)
  --early-stopping N        stop after N epochs without validation improvement (0 = off)
  --augment                 rotation 10, zoom 0.1, shift 0.1, horizontal flip, brightness 0.1, contrast 0.1, gamma 0.2
  --rotation DEG --zoom X --shift X --flip     augmentation, one by one
  --brightness X --contrast X --gamma X        intensity augmentation, 0-0.5 each
  --group-pattern REGEX     one capture group naming the patient in each image path: no patient in two
                            splits (Kermany: '(?:^|/)((?:NORMAL2-)?IM-\\d+|person\\d+)[-_][^/]*$')
  --threshold-policy P      youden | sensitivity:T | specificity:T, chosen on validation (youden)
  --calibration M           platt | temperature | none, fitted on validation (platt)
  --positive-class NAME     class folder that is the positive class (default PNEUMONIA)
  --json                    print the result as JSON on stdout
  -h, --help`;

/** Relaunches this command with the malloc setting in its environment (and exits with its code) unless it is set. */
async function relaunchWithMallocEnv(): Promise<void> {
  if (hasMallocEnv() || process.env.CXR_NO_RELAUNCH === '1') return;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, ...MALLOC_ENV, CXR_NO_RELAUNCH: '1' },
  });
  // A terminal's Ctrl-C reaches the child directly (same process group); signals sent to this
  // process alone are passed on. The child treats repeats within a second as one.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  const code = await new Promise<number>((resolve) =>
    child.once('exit', (c, signal) => resolve(c ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1))),
  );
  process.exit(code);
}

function parse() {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' },
      dataset: { type: 'string' },
      name: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'learning-rate': { type: 'string' },
      dropout: { type: 'string' },
      seed: { type: 'string' },
      'input-size': { type: 'string' },
      'validation-split': { type: 'string' },
      'test-split': { type: 'string' },
      'filter-multiplier': { type: 'string' },
      'batch-norm': { type: 'boolean' },
      'class-weighting': { type: 'string' },
      'early-stopping': { type: 'string' },
      augment: { type: 'boolean' },
      rotation: { type: 'string' },
      zoom: { type: 'string' },
      shift: { type: 'string' },
      flip: { type: 'boolean' },
      brightness: { type: 'string' },
      contrast: { type: 'string' },
      gamma: { type: 'string' },
      'group-pattern': { type: 'string' },
      'threshold-policy': { type: 'string' },
      calibration: { type: 'string' },
      'positive-class': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  return values;
}

type Options = ReturnType<typeof parse>;

/** The same request an HTTP client would send, validated by the same schema. */
function requestBody(o: Options, datasetId: string): Record<string, unknown> {
  const body: Record<string, unknown> = { datasetId };
  const num = (flag: keyof Options, key: string, int = false) => {
    const raw = o[flag];
    if (typeof raw === 'string') body[key] = int ? intOption(`--${flag}`, raw, -1e9, 1e9) : numberOption(`--${flag}`, raw);
  };
  num('epochs', 'epochs', true);
  num('batch-size', 'batchSize', true);
  num('learning-rate', 'learningRate');
  num('dropout', 'dropoutRate');
  num('seed', 'seed', true);
  num('validation-split', 'validationSplit');
  num('test-split', 'testSplit');
  num('early-stopping', 'earlyStoppingPatience', true);
  if (o['class-weighting'] !== undefined) body.classWeighting = o['class-weighting'];
  const model: Record<string, unknown> = {};
  if (o.name !== undefined) model.name = o.name;
  if (o['input-size'] !== undefined) model.inputSize = intOption('--input-size', o['input-size'], -1e9, 1e9);
  if (o['filter-multiplier'] !== undefined) model.filterMultiplier = numberOption('--filter-multiplier', o['filter-multiplier']);
  if (o['batch-norm']) model.batchNorm = true;
  if (Object.keys(model).length > 0) body.model = model;
  if (o['group-pattern'] !== undefined) body.groupPattern = o['group-pattern'];
  if (o['threshold-policy'] !== undefined) body.thresholdPolicy = o['threshold-policy'];
  if (o.calibration !== undefined) body.calibration = o.calibration;
  const aug: Record<string, unknown> = o.augment ? { ...RECOMMENDED_AUGMENTATION } : {};
  if (o.rotation !== undefined) aug.rotation = numberOption('--rotation', o.rotation);
  if (o.zoom !== undefined) aug.zoom = numberOption('--zoom', o.zoom);
  if (o.shift !== undefined) aug.shift = numberOption('--shift', o.shift);
  if (o.flip) aug.horizontalFlip = true;
  if (o.brightness !== undefined) aug.brightness = numberOption('--brightness', o.brightness);
  if (o.contrast !== undefined) aug.contrast = numberOption('--contrast', o.contrast);
  if (o.gamma !== undefined) aug.gamma = numberOption('--gamma', o.gamma);
  if (Object.keys(aug).length > 0) body.augmentation = aug;
  return body;
}

/** Progress on stderr: one redrawn line on a terminal, plain lines (epochs, phases, every 10 s) otherwise. */
function progressPrinter() {
  const tty = process.stderr.isTTY === true;
  let lastPlain = 0;
  let lastEpochs = 0;
  let lastPhase = '';
  let drawn = false;
  const clear = () => {
    if (tty && drawn) process.stderr.write('\r\x1b[K');
    drawn = false;
  };
  const num = (v: number | null | undefined, digits = 4) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '--');
  return {
    update(p: TrainingJobProgress) {
      for (const e of p.history.slice(lastEpochs)) {
        clear();
        process.stderr.write(
          `epoch ${e.epoch}/${p.epochs}  loss ${num(e.loss)}  acc ${num(e.accuracy, 3)}  val_loss ${num(e.valLoss)}  ` +
            `val_acc ${num(e.valAccuracy, 3)}  ${e.seconds.toFixed(1)}s  ${Math.round(e.imagesPerSecond)} img/s\n`,
        );
      }
      lastEpochs = p.history.length;
      if (p.phase !== lastPhase) {
        lastPhase = p.phase;
        if (p.phase !== 'training') {
          clear();
          process.stderr.write(`${p.phase}...\n`);
        }
      }
      if (p.phase !== 'training' || p.batchesPerEpoch === 0) return;
      const line =
        `epoch ${p.epoch}/${p.epochs} batch ${p.batch}/${p.batchesPerEpoch}  loss ${num(p.loss)}  acc ${num(p.accuracy, 3)}  ` +
        `${p.imagesPerSecond ? Math.round(p.imagesPerSecond) : '--'} img/s  ETA ${formatSeconds(p.etaSeconds)}`;
      if (tty) {
        const width = 24;
        const filled = Math.round((p.batch / p.batchesPerEpoch) * width);
        process.stderr.write(`\r\x1b[K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${line}`);
        drawn = true;
      } else if (Date.now() - lastPlain > 10_000) {
        lastPlain = Date.now();
        process.stderr.write(`${line}\n`);
      }
    },
    done: clear,
  };
}

function metricsTable(validation: BinaryMetrics, test: BinaryMetrics): string {
  const rows: Array<[string, (m: BinaryMetrics) => string]> = [
    ['images', (m) => String(m.count)],
    ['ROC AUC', (m) => m.auc.toFixed(4)],
    ['accuracy', (m) => m.accuracy.toFixed(4)],
    ['sensitivity', (m) => m.sensitivity.toFixed(4)],
    ['specificity', (m) => m.specificity.toFixed(4)],
    ['precision', (m) => m.precision.toFixed(4)],
    ['F1', (m) => m.f1.toFixed(4)],
    ['TP FP TN FN', (m) => `${m.confusion.tp} ${m.confusion.fp} ${m.confusion.tn} ${m.confusion.fn}`],
  ];
  const out = [`${'metric'.padEnd(14)}${'validation'.padStart(14)}${'test'.padStart(14)}`];
  for (const [name, f] of rows) out.push(`${name.padEnd(14)}${f(validation).padStart(14)}${f(test).padStart(14)}`);
  return out.join('\n');
}

function describeGrouping(g: TrainingOutcome['grouping']): string {
  if (g.method === 'image') return 'split by image (no DICOM PatientID, no --group-pattern)';
  const p = g.patients;
  return (
    `split by patient${g.fromDicom ? ` (${g.fromDicom} images by their DICOM PatientID)` : ''}: ${p ? `${p.train} / ${p.validation} / ${p.test} patients` : ''}` +
    `${g.unmatched ? `; ${g.unmatched} images matched no patient and are their own group` : ''}`
  );
}

async function importData(o: Options, config: Config, size: number): Promise<DatasetManifest> {
  const [{ createDatasetStore }, { dicomKeySecret }, { dicomPolicyOf }] = await Promise.all([
    import('../storage/dataset-store.ts'),
    import('../storage/kept-secrets.ts'),
    import('../imaging/decode.ts'),
  ]);
  const dataDir = config.dataDir;
  // The same DICOM policy and patient-key secret as the api's imports (DICOM_*, DATA_DIR/secrets).
  const dicom = dicomPolicyOf(config.dicom, dicomKeySecret(config.dicom.keySecret, dataDir));
  const store = createDatasetStore({ dataDir, defaultSize: size, dicom });
  if (o.dataset) return store.get(o.dataset);
  const source = path.resolve(o.data!);
  const info = await stat(source).catch(() => {
    throw new UsageError(`--data ${o.data}: no such file or folder`);
  });
  const opts = {
    name: path.basename(source).replace(/\.zip$/i, ''),
    size,
    ...(o['positive-class'] ? { positiveClass: o['positive-class'] } : {}),
  };
  process.stderr.write(`importing ${source} ...\n`);
  return info.isDirectory() ? store.importDirectory(source, opts) : store.importArchive(source, { ...opts, filename: path.basename(source) });
}

async function main(): Promise<void> {
  const o = parse();
  if (o.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!o.data === !o.dataset) throw new UsageError('give exactly one of --data <zip|dir> or --dataset <id>');
  const config = loadConfig(process.env);
  // Validate every option before relaunching and before the (possibly long) import.
  const probe = resolveTrainingRequest(requestBody(o, 'ds_aaaaaaaaaaaaaaaa'), { modelName: config.defaultModelName });
  await relaunchWithMallocEnv();
  // TensorFlow.js and the storage layer load only now: a refused option or the relaunching parent never pays for them.
  const [{ initEngine }, { runTraining }, { createDatasetStore }, { createModelRegistry }] = await Promise.all([
    import('../ml/engine.ts'),
    import('../services/training.ts'),
    import('../storage/dataset-store.ts'),
    import('../storage/model-registry.ts'),
  ]);
  const engine = await initEngine();
  process.stderr.write(
    `engine: ${engine.description}${engine.fallbackReason ? ` (fallback: ${engine.fallbackReason})` : ''}; ` +
      `malloc setting ${hasMallocEnv() ? 'on' : 'off'}\n`,
  );
  process.stderr.write(`data dir: ${config.dataDir}\n`);

  const manifest = await importData(o, config, probe.params.inputSize);
  const byClass = Object.entries(manifest.counts.byClass)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  process.stderr.write(
    `dataset ${manifest.id} "${manifest.name}": ${manifest.counts.images} images (${byClass})` +
      `${manifest.counts.skipped ? `, ${manifest.counts.skipped} entries skipped` : ''}\n`,
  );
  const req = resolveTrainingRequest(requestBody(o, manifest.id), { modelName: config.defaultModelName });

  const controller = abortOnSignals();

  const printer = progressPrinter();
  const registry = createModelRegistry({ dataDir: config.dataDir, defaultModel: config.defaultModelName });
  const datasets = createDatasetStore({ dataDir: config.dataDir, defaultSize: req.params.inputSize });
  let outcome;
  try {
    outcome = await runTraining({ datasets, registry }, req, { onProgress: (p) => printer.update(p), signal: controller.signal });
  } catch (err) {
    printer.done();
    if (controller.signal.aborted) {
      process.stderr.write('training cancelled: no model version was published\n');
      process.exit(130);
    }
    throw err;
  }
  printer.done();
  const { validation, test } = outcome.metrics;
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({
        model: { name: outcome.name, version: outcome.version },
        datasetId: manifest.id,
        threshold: outcome.threshold,
        operatingPoint: outcome.operatingPoint,
        calibration: outcome.calibration,
        bestEpoch: outcome.bestEpoch,
        metrics: { validation: { ...validation, roc: undefined }, test: { ...test, roc: undefined } },
        split: outcome.split,
        grouping: outcome.grouping,
        warnings: outcome.warnings,
        seconds: outcome.seconds,
      })}\n`,
    );
    return;
  }
  process.stdout.write(
    `\nsplit: ${outcome.split.train} train, ${outcome.split.validation} validation, ${outcome.split.test} test; ` +
      `best epoch ${outcome.bestEpoch}${outcome.stoppedEarly ? ' (stopped early)' : ''}; ${formatSeconds(outcome.seconds)}\n` +
      `${describeGrouping(outcome.grouping)}\n` +
      `decision threshold ${outcome.threshold.toFixed(4)} (${outcome.operatingPoint.policy === 'youden' ? "Youden's J" : outcome.operatingPoint.policy} on validation: sensitivity ` +
      `${outcome.operatingPoint.sensitivity.toFixed(3)}, specificity ${outcome.operatingPoint.specificity.toFixed(3)}` +
      `${outcome.operatingPoint.targetMet ? '' : '; target not met'})\n` +
      `calibration: ${outcome.calibration ? `${outcome.calibration.method} (slope ${outcome.calibration.slope.toFixed(3)}, intercept ${outcome.calibration.intercept.toFixed(3)})` : 'none'}\n` +
      outcome.warnings.map((w) => `warning: ${w}\n`).join('') +
      '\n' +
      `${metricsTable(validation, test)}\n\n` +
      `published model ${outcome.name} version ${outcome.version} in ${path.join(config.dataDir, 'models', outcome.name)}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => fail(err),
);
