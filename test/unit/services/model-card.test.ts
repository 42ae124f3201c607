/**
 * The model card builder and its Markdown: escaping that leaves no Markdown or HTML structure in
 * client strings, cards of versions that predate fields, and the JSON and Markdown forms saying
 * the same numbers.
 */
import { describe, expect, it } from 'vitest';
import { evaluateBinary, proportion } from '../../../src/ml/metrics.ts';
import type { EvaluationRecord } from '../../../src/services/evaluation-types.ts';
import { buildModelCard } from '../../../src/services/model-card.ts';
import { escapeMarkdown, renderModelCardMarkdown } from '../../../src/services/model-card-markdown.ts';
import { IMAGE_LEVEL_SPLIT_WARNING } from '../../../src/services/training.ts';
import type { ModelVersionInfo } from '../../../src/storage/model-registry.ts';

/** A seeded generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Scores that separate the classes by `shift` (noisy), and their labels. */
function scores(n: number, shift: number, seed: number): { probs: Float32Array; labels: Uint8Array } {
  const r = rng(seed);
  const probs = new Float32Array(n);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = r() < 0.4 ? 1 : 0;
    probs[i] = Math.min(1, Math.max(0, r() * (1 - shift) + (labels[i] ? shift : 0)));
  }
  return { probs, labels };
}

const STRUCTURAL = /[`*_~[\]!|$#.:@<>&\\\n\r]/;

/** CommonMark's reading of escaped text: backslash escapes and the three entities. */
function unescapeMarkdown(text: string): string {
  return text.replace(/\\([!-/:-@[-`{-~])|&(amp|lt|gt);/g, (_m, punct: string | undefined, entity: string | undefined) =>
    punct ?? { amp: '&', lt: '<', gt: '>' }[entity!]!,
  );
}

/** What is left of escaped text once every escape and entity is taken out: nothing structural may remain. */
const unescapedRest = (text: string) => text.replace(/\\[\s\S]|&(?:amp|lt|gt);/g, '');

describe('escapeMarkdown', () => {
  const alphabet = ['a', 'Z', '0', ' ', '\n', '\r\n', '\t', '\u2028', '\u202e', '\u200b', 'é', '😀', ...Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i))];

  it('reads back as the text (line breaks as spaces, invisible format characters gone) and leaves nothing structural unescaped', () => {
    const r = rng(7);
    for (let k = 0; k < 2000; k++) {
      let s = '';
      const len = Math.floor(r() * 40);
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(r() * alphabet.length)]!;
      const escaped = escapeMarkdown(s);
      const expected = s.replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, ' ').replace(/\p{Cf}/gu, '');
      expect(unescapeMarkdown(escaped), JSON.stringify(s)).toBe(expected);
      expect(STRUCTURAL.test(unescapedRest(escaped)), JSON.stringify(escaped)).toBe(false);
      expect(escaped).not.toMatch(/[\u202e\u200b]/);
    }
  });

  it('escapes the openers of links, images, HTML, code, emphasis and table cells', () => {
    expect(escapeMarkdown('[x](javascript:alert(1))')).toBe('\\[x\\](javascript\\:alert(1))');
    expect(escapeMarkdown('<img src=x onerror=alert(1)>')).toBe('&lt;img src=x onerror=alert(1)&gt;');
    expect(escapeMarkdown('a|b `c` *d* _e_ ~~f~~')).toBe('a\\|b \\`c\\` \\*d\\* \\_e\\_ \\~\\~f\\~\\~');
    expect(escapeMarkdown('x\n# heading')).toBe('x \\# heading');
    expect(escapeMarkdown('www.evil.example')).toBe('www\\.evil\\.example');
  });
});

const HOSTILE = 'evil</td><script>alert(1)</script>\n# Owned [click](javascript:alert(1)) | x | ![i](http://e.example/p.png) www.evil.example **b**';

function trainedMetadata(datasetName: string, classNames = ['NORMAL', 'PNEUMONIA']): Record<string, unknown> {
  const val = scores(300, 0.5, 1);
  const tst = scores(400, 0.45, 2);
  return {
    name: 'chestxraynet',
    version: 4,
    createdAt: '2026-01-02T03:04:05.000Z',
    kind: 'ChestXRayNet',
    dataset: { id: 'ds_aaaaaaaaaaaaaaaa', name: datasetName, contentHash: 'ab'.repeat(32), images: 700, byClass: { [classNames[0]!]: 420, [classNames[1]!]: 280 } },
    params: { epochs: 1, inputSize: 64, thresholdPolicy: 'youden', augmentation: { rotation: 5 } },
    classNames,
    positiveClass: classNames[1],
    threshold: 0.41,
    operatingPoint: { policy: 'youden', threshold: 0.41, sensitivity: 0.8, specificity: 0.7, targetMet: true },
    calibration: { method: 'platt', slope: 0.9, intercept: -0.2, fittedOn: 'validation', validation: { before: { ece: 0.1, brier: 0.2 }, after: { ece: 0.05, brier: 0.18 } } },
    evaluation: { validation: evaluateBinary(val.probs, val.labels, 0.41), test: evaluateBinary(tst.probs, tst.labels, 0.41) },
    warnings: [IMAGE_LEVEL_SPLIT_WARNING],
    split: { method: 'seeded-stratified-by-content-hash', level: 'image', warning: IMAGE_LEVEL_SPLIT_WARNING, seed: 42, train: 0, validation: 300, test: 400, byClass: { train: {}, validation: { [classNames[0]!]: 180, [classNames[1]!]: 120 }, test: { [classNames[0]!]: 240, [classNames[1]!]: 160 } } },
    engine: { name: 'tensorflow', description: 'tfjs-node', backend: 'tensorflow' },
    libraries: { node: 'v20.19.0', 'tfjs-core': '4.22.0' },
    preprocessing: { colour: 'grey', pixels: 'uint8' },
  };
}

const info = (metadata: Record<string, unknown>): ModelVersionInfo => ({
  name: 'chestxraynet',
  version: metadata.version as number,
  createdAt: metadata.createdAt as string,
  aliases: [],
  metadata: metadata as ModelVersionInfo['metadata'],
});

/** Table lines of a Markdown document grouped by table, with the number of unescaped cell separators per line. */
function tableCellCounts(md: string): number[][] {
  const tables: number[][] = [];
  let current: number[] | null = null;
  for (const line of md.split('\n')) {
    if (line.startsWith('|')) {
      current ??= [];
      current.push((line.replace(/\\[\s\S]/g, '').match(/\|/g) ?? []).length);
    } else if (current) {
      tables.push(current);
      current = null;
    }
  }
  if (current) tables.push(current);
  return tables;
}

describe('the model card', () => {
  it('keeps a hostile dataset name (and class names) from adding Markdown or HTML', () => {
    const meta = trainedMetadata(HOSTILE, ['NORMAL<b>', 'PNEU|MONIA*']);
    const evaluation: EvaluationRecord = {
      id: 'ev_aaaaaaaaaaaaaaaa',
      model: 'chestxraynet',
      version: 4,
      dataset: { id: 'ds_bbbbbbbbbbbbbbbb', name: HOSTILE, contentHash: 'cd'.repeat(32) },
      status: 'completed',
      createdAt: '2026-01-03T00:00:00.000Z',
      result: { images: 400, threshold: 0.41, calibrated: true, metrics: (meta.evaluation as { test: EvaluationRecord['result'] & object })['test'] as never },
    };
    const card = buildModelCard(info(meta), [evaluation]);
    expect(card.trainingData.dataset.name).toBe(HOSTILE); // the JSON card keeps the name as it is
    const md = renderModelCardMarkdown(card);
    expect(md).not.toContain('<');
    expect(md).not.toMatch(/^#+ Owned/m);
    expect(md).not.toMatch(/(^|[^\\])\]\(/m);
    expect(md).not.toMatch(/(^|[^\\])www\.evil/m);
    expect(md).not.toMatch(/(^|[^\\])\*\*b/m);
    for (const rows of tableCellCounts(md)) expect(new Set(rows).size, md).toBe(1);
    // The name is there, escaped, where the card names the dataset.
    expect(md).toContain(`(${escapeMarkdown(HOSTILE)})`);
    expect(unescapeMarkdown(escapeMarkdown(HOSTILE))).toBe(HOSTILE.replace('\n', ' '));
  });

  it('says the same numbers in JSON and Markdown, with 95% intervals for AUC and the four rates', () => {
    const card = buildModelCard(info(trainedMetadata('kermany')), []);
    const md = renderModelCardMarkdown(card);
    for (const set of [card.internalEvaluation.validation!, card.internalEvaluation.test!]) {
      expect(set.intervals).toBe('recorded');
      for (const m of [set.auc!, set.sensitivity!, set.specificity!, set.ppv!, set.npv!]) {
        expect(m.low!).toBeLessThanOrEqual(m.value);
        expect(m.high!).toBeGreaterThanOrEqual(m.value);
        expect(md).toContain(`${m.value.toFixed(3)} (95% CI ${m.low!.toFixed(3)} to ${m.high!.toFixed(3)}`);
      }
    }
    expect(card.trainingData.split.description).toBe(IMAGE_LEVEL_SPLIT_WARNING);
    expect(md).toContain('image-level split\\: the estimate may be optimistic');
    expect(card.intendedUse.internalEstimate).toMatch(/splits of the training distribution.*far lower/);
    expect(md).toContain(card.intendedUse.internalEstimate);
    expect(card.warnings).toContain('no external evaluation: how the model does on patients from elsewhere is unknown');
    expect(card.operatingPoint).toMatchObject({ policy: 'youden', threshold: 0.41, validationSensitivity: 0.8, validationSpecificity: 0.7 });
    expect(md).toContain('sensitivity 0.800 and specificity 0.700');
    expect(card.calibration).toMatchObject({ method: 'platt', validation: { before: { ece: 0.1 }, after: { ece: 0.05 } }, test: { before: null } });
    expect(md).toContain('Validation: before ECE 0.1000, Brier 0.2000; after ECE 0.0500, Brier 0.1800');
    expect(card.software.libraries).toEqual([{ name: 'node', value: 'v20.19.0' }, { name: 'tfjs-core', value: '4.22.0' }]);
    expect(card.notRecorded).toEqual([]);
  });

  it('renders a version trained before the fields existed, saying what was not recorded', () => {
    const old = {
      name: 'chestxraynet',
      version: 1,
      createdAt: '2025-05-27T15:40:52.118Z',
      kind: 'ChestXRayNet',
      dataset: { id: 'ds_m5xw2ct7ja4kq6ne', name: 'rsna-subset', images: 1200 },
      threshold: 0.4912,
      metrics: {
        validation: { count: 150, auc: 0.88, accuracy: 0.8, sensitivity: 0.81, specificity: 0.79, precision: 0.8, f1: 0.8 },
        test: { count: 200, auc: 0.8736, accuracy: 0.805, sensitivity: 0.83, specificity: 0.78, precision: 0.7905, f1: 0.8098, threshold: 0.4912, confusion: { tp: 83, fp: 22, tn: 78, fn: 17 } },
      },
    };
    const card = buildModelCard(info(old), []);
    const md = renderModelCardMarkdown(card);
    expect(card.trainingData.dataset.contentHash).toBeNull();
    expect(card.trainingData.split.level).toBeNull();
    expect(card.calibration.method).toBeNull();
    expect(card.software.engine).toBeNull();
    expect(card.notRecorded).toEqual(
      expect.arrayContaining(['trainingData.dataset.contentHash', 'trainingData.split.level', 'calibration', 'software.engine', 'software.libraries', 'internalEvaluation.test.intervals']),
    );
    // Test recorded its confusion matrix: Wilson intervals from it; no AUC interval.
    const test = card.internalEvaluation.test!;
    expect(test.intervals).toBe('computed-from-confusion');
    expect(test.auc).toEqual({ value: 0.8736, low: null, high: null });
    const sens = proportion(83, 100);
    expect(test.sensitivity).toEqual({ value: sens.value, low: sens.low, high: sens.high, successes: 83, trials: 100 });
    expect(card.internalEvaluation.validation!.intervals).toBe('not-recorded');
    expect(card.operatingPoint.threshold).toBe(0.4912);
    expect(md).toContain('- Content hash: not recorded');
    expect(md).toContain('0.874 (95% CI not recorded)');
    expect(md).toContain(`0.830 (95% CI ${sens.low.toFixed(3)} to ${sens.high.toFixed(3)}, 83/100)`);
    expect(md).toContain('- Method: not recorded');
    expect(md).toContain('## Not recorded by this version');
    expect(md).toMatch(/Split: not recorded/);
  });

  it('renders even metadata with nothing but its identity', () => {
    const card = buildModelCard(info({ name: 'chestxraynet', version: 2, createdAt: '2025-05-29T10:12:08.644Z' }), []);
    expect(card.internalEvaluation.test).toBeNull();
    expect(renderModelCardMarkdown(card)).toContain('| test | not recorded |');
  });

  it('lists every external evaluation, newest first, with intervals for completed ones and the error of failed ones', () => {
    const s = scores(500, 0.3, 9);
    const metrics = evaluateBinary(s.probs, s.labels, 0.41);
    const base = { model: 'chestxraynet', version: 4, dataset: { id: 'ds_cccccccccccccccc', name: 'site-b', contentHash: 'ef'.repeat(32) } };
    const records: EvaluationRecord[] = [
      { ...base, id: 'ev_bbbbbbbbbbbbbbbb', status: 'failed', createdAt: '2026-02-02T00:00:00.000Z', error: { code: 'DATASET_NOT_FOUND', message: 'gone' } },
      { ...base, id: 'ev_aaaaaaaaaaaaaaaa', status: 'completed', createdAt: '2026-02-01T00:00:00.000Z', result: { images: 500, patients: 321, threshold: 0.41, calibrated: true, metrics } },
    ];
    const card = buildModelCard(info(trainedMetadata('kermany')), records);
    expect(card.externalEvaluations.map((e) => [e.id, e.status])).toEqual([
      ['ev_bbbbbbbbbbbbbbbb', 'failed'],
      ['ev_aaaaaaaaaaaaaaaa', 'completed'],
    ]);
    const done = card.externalEvaluations[1]!;
    expect(done.metrics!.auc).toEqual({ value: metrics.auc.value, low: metrics.auc.low, high: metrics.auc.high });
    expect(done.patients).toBe(321);
    expect(card.warnings).not.toContain('no external evaluation: how the model does on patients from elsewhere is unknown');
    const md = renderModelCardMarkdown(card);
    expect(md).toContain(`${metrics.auc.value.toFixed(3)} (95% CI ${metrics.auc.low.toFixed(3)} to ${metrics.auc.high.toFixed(3)})`);
    expect(md).toContain(`${metrics.npv.value.toFixed(3)} (95% CI ${metrics.npv.low.toFixed(3)} to ${metrics.npv.high.toFixed(3)}, ${metrics.npv.successes}/${metrics.npv.trials})`);
    expect(md).toContain('error DATASET_NOT_FOUND: gone');
  });
});
