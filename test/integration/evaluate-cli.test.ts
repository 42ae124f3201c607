/**
 * `npm run evaluate` as users run it (here `node --import tsx src/cli/evaluate.ts`, the same
 * command): a version trained in process (64x64), a zip imported by the command, the metrics
 * table with intervals, the record stored beside the version, and refusals. No Redis involved.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRAINING_PARAMS } from '../../src/domain/training-params.ts';
import { initEngine } from '../../src/ml/engine.ts';
import type { EvaluationRecord } from '../../src/services/evaluation-types.ts';
import { runTraining } from '../../src/services/training.ts';
import { createDatasetStore } from '../../src/storage/dataset-store.ts';
import { createModelRegistry } from '../../src/storage/model-registry.ts';
import { datasetZip } from '../helpers/api-archives.ts';
import { ROOT } from '../helpers/jobs-harness.ts';

let dir: string;
let dataDir: string;
const evaluationsDir = () => path.join(dataDir, 'models', 'chestxraynet', 'versions', '1', 'evaluations');

function evaluate(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/evaluate.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  await initEngine();
  dir = await mkdtemp(path.join(tmpdir(), 'cxr-evaluate-cli-'));
  dataDir = path.join(dir, 'data');
  const store = createDatasetStore({ dataDir, defaultSize: 64 });
  const train = path.join(dir, 'train.zip');
  await writeFile(train, await datasetZip({ perClass: 12, size: 64 }));
  const ds = await store.importArchive(train, { name: 'train', size: 64 });
  await runTraining(
    { datasets: store, registry: createModelRegistry({ dataDir }) },
    { datasetId: ds.id, modelName: 'chestxraynet', params: { ...DEFAULT_TRAINING_PARAMS, inputSize: 64, epochs: 1, batchSize: 8 } },
  );
  await writeFile(path.join(dir, 'site-b.zip'), await datasetZip({ perClass: 7, size: 80 }));
  await writeFile(path.join(dir, 'covid.zip'), await datasetZip({ perClass: 5, size: 64, classes: ['NORMAL', 'COVID'] }));
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm run evaluate', () => {
  let first: EvaluationRecord;

  it('imports a zip, scores every image and prints the stored record as JSON', async () => {
    const r = await evaluate(['--dataset', path.join(dir, 'site-b.zip'), '--version', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    first = JSON.parse(r.stdout) as EvaluationRecord;
    expect(first).toMatchObject({ model: 'chestxraynet', version: 1, status: 'completed', runner: 'cli', progress: { done: 14, total: 14 } });
    expect(first.result!.images).toBe(14);
    expect(first.result!.metrics.confusion.tp + first.result!.metrics.confusion.fn).toBe(7);
    expect(r.stderr).toMatch(/importing .*site-b\.zip/);
    expect(r.stderr).toContain('scored 14/14 images');
    const stored = JSON.parse(await readFile(path.join(evaluationsDir(), `${first.id}.json`), 'utf8')) as EvaluationRecord;
    expect(stored).toEqual(first);
  }, 60_000);

  it('prints the metrics with their 95% intervals for an imported dataset id', async () => {
    const r = await evaluate(['--dataset', first.dataset.id]);
    expect(r.code, r.stderr).toBe(0);
    const m = first.result!.metrics;
    const row = (name: string) => r.stdout.split('\n').find((l) => l.startsWith(name)) ?? '';
    expect(row('ROC AUC')).toContain(`${m.auc.value.toFixed(4)}   ${m.auc.low.toFixed(4)} - ${m.auc.high.toFixed(4)}`);
    expect(row('sensitivity')).toContain(`${m.sensitivity.value.toFixed(4)}   ${m.sensitivity.low.toFixed(4)} - ${m.sensitivity.high.toFixed(4)}`);
    expect(row('sensitivity').endsWith(` ${m.sensitivity.successes}/7`)).toBe(true);
    for (const name of ['accuracy', 'specificity', 'PPV', 'NPV', 'F1', 'ECE', 'Brier', 'TP FP TN FN']) expect(row(name), name).not.toBe('');
    // the same images scored again give the same numbers (a second record)
    const second = (await readdir(evaluationsDir())).filter((f) => f !== `${first.id}.json`);
    expect(second).toHaveLength(1);
    const again = JSON.parse(await readFile(path.join(evaluationsDir(), second[0]!), 'utf8')) as EvaluationRecord;
    expect(again.result!.metrics).toEqual(m);
  }, 60_000);

  it('refuses bad options, unknown datasets and other classes, storing nothing', async () => {
    const before = await readdir(evaluationsDir());
    const usage = await evaluate(['--version', '0', '--dataset', first.dataset.id]);
    expect(usage.code).toBe(2);
    expect((await evaluate([])).code).toBe(2);
    const unknown = await evaluate(['--dataset', 'ds_aaaaaaaaaaaaaaaa']);
    expect({ code: unknown.code, err: unknown.stderr }).toMatchObject({ code: 1, err: expect.stringContaining('DATASET_NOT_FOUND') });
    const noVersion = await evaluate(['--dataset', first.dataset.id, '--version', '9']);
    expect({ code: noVersion.code, err: noVersion.stderr }).toMatchObject({ code: 1, err: expect.stringContaining('VERSION_NOT_FOUND') });
    const covid = await evaluate(['--dataset', path.join(dir, 'covid.zip'), '--positive-class', 'COVID']);
    expect({ code: covid.code, err: covid.stderr }).toMatchObject({ code: 1, err: expect.stringContaining('DATASET_CLASSES_MISMATCH') });
    expect(await readdir(evaluationsDir())).toEqual(before);
  }, 90_000);
});
