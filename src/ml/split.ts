import { createRng, shuffleInPlace } from './random.ts';
import type { SplitIndices, SplitName } from './types.ts';

export interface SplitItem {
  readonly label: 0 | 1;
  /** Items with the same group (e.g. content hash) always land in the same split. */
  readonly group?: string;
  /**
   * Items sharing a patient key always land in the same split too (an item may carry several,
   * e.g. when a dropped duplicate belonged to another patient). Content groups and patients are
   * merged, so neither kind ever straddles splits.
   */
  readonly patients?: readonly string[];
  /** The split the archive layout put the item in, if any. */
  readonly split?: SplitName;
}

export interface SplitOptions {
  readonly seed: number;
  /** Fraction of all images held out for test (when the archive gives no test split). */
  readonly testFraction: number;
  /** Fraction of the remaining train images used for validation (when the archive gives none). */
  readonly validationFraction: number;
}

export const DEFAULT_SPLIT_OPTIONS: SplitOptions = Object.freeze({ seed: 42, testFraction: 0.15, validationFraction: 0.15 });

interface Group {
  readonly indices: number[];
  /** Majority label (ties: positive); the stratum the group is carved from. */
  label: 0 | 1;
  split: SplitName | undefined;
}

const HOLD_OUT_ORDER: readonly SplitName[] = ['test', 'validation', 'train'];

/** Union-find over item indices: items sharing a content group or a patient end in one set. */
function linkedSets(items: ReadonlyArray<SplitItem>): Int32Array {
  const parent = Int32Array.from({ length: items.length }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  const firstOf = new Map<string, number>();
  items.forEach((item, i) => {
    const keys = item.patients ? item.patients.map((p) => `p:${p}`) : [];
    if (item.group !== undefined) keys.push(`g:${item.group}`);
    for (const key of keys) {
      const first = firstOf.get(key);
      if (first === undefined) firstOf.set(key, i);
      else {
        const a = find(first);
        const b = find(i);
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      }
    }
  });
  for (let i = 0; i < parent.length; i++) parent[i] = find(i);
  return parent;
}

function collectGroups(items: ReadonlyArray<SplitItem>): Group[] {
  const roots = linkedSets(items);
  const groups: Group[] = [];
  const byRoot = new Map<number, Group>();
  items.forEach((item, i) => {
    let g = byRoot.get(roots[i]!);
    if (!g) {
      g = { indices: [], label: item.label, split: undefined };
      groups.push(g);
      byRoot.set(roots[i]!, g);
    }
    g.indices.push(i);
  });
  for (const g of groups) {
    let positives = 0;
    for (const i of g.indices) positives += items[i]!.label;
    g.label = 2 * positives >= g.indices.length ? 1 : 0;
    // A group that the archive put in several splits goes to the most held-out one, so the
    // held-out splits never share an image (or a patient) with train.
    const given = new Set(g.indices.map((i) => items[i]!.split));
    g.split = HOLD_OUT_ORDER.find((s) => given.has(s));
  }
  return groups;
}

/**
 * Moves about `fraction` of the pool's images, stratified by label, to `target`, whole groups at
 * a time: groups are visited in seeded random order and each is taken when that brings the count
 * closer to the goal (so a large group never overshoots it by more than it undershoots).
 * Keeps >= 1 group per label on both sides.
 */
function carve(pool: Group[], fraction: number, target: SplitName, rand: () => number): void {
  for (const label of [0, 1] as const) {
    const stratum = shuffleInPlace(
      pool.filter((g) => g.label === label),
      rand,
    );
    if (stratum.length < 2) continue;
    const total = stratum.reduce((n, g) => n + g.indices.length, 0);
    const want = Math.min(Math.max(Math.round(fraction * total), 1), total - 1);
    let taken = 0;
    let takenGroups = 0;
    for (let k = 0; k < stratum.length && taken < want; k++) {
      const size = stratum[k]!.indices.length;
      const leftAfter = stratum.length - k - 1;
      // Never take the last group still outside (the pool side keeps one).
      if (takenGroups === k && leftAfter === 0) break;
      if (takenGroups > 0 && taken + size - want > want - taken) continue;
      stratum[k]!.split = target;
      taken += size;
      takenGroups++;
    }
    // Every group was taken: give the last one back.
    if (takenGroups === stratum.length) stratum[stratum.length - 1]!.split = undefined;
  }
}

/**
 * Seeded, stratified train/validation/test split. Uses the archive's splits when items carry
 * them (carving validation out of train, and test too, if the archive lacks them). Throws when
 * some split would lack a class. Indices in each split are ascending.
 */
export function splitDataset(items: ReadonlyArray<SplitItem>, opts: SplitOptions): SplitIndices {
  for (const [name, f] of [
    ['testFraction', opts.testFraction],
    ['validationFraction', opts.validationFraction],
  ] as const) {
    if (!(f > 0 && f < 1)) throw new RangeError(`${name} must be in (0, 1) (got ${f})`);
  }
  const groups = collectGroups(items);
  const rand = createRng(opts.seed);
  const pool = () => groups.filter((g) => g.split === undefined || g.split === 'train');
  if (!groups.some((g) => g.split === 'test')) carve(pool(), opts.testFraction, 'test', rand);
  if (!groups.some((g) => g.split === 'validation')) carve(pool(), opts.validationFraction, 'validation', rand);

  const out: Record<SplitName, number[]> = { train: [], validation: [], test: [] };
  for (const g of groups) out[g.split ?? 'train'].push(...g.indices);
  const totals = [0, 0];
  for (const item of items) totals[item.label]!++;
  for (const name of ['train', 'validation', 'test'] as const) {
    out[name].sort((a, b) => a - b);
    const counts = [0, 0];
    for (const i of out[name]) counts[items[i]!.label]!++;
    for (const label of [0, 1] as const) {
      if (counts[label] === 0) {
        throw new Error(
          `cannot split the dataset: the ${name} split would have no images of class ${label} ` +
            `(${totals[0]} images of class 0 and ${totals[1]} of class 1 in all; ` +
            'every split needs at least one distinct image of each class)',
        );
      }
    }
  }
  return out;
}

/** Distinct patients per split; items without a patient key count as one patient each. */
export function patientsPerSplit(items: ReadonlyArray<SplitItem>, split: SplitIndices): Record<SplitName, number> {
  const out = { train: 0, validation: 0, test: 0 };
  for (const name of ['train', 'validation', 'test'] as const) {
    const seen = new Set<string>();
    let alone = 0;
    for (const i of split[name]) {
      const p = items[i]!.patients;
      if (!p || p.length === 0) alone++;
      else seen.add(p[0]!);
    }
    out[name] = seen.size + alone;
  }
  return out;
}
