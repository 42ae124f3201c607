import { describe, expect, it } from 'vitest';
import { patientsPerSplit, splitDataset, type SplitItem } from '../../../src/ml/split.ts';
import { createRng } from '../../../src/ml/random.ts';
import type { SplitIndices, SplitName } from '../../../src/ml/types.ts';

const opts = { seed: 42, testFraction: 0.15, validationFraction: 0.15 };

const negatives = (n: number): SplitItem[] => Array.from({ length: n }, () => ({ label: 0 }));

function labelsOf(n: number, positiveEvery: number): SplitItem[] {
  return Array.from({ length: n }, (_, i) => ({ label: i % positiveEvery === 0 ? 1 : 0 }) as SplitItem);
}

function positiveShare(items: readonly SplitItem[], idx: readonly number[]): number {
  return idx.filter((i) => items[i]!.label === 1).length / idx.length;
}

function expectPartition(s: SplitIndices, n: number): void {
  const all = [...s.train, ...s.validation, ...s.test].sort((a, b) => a - b);
  expect(all).toEqual(Array.from({ length: n }, (_, i) => i));
}

describe('splitDataset', () => {
  it('splits 85/15 then 15% of train, stratified by label', () => {
    const items = labelsOf(1000, 4); // 25% positive
    const s = splitDataset(items, opts);
    expectPartition(s, 1000);
    // per class rounded: 0.15 * 1000 = 150 and 0.15 * 850 = 127.5
    expect(Math.abs(s.test.length - 150)).toBeLessThanOrEqual(1);
    expect(Math.abs(s.validation.length - 127.5)).toBeLessThanOrEqual(1);
    for (const part of [s.train, s.validation, s.test]) expect(Math.abs(positiveShare(items, part) - 0.25)).toBeLessThan(0.01);
    for (const part of [s.train, s.validation, s.test]) expect([...part]).toEqual([...part].sort((a, b) => a - b));
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const items = labelsOf(300, 3);
    expect(splitDataset(items, opts)).toEqual(splitDataset(items, opts));
    expect(splitDataset(items, { ...opts, seed: 7 }).test).not.toEqual(splitDataset(items, opts).test);
  });

  it('keeps items of one group (duplicates) in one split', () => {
    const items: SplitItem[] = Array.from({ length: 600 }, (_, i) => ({
      label: (Math.floor(i / 3) % 2) as 0 | 1,
      group: `hash-${Math.floor(i / 3)}`,
    }));
    const s = splitDataset(items, opts);
    expectPartition(s, 600);
    const where = new Map<string, Set<string>>();
    for (const name of ['train', 'validation', 'test'] as const) {
      for (const i of s[name]) {
        const g = items[i]!.group!;
        if (!where.has(g)) where.set(g, new Set());
        where.get(g)!.add(name);
      }
    }
    expect(where.size).toBe(200);
    for (const places of where.values()) expect(places.size).toBe(1);
  });

  it('uses the archive splits, carving validation out of train only', () => {
    const items: SplitItem[] = Array.from({ length: 400 }, (_, i) => ({
      label: (i % 2) as 0 | 1,
      split: i < 100 ? 'test' : 'train',
    }));
    const s = splitDataset(items, opts);
    expect(s.test).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(s.validation.length).toBe(46); // 0.15 * 150 per class, rounded
    expect(s.validation.every((i) => i >= 100)).toBe(true);
    expect(positiveShare(items, s.validation)).toBe(0.5);
  });

  it('keeps all three archive splits as given', () => {
    const split = (i: number): SplitName => (i < 20 ? 'test' : i < 40 ? 'validation' : 'train');
    const items: SplitItem[] = Array.from({ length: 100 }, (_, i) => ({ label: (i % 2) as 0 | 1, split: split(i) }));
    const s = splitDataset(items, opts);
    expect(s.test).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(s.validation).toEqual(Array.from({ length: 20 }, (_, i) => 20 + i));
    expect(s.train.length).toBe(60);
  });

  it('moves a duplicate that the archive put in train and test to test', () => {
    const items: SplitItem[] = Array.from({ length: 60 }, (_, i) => ({
      label: (i % 2) as 0 | 1,
      split: i < 10 ? 'test' : 'train',
      group: `g${i}`,
    }));
    items[50] = { label: 0, split: 'train', group: 'g0' };
    const s = splitDataset(items, opts);
    expect(s.test).toContain(50);
    expect(s.train).not.toContain(50);
    expect(s.validation).not.toContain(50);
  });

  it('throws a clear error when a split cannot have both classes', () => {
    const items: SplitItem[] = [...negatives(50), { label: 1 }, { label: 1 }];
    expect(() => splitDataset(items, opts)).toThrow(/no images of class 1/);
    const archive: SplitItem[] = Array.from({ length: 40 }, (_, i) => ({ label: (i % 2) as 0 | 1, split: 'train' }));
    archive.push({ label: 0, split: 'test' });
    expect(() => splitDataset(archive, opts)).toThrow(/test split would have no images of class 1/);
  });

  it('guarantees one of each class in every split when just possible', () => {
    const items: SplitItem[] = [...negatives(30), { label: 1 }, { label: 1 }, { label: 1 }];
    const s = splitDataset(items, opts);
    for (const part of [s.train, s.validation, s.test]) expect(part.filter((i) => items[i]!.label === 1)).toHaveLength(1);
  });

  it('rejects fractions outside (0, 1)', () => {
    expect(() => splitDataset(labelsOf(10, 2), { ...opts, testFraction: 0 })).toThrow(RangeError);
    expect(() => splitDataset(labelsOf(10, 2), { ...opts, validationFraction: 1 })).toThrow(RangeError);
  });
});

/**
 * A generated dataset shaped like Kermany: patients with 1..maxImages images each (heavy tail),
 * about 1:2.9 normal:pneumonia, a few byte-identical duplicates (shared content hash) across
 * patients, and a few images whose path gave no patient.
 */
function patients(seed: number, count: number, maxImages: number): SplitItem[] {
  const rand = createRng(seed);
  const items: SplitItem[] = [];
  for (let p = 0; p < count; p++) {
    const label = (rand() < 0.74 ? 1 : 0) as 0 | 1;
    const n = 1 + Math.floor(rand() ** 3 * maxImages);
    for (let k = 0; k < n; k++) items.push({ label, group: `h${items.length}`, patients: [`p${p}`] });
  }
  // duplicates: an image of one patient that is byte-identical to another patient's image
  for (let d = 0; d < count / 20; d++) {
    const a = Math.floor(rand() * items.length);
    const b = Math.floor(rand() * items.length);
    items[b] = { ...items[b]!, label: items[a]!.label, group: items[a]!.group! };
  }
  // unmatched paths: no patient key, each its own group
  for (let u = 0; u < count / 10; u++) {
    const i = Math.floor(rand() * items.length);
    const { patients: _dropped, ...rest } = items[i]!;
    items[i] = rest;
  }
  return items;
}

function whereEach(items: readonly SplitItem[], s: SplitIndices, key: (item: SplitItem) => readonly string[]): Map<string, Set<string>> {
  const where = new Map<string, Set<string>>();
  for (const name of ['train', 'validation', 'test'] as const) {
    for (const i of s[name]) {
      for (const k of key(items[i]!)) {
        if (!where.has(k)) where.set(k, new Set());
        where.get(k)!.add(name);
      }
    }
  }
  return where;
}

describe('splitDataset with patients', () => {
  it('never lets a patient or a content hash straddle splits (property over 200 seeds and datasets)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const items = patients(seed, 60 + (seed % 7) * 30, 1 + (seed % 9));
      const s = splitDataset(items, { ...opts, seed });
      expectPartition(s, items.length);
      for (const places of whereEach(items, s, (it) => it.patients ?? []).values()) expect(places.size).toBe(1);
      for (const places of whereEach(items, s, (it) => [it.group!]).values()) expect(places.size).toBe(1);
    }
  });

  it('merges the two constraints: a duplicate links two patients into one split', () => {
    const items: SplitItem[] = [];
    for (let p = 0; p < 100; p++) for (let k = 0; k < 3; k++) items.push({ label: (p % 2) as 0 | 1, group: `h${p}-${k}`, patients: [`p${p}`] });
    // p0's first image is byte-identical to p2's first image: p0 and p2 must share a split
    items[6] = { ...items[6]!, group: 'h0-0' };
    for (let seed = 1; seed <= 50; seed++) {
      const s = splitDataset(items, { ...opts, seed });
      const splitOf = (i: number) => (['train', 'validation', 'test'] as const).find((n) => s[n].includes(i));
      expect(new Set([0, 1, 2, 6, 7, 8].map(splitOf)).size).toBe(1);
    }
  });

  it('an item with several patient keys joins all of them', () => {
    const items: SplitItem[] = [];
    for (let p = 0; p < 80; p++) for (let k = 0; k < 2; k++) items.push({ label: (p % 2) as 0 | 1, patients: [`p${p}`] });
    items[0] = { label: 0, patients: ['p0', 'p40'] };
    const s = splitDataset(items, opts);
    const splitOf = (i: number) => (['train', 'validation', 'test'] as const).find((n) => s[n].includes(i));
    expect(new Set([0, 1, 80, 81].map(splitOf)).size).toBe(1);
  });

  it('stays stratified and near the fractions as groups allow', () => {
    const items = patients(5, 1500, 6);
    const s = splitDataset(items, opts);
    const share = positiveShare(items, items.map((_, i) => i));
    for (const part of [s.train, s.validation, s.test]) expect(Math.abs(positiveShare(items, part) - share)).toBeLessThan(0.03);
    expect(Math.abs(s.test.length / items.length - 0.15)).toBeLessThan(0.02);
    expect(Math.abs(s.validation.length / (items.length - s.test.length) - 0.15)).toBeLessThan(0.02);
  });

  it('counts patients per split (images without a key count one each)', () => {
    const items: SplitItem[] = [];
    for (let p = 0; p < 60; p++) for (let k = 0; k < 2; k++) items.push({ label: (p % 2) as 0 | 1, patients: [`p${p}`] });
    items.push({ label: 0 }, { label: 1 });
    const s = splitDataset(items, opts);
    const n = patientsPerSplit(items, s);
    expect(n.train + n.validation + n.test).toBe(62);
  });
});
