import { createRng, shuffleInPlace } from './random.ts';
import type { SplitIndices, SplitName } from './types.ts';

export interface SplitItem {
  readonly label: 0 | 1;
  /** Items with the same group (e.g. content hash) always land in the same split. */
  readonly group?: string;
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
  readonly label: 0 | 1;
  split: SplitName | undefined;
}

const HOLD_OUT_ORDER: readonly SplitName[] = ['test', 'validation', 'train'];

function collectGroups(items: ReadonlyArray<SplitItem>): Group[] {
  const groups: Group[] = [];
  const byKey = new Map<string, Group>();
  items.forEach((item, i) => {
    let g = item.group === undefined ? undefined : byKey.get(item.group);
    if (!g) {
      g = { indices: [], label: item.label, split: undefined };
      groups.push(g);
      if (item.group !== undefined) byKey.set(item.group, g);
    }
    g.indices.push(i);
  });
  for (const g of groups) {
    // A duplicate that the archive put in several splits goes to the most held-out one, so the
    // held-out splits never share an image with train.
    const given = new Set(g.indices.map((i) => items[i]!.split));
    g.split = HOLD_OUT_ORDER.find((s) => given.has(s));
  }
  return groups;
}

/** Moves about `fraction` of the pool's images, stratified by label, to `target`; keeps >= 1 group per label on both sides. */
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
    for (let k = 0; k < stratum.length - 1 && taken < want; k++) {
      stratum[k]!.split = target;
      taken += stratum[k]!.indices.length;
    }
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
