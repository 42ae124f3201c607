import { describe, expect, it } from 'vitest';
import { splitDataset, type SplitItem } from '../../../src/ml/split.ts';
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
