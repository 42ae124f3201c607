import { describe, expect, it } from 'vitest';
import { isDatasetId, newDatasetId } from '../../../src/storage/dataset-ids.ts';
import { OrderedPool } from '../../../src/storage/ordered-pool.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('OrderedPool', () => {
  it('hands results over in submission order with at most `width` jobs running', async () => {
    const pool = new OrderedPool<number>(2);
    const seen: number[] = [];
    let running = 0;
    let most = 0;
    for (const [i, ms] of [30, 5, 20, 1, 10, 2].entries()) {
      await pool.submit(
        async () => {
          most = Math.max(most, ++running);
          await sleep(ms);
          running--;
          if (i === 3) throw new Error('job 3 failed');
          return i;
        },
        (r) => {
          seen.push(r.ok ? r.value : -i);
        },
      );
    }
    await pool.drain();
    expect(seen).toEqual([0, 1, 2, -3, 4, 5]);
    expect(most).toBeLessThanOrEqual(2);
  });

  it('surfaces a failing hand-over', async () => {
    const pool = new OrderedPool<number>(2);
    await pool.submit(async () => 1, () => {
      throw new Error('disk full');
    });
    await expect(pool.drain()).rejects.toThrow('disk full');
  });
});

describe('dataset ids', () => {
  it('are ds_ + 16 base32 characters, distinct, and the only ids accepted', () => {
    const ids = new Set(Array.from({ length: 200 }, newDatasetId));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(isDatasetId(id)).toBe(true);
    for (const bad of ['', 'ds_', 'ds_AAAAAAAAAAAAAAAA', 'ds_aaaaaaaaaaaaaaa1', '../ds_aaaaaaaaaaaaaaaa', 'ds_aaaaaaaaaaaaaaaa\n']) {
      expect(isDatasetId(bad)).toBe(false);
    }
  });
});
