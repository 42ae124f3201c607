/**
 * The model card and the promotion guard over real HTTP, on a real registry and dataset store:
 * the card of a version trained here (64x64, one epoch, real tfjs-node) from a dataset with a
 * hostile name, with and without external evaluations, and of a version with old metadata; the
 * guard refusing a worse production version (and yielding to force, to better versions and to
 * versions without a dataset in common); the alias history of every move, with who made it.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRAINING_PARAMS } from '../../src/domain/training-params.ts';
import { initEngine } from '../../src/ml/engine.ts';
import { evaluateBinary, type BinaryEvaluation } from '../../src/ml/metrics.ts';
import type { EvaluationRecord } from '../../src/services/evaluation-types.ts';
import { escapeMarkdown } from '../../src/services/model-card-markdown.ts';
import { IMAGE_LEVEL_SPLIT_WARNING, runTraining } from '../../src/services/training.ts';
import { startHarness, type Harness } from '../helpers/api-harness.ts';
import { writeZip, xrayItems } from '../helpers/zips.ts';

const HOSTILE = 'x</td><script>alert(1)</script>\n# Owned [c](javascript:alert(1)) | y | www.e.example';
const ADMIN_KEY = 'admin-key-0123456789abcdef';
const PREDICT_KEY = 'predict-key-0123456789abcdef';

let h: Harness;

const ROOT = path.resolve(import.meta.dirname, '../..');

/** `npx tsx src/cli/card.ts ...` against the harness's DATA_DIR. */
function cardCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), ['src/cli/card.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: h.dataDir, LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function artifacts() {
  return { modelJson: { format: 'layers-model', modelTopology: {}, weightsManifest: [{ paths: ['weights.bin'], weights: [] }] }, weights: new Uint8Array([1, 2, 3, 4]) };
}

/** Metrics of generated scores: `shift` sets how well they separate the classes (0: not at all). */
function metricsFor(shift: number, seed: number, n = 400): BinaryEvaluation {
  let a = seed;
  const next = () => {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    return a / 4294967296;
  };
  const probs = new Float32Array(n);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3 === 0 ? 1 : 0;
    probs[i] = Math.min(1, next() * (1 - shift) + (labels[i] ? shift : 0));
  }
  return evaluateBinary(probs, labels, 0.5);
}

/** Writes an evaluation record where the evaluations resource keeps them. */
async function writeEvaluation(model: string, version: number, id: string, datasetId: string, metrics: BinaryEvaluation, createdAt: string, name = datasetId): Promise<EvaluationRecord> {
  const record: EvaluationRecord = {
    id,
    model,
    version,
    dataset: { id: datasetId, name, contentHash: `${datasetId.slice(3)}`.padEnd(64, '0') },
    status: 'completed',
    createdAt,
    finishedAt: createdAt,
    result: { images: metrics.count, threshold: metrics.threshold, calibrated: true, metrics },
  };
  const dir = path.join(h.dataDir, 'models', model, 'versions', String(version), 'evaluations');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${id}.json`), JSON.stringify(record));
  return record;
}

beforeAll(async () => {
  h = await startHarness(import.meta.url);
  await initEngine();
  const zip = path.join(h.dataDir, 'hostile.zip');
  await writeZip(zip, await xrayItems({ NORMAL: 14, PNEUMONIA: 14 }, { size: 64 }));
  const dataset = await h.store.importArchive(zip, { name: HOSTILE, size: 64 });
  await runTraining(
    { registry: h.registry, datasets: h.store },
    { datasetId: dataset.id, modelName: 'carded', params: { ...DEFAULT_TRAINING_PARAMS, inputSize: 64, epochs: 1, batchSize: 8 } },
  );
}, 120_000);

afterAll(async () => {
  await h?.close();
});

interface Card {
  model: { name: string; version: number };
  trainingData: { dataset: { id: string; name: string; contentHash: string; images: number }; split: { level: string; description: string; images: { test: number } } };
  internalEvaluation: { test: { auc: { value: number; low: number; high: number }; sensitivity: { low: number } } };
  externalEvaluations: { id: string; status: string; metrics: { auc: { value: number; low: number; high: number } } | null }[];
  operatingPoint: { policy: string; threshold: number; validationSensitivity: number };
  calibration: { method: string; validation: { before: { ece: number } } };
  software: { engine: { name: string }; libraries: { name: string; value: string }[] };
  warnings: string[];
  notRecorded: string[];
}

describe('GET /v1/models/{name}/versions/{v}/card', () => {
  it('answers the JSON card of a trained version, from its metadata', async () => {
    const res = await h.http.get('/v1/models/carded/versions/1/card').expect(200);
    expect(res.headers['content-type']).toContain('application/json');
    expect(res.headers.vary).toContain('Accept');
    const card = res.body as Card;
    const meta = (await h.registry.getVersion('carded', 1)).metadata as unknown as {
      dataset: { id: string; contentHash: string };
      evaluation: { test: { auc: { value: number; low: number; high: number } } };
      threshold: number;
      split: { test: number };
    };
    expect(card.model).toMatchObject({ name: 'carded', version: 1 });
    expect(card.trainingData.dataset).toMatchObject({ id: meta.dataset.id, name: HOSTILE, contentHash: meta.dataset.contentHash, images: 28 });
    expect(card.trainingData.split).toMatchObject({ level: 'image', description: IMAGE_LEVEL_SPLIT_WARNING, images: { test: meta.split.test } });
    expect(card.internalEvaluation.test.auc).toEqual({ value: meta.evaluation.test.auc.value, low: meta.evaluation.test.auc.low, high: meta.evaluation.test.auc.high });
    expect(card.operatingPoint).toMatchObject({ policy: 'sensitivity:0.95', threshold: meta.threshold });
    expect(card.calibration.method).toBe('platt');
    expect(card.software.engine.name).toBe('tensorflow');
    expect(card.software.libraries.map((l) => l.name)).toEqual(expect.arrayContaining(['node', 'tfjs-core']));
    expect(card.externalEvaluations).toEqual([]);
    expect(card.warnings).toEqual(expect.arrayContaining([IMAGE_LEVEL_SPLIT_WARNING, 'no external evaluation: how the model does on patients from elsewhere is unknown']));
    expect(card.notRecorded).toEqual([]);
  });

  it('answers Markdown for Accept: text/markdown, with the hostile dataset name escaped', async () => {
    const res = await h.http.get('/v1/models/carded/versions/1/card').set('accept', 'text/markdown').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/markdown; charset=utf-8/);
    const md = res.text;
    expect(md).toMatch(/^# Model card: carded version 1\n/);
    for (const heading of ['Intended use', 'Training data', 'Parameters', 'Internal evaluation', 'External evaluations', 'Operating point', 'Calibration', 'Limitations', 'Engine and libraries']) {
      expect(md).toContain(`\n## ${heading}\n`);
    }
    expect(md).toContain(escapeMarkdown(HOSTILE));
    expect(md).not.toContain('<');
    expect(md).not.toMatch(/^#+ Owned/m);
    expect(md).not.toMatch(/(^|[^\\])\]\(/m);
    expect(md).toContain('Not for diagnosis');
    expect(md).toContain('image-level split\\: the estimate may be optimistic');
    const json = (await h.http.get('/v1/models/carded/versions/1/card').expect(200)).body as Card;
    const auc = json.internalEvaluation.test.auc;
    expect(md).toContain(`${auc.value.toFixed(3)} (95% CI ${auc.low.toFixed(3)} to ${auc.high.toFixed(3)})`);
    // JSON when the client prefers it, or sends only */*; Markdown for text/* (JSON is not text/*).
    for (const [accept, type] of [['application/json, text/markdown;q=0.5', 'application/json'], ['*/*', 'application/json'], ['text/*', 'text/markdown'], ['text/markdown;q=0.9, application/json;q=0.1', 'text/markdown']]) {
      const other = await h.http.get('/v1/models/carded/versions/1/card').set('accept', accept!).expect(200);
      expect(other.headers['content-type'], accept).toContain(type);
    }
  });

  it('lists external evaluations with their intervals, newest first, skipping files that are not records', async () => {
    const older = await writeEvaluation('carded', 1, 'ev_aaaaaaaaaaaaaaaa', 'ds_siteaaaaaaaaaaaaa', metricsFor(0.3, 1), '2026-03-01T00:00:00.000Z', 'site A');
    const newer = await writeEvaluation('carded', 1, 'ev_bbbbbbbbbbbbbbbb', 'ds_sitebbbbbbbbbbbbb', metricsFor(0.5, 2), '2026-03-02T00:00:00.000Z', 'site B [x](y)');
    const dir = path.join(h.dataDir, 'models', 'carded', 'versions', '1', 'evaluations');
    await writeFile(path.join(dir, 'ev_broken.json'), '{"id": "ev_broken", "status": "comp');
    await writeFile(path.join(dir, 'ev_wrong.json'), JSON.stringify({ ...older, id: 'ev_wrong', result: { images: 1 } }));
    const card = (await h.http.get('/v1/models/carded/versions/1/card').expect(200)).body as Card;
    expect(card.externalEvaluations.map((e) => e.id)).toEqual([newer.id, older.id]);
    const auc = newer.result!.metrics.auc;
    expect(card.externalEvaluations[0]!.metrics!.auc).toEqual({ value: auc.value, low: auc.low, high: auc.high });
    expect(card.warnings).not.toContain('no external evaluation: how the model does on patients from elsewhere is unknown');
    const md = (await h.http.get('/v1/models/carded/versions/1/card').set('accept', 'text/markdown').expect(200)).text;
    expect(md).toContain(`${auc.value.toFixed(3)} (95% CI ${auc.low.toFixed(3)} to ${auc.high.toFixed(3)})`);
    expect(md).toContain('site B \\[x\\](y)');
  });

  it('renders versions with old metadata, saying what was not recorded', async () => {
    const { version } = await h.registry.publish('legacy', artifacts(), {
      kind: 'ChestXRayNet',
      dataset: { id: 'ds_m5xw2ct7ja4kq6ne', name: 'rsna-subset', images: 1200 },
      threshold: 0.4912,
      metrics: { test: { count: 200, auc: 0.8736, accuracy: 0.805, sensitivity: 0.83, specificity: 0.78, precision: 0.7905, f1: 0.8098, threshold: 0.4912 } },
    });
    const card = (await h.http.get(`/v1/models/legacy/versions/${version}/card`).expect(200)).body as Card;
    expect(card.notRecorded).toEqual(expect.arrayContaining(['trainingData.dataset.contentHash', 'trainingData.split.level', 'calibration', 'software.engine']));
    expect(card.internalEvaluation.test.auc).toEqual({ value: 0.8736, low: null, high: null });
    const md = (await h.http.get(`/v1/models/legacy/versions/${version}/card`).set('accept', 'text/markdown').expect(200)).text;
    expect(md).toContain('- Content hash: not recorded');
    expect(md).toContain('0.874 (95% CI not recorded)');
    expect(md).toContain('- Engine: not recorded');
  });

  it('is printed by the command line exactly as the API answers it', async () => {
    const md = (await h.http.get('/v1/models/carded/versions/1/card').set('accept', 'text/markdown').expect(200)).text;
    const json = (await h.http.get('/v1/models/carded/versions/1/card').expect(200)).body as unknown;
    const [text, asJson, missing, usage] = await Promise.all([
      cardCli(['--model', 'carded', '--version', '1']),
      cardCli(['--model', 'carded', '--version', '1', '--json']),
      cardCli(['--model', 'carded', '--version', '7']),
      cardCli(['--model', 'carded', '--version', 'x']),
    ]);
    expect(text).toMatchObject({ code: 0, stdout: md });
    expect(asJson.code).toBe(0);
    expect(JSON.parse(asJson.stdout)).toEqual(json);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('VERSION_NOT_FOUND');
    expect(usage.code).toBe(2);
  }, 60_000);

  it('is 404 for unknown models and versions, 400 for malformed ones', async () => {
    expect((await h.http.get('/v1/models/carded/versions/9/card').expect(404)).body.error.code).toBe('VERSION_NOT_FOUND');
    expect((await h.http.get('/v1/models/nope/versions/1/card').expect(404)).body.error.code).toBe('MODEL_NOT_FOUND');
    expect((await h.http.get('/v1/models/carded/versions/0x1/card').expect(400)).body.error.code).toBe('VALIDATION_FAILED');
  });
});

interface HistoryEntry {
  alias: string;
  action: string;
  from: number | null;
  to: number | null;
  by: { name: string; role: string | null };
  forced: boolean;
  guard?: { outcome: string; datasets?: string[] };
  at: string;
}
const history = async (model: string, limit?: number): Promise<HistoryEntry[]> =>
  (await h.http.get(`/v1/models/${model}/aliases/history${limit ? `?limit=${limit}` : ''}`).expect(200)).body.entries as HistoryEntry[];

describe('the promotion guard on PUT /v1/models/{name}/aliases/production', () => {
  const strong = metricsFor(0.6, 3);
  const weak = metricsFor(0.05, 4);
  let prodEval: EvaluationRecord;
  let weakEval: EvaluationRecord;

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) await h.registry.publish('guarded', artifacts(), {});
    prodEval = await writeEvaluation('guarded', 1, 'ev_paaaaaaaaaaaaaaa', 'ds_xxxxxxxxxxxxxxxx', strong, '2026-04-01T00:00:00.000Z');
    // An older, better evaluation of version 2 on the same dataset: only the latest counts.
    await writeEvaluation('guarded', 2, 'ev_c2oldaaaaaaaaaaa', 'ds_xxxxxxxxxxxxxxxx', strong, '2026-04-01T00:00:00.000Z');
    weakEval = await writeEvaluation('guarded', 2, 'ev_c2aaaaaaaaaaaaaa', 'ds_xxxxxxxxxxxxxxxx', weak, '2026-04-02T00:00:00.000Z');
    await writeEvaluation('guarded', 3, 'ev_c3aaaaaaaaaaaaaa', 'ds_yyyyyyyyyyyyyyyy', weak, '2026-04-02T00:00:00.000Z');
    expect(weak.auc.high).toBeLessThan(strong.auc.value);
  });

  it('refuses a version worse beyond its interval with 409 and both numbers; the alias stays', async () => {
    await h.http.put('/v1/models/guarded/aliases/production').send({ version: 1 }).expect(200);
    const res = await h.http.put('/v1/models/guarded/aliases/production').send({ version: 2 }).expect(409);
    expect(res.body.error.code).toBe('PROMOTION_WORSE');
    const { message, details } = res.body.error as { message: string; details: Record<string, unknown> };
    for (const n of [weak.auc.value, weak.auc.low, weak.auc.high, strong.auc.value, strong.auc.low, strong.auc.high]) expect(message).toContain(n.toFixed(4));
    for (const id of ['ds_xxxxxxxxxxxxxxxx', prodEval.id, weakEval.id]) expect(message).toContain(id);
    expect(details).toMatchObject({
      candidate: 2,
      production: 1,
      rule: 'candidate.auc.high < production.auc.value',
      comparisons: [
        {
          dataset: { id: 'ds_xxxxxxxxxxxxxxxx' },
          candidate: { version: 2, evaluationId: weakEval.id, auc: { value: weak.auc.value, low: weak.auc.low, high: weak.auc.high } },
          production: { version: 1, evaluationId: prodEval.id, auc: { value: strong.auc.value, low: strong.auc.low, high: strong.auc.high } },
          worse: true,
        },
      ],
    });
    expect((await h.registry.getAliases('guarded')).production).toBe(1);
    expect((await history('guarded')).map((e) => e.to)).toEqual([1]);
  });

  it('keeps the body strict: force must be a boolean, nothing else is accepted', async () => {
    for (const body of [{ version: 2, force: 'true' }, { version: 2, force: 1 }, { version: 2, forced: true }]) {
      const res = await h.http.put('/v1/models/guarded/aliases/production').send(body).expect(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
  });

  it('moves it with force: true, and back to a better version without force; no check without a common dataset', async () => {
    expect((await h.http.put('/v1/models/guarded/aliases/production').send({ version: 2, force: true }).expect(200)).body).toEqual({ alias: 'production', version: 2, previous: 1 });
    expect((await h.http.put('/v1/models/guarded/aliases/production').send({ version: 1 }).expect(200)).body.previous).toBe(2);
    // Version 3 was evaluated on another dataset only: nothing to compare.
    await h.http.put('/v1/models/guarded/aliases/production').send({ version: 3 }).expect(200);
    // Other aliases are never guarded.
    await h.http.put('/v1/models/guarded/aliases/staging').send({ version: 2 }).expect(200);
    await h.http.delete('/v1/models/guarded/aliases/staging').expect(204);
    const entries = await history('guarded');
    expect(entries.map((e) => [e.alias, e.action, e.from, e.to, e.forced, e.guard?.outcome])).toEqual([
      ['staging', 'delete', 2, null, false, undefined],
      ['staging', 'set', null, 2, false, undefined],
      ['production', 'move', 1, 3, false, 'no-common-dataset'],
      ['production', 'move', 2, 1, false, 'passed'],
      ['production', 'move', 1, 2, true, 'overridden'],
      ['production', 'set', null, 1, false, 'not-applicable'],
    ]);
    expect(entries.every((e) => e.by.name === 'anonymous' && e.by.role === null)).toBe(true);
    const times = entries.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect((await history('guarded', 2)).map((e) => e.action)).toEqual(['delete', 'set']);
  });

  it('history: 400 for a bad limit, 404 for an unknown model, [] before any move', async () => {
    for (const limit of ['0', '1001', 'x', '1.5']) {
      expect((await h.http.get(`/v1/models/guarded/aliases/history?limit=${limit}`).expect(400)).body.error.code).toBe('VALIDATION_FAILED');
    }
    expect((await h.http.get('/v1/models/nope/aliases/history').expect(404)).body.error.code).toBe('MODEL_NOT_FOUND');
    expect(await history('legacy')).toEqual([]);
  });
});

describe('alias history with API keys', () => {
  let authed: Harness;
  beforeAll(async () => {
    authed = await startHarness(import.meta.url, { env: { API_KEYS: `${PREDICT_KEY}:predict,${ADMIN_KEY}:admin` } });
    await authed.registry.publish('keyed', artifacts(), {});
  });
  afterAll(async () => {
    await authed?.close();
  });

  it("records the key's position and role, never the key; predict keys read the history but cannot move aliases", async () => {
    await authed.http.put('/v1/models/keyed/aliases/production').set('x-api-key', PREDICT_KEY).send({ version: 1 }).expect(403);
    await authed.http.put('/v1/models/keyed/aliases/production').set('authorization', `Bearer ${ADMIN_KEY}`).send({ version: 1 }).expect(200);
    const res = await authed.http.get('/v1/models/keyed/aliases/history').set('x-api-key', PREDICT_KEY).expect(200);
    expect(res.body.entries).toMatchObject([{ alias: 'production', action: 'set', to: 1, by: { name: 'key#2', role: 'admin' } }]);
    const file = await readFile(path.join(authed.dataDir, 'models', 'keyed', 'alias-history.jsonl'), 'utf8');
    expect(file).not.toContain(ADMIN_KEY);
    expect(file).not.toContain(ADMIN_KEY.slice(0, 12));
    await authed.http.get('/v1/models/keyed/aliases/history').expect(401);
  });
});
