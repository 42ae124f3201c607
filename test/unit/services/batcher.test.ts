import { describe, expect, it } from 'vitest';
import { BatcherClosedError, createBatcher } from '../../../src/services/batcher.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A run that doubles numbers and records the batches it saw. */
function recorder(delayMs = 0) {
  const batches: number[][] = [];
  const run = async (items: readonly number[]) => {
    batches.push([...items]);
    if (delayMs > 0) await sleep(delayMs);
    return items.map((x) => x * 2);
  };
  return { batches, run };
}

describe('createBatcher', () => {
  it('runs a lone request at once and returns its results in order', async () => {
    const { batches, run } = recorder();
    const b = createBatcher({ maxBatchSize: 16, maxWaitMs: 1000, run });
    const t0 = performance.now();
    expect(await b.submit([1, 2, 3])).toEqual([2, 4, 6]);
    expect(performance.now() - t0).toBeLessThan(200); // did not wait maxWaitMs
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('gathers concurrent submits into one batch and splits results back per caller', async () => {
    const { batches, run } = recorder();
    const b = createBatcher({ maxBatchSize: 16, maxWaitMs: 1000, run });
    const [a, c, d] = await Promise.all([b.submit([1, 2]), b.submit([3]), b.submit([4, 5, 6])]);
    expect(a).toEqual([2, 4]);
    expect(c).toEqual([6]);
    expect(d).toEqual([8, 10, 12]);
    // The first submit starts a batch at once (nobody announced); the others queue behind it.
    expect(batches.flat()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('waits for announced callers up to maxWaitMs, then runs what it has', async () => {
    const { batches, run } = recorder();
    const b = createBatcher({ maxBatchSize: 16, maxWaitMs: 40, run });
    const late = b.expect();
    const never = b.expect();
    expect(b.expected).toBe(2);
    const first = b.submit([1]);
    await sleep(10);
    expect(batches).toEqual([]); // still waiting for the announced callers
    const second = late.submit([2]);
    expect(await first).toEqual([2]);
    expect(await second).toEqual([4]);
    expect(batches).toEqual([[1, 2]]);
    // `never` keeps the next batch waiting, but only for maxWaitMs.
    const t0 = performance.now();
    expect(await b.submit([3])).toEqual([6]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(30);
    never.cancel();
    never.cancel(); // idempotent
    expect(b.expected).toBe(0);
  });

  it('starts a waiting batch as soon as the last announced caller cancels', async () => {
    const { batches, run } = recorder();
    const b = createBatcher({ maxBatchSize: 16, maxWaitMs: 5000, run });
    const ticket = b.expect();
    const p = b.submit([7]);
    await sleep(5);
    expect(batches).toEqual([]);
    const t0 = performance.now();
    ticket.cancel();
    expect(await p).toEqual([14]);
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it('runs at once when maxBatchSize items are waiting', async () => {
    const { batches, run } = recorder();
    const b = createBatcher({ maxBatchSize: 4, maxWaitMs: 5000, run });
    const t = b.expect();
    const p = b.submit([1, 2, 3, 4]);
    expect(await p).toEqual([2, 4, 6, 8]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
    t.cancel();
  });

  it('splits a request bigger than maxBatchSize over consecutive batches, keeping order', async () => {
    const { batches, run } = recorder();
    const b = createBatcher({ maxBatchSize: 4, maxWaitMs: 0, run });
    const input = Array.from({ length: 10 }, (_, i) => i);
    expect(await b.submit(input)).toEqual(input.map((x) => x * 2));
    expect(batches.map((x) => x.length)).toEqual([4, 4, 2]);
  });

  it('runs one batch at a time; items arriving meanwhile form the next (bigger) batch', async () => {
    let active = 0;
    let maxActive = 0;
    const sizes: number[] = [];
    const b = createBatcher<number, number>({
      maxBatchSize: 8,
      maxWaitMs: 2,
      run: async (items) => {
        active++;
        maxActive = Math.max(maxActive, active);
        sizes.push(items.length);
        await sleep(15);
        active--;
        return items;
      },
    });
    const all = Array.from({ length: 20 }, (_, i) => b.submit([i]));
    const out = await Promise.all(all);
    expect(out.map((x) => x[0])).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(maxActive).toBe(1);
    expect(sizes[0]).toBe(1); // the first ran alone at once
    expect(Math.max(...sizes)).toBe(8); // the rest were gathered while it ran
    expect(sizes.reduce((a, x) => a + x, 0)).toBe(20);
  });

  it('a failing run rejects only the callers in that batch; later batches still run', async () => {
    let calls = 0;
    const b = createBatcher<number, number>({
      maxBatchSize: 2,
      maxWaitMs: 0,
      run: async (items) => {
        calls++;
        if (items.includes(13)) throw new Error('boom');
        return items.map((x) => x + 1);
      },
    });
    const bad = b.submit([13]);
    const good = b.submit([1, 2]);
    await expect(bad).rejects.toThrow('boom');
    expect(await good).toEqual([2, 3]);
    expect(calls).toBe(2);
  });

  it('rejects every chunk of a split request when one of its batches fails, without running the rest', async () => {
    const seen: number[][] = [];
    const b = createBatcher<number, number>({
      maxBatchSize: 2,
      maxWaitMs: 0,
      run: async (items) => {
        seen.push([...items]);
        if (items.includes(3)) throw new Error('bad batch');
        return items;
      },
    });
    await expect(b.submit([1, 2, 3, 4, 5, 6])).rejects.toThrow('bad batch');
    expect(seen).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(b.queued).toBe(0);
    expect(await b.submit([9])).toEqual([9]);
  });

  it('rejects a run that returns the wrong number of results', async () => {
    const b = createBatcher<number, number>({ maxBatchSize: 4, maxWaitMs: 0, run: async () => [1] });
    await expect(b.submit([1, 2])).rejects.toThrow(/returned 1 results for 2 items/);
  });

  it('reports batch sizes, and a throwing onBatch never fails a request', async () => {
    const sizes: number[] = [];
    const b = createBatcher<number, number>({
      maxBatchSize: 4,
      maxWaitMs: 0,
      run: async (items) => items,
      onBatch: (n) => {
        sizes.push(n);
        throw new Error('metrics down');
      },
    });
    expect(await b.submit([1, 2, 3])).toEqual([1, 2, 3]);
    expect(sizes).toEqual([3]);
  });

  it('answers an empty submit with an empty result without running', async () => {
    const { batches, run } = recorder();
    const b = createBatcher({ maxBatchSize: 4, maxWaitMs: 0, run });
    expect(await b.submit([])).toEqual([]);
    expect(batches).toEqual([]);
  });

  it('close() lets queued work finish, then refuses new work', async () => {
    const { run } = recorder(10);
    const b = createBatcher({ maxBatchSize: 2, maxWaitMs: 1000, run });
    const t = b.expect(); // would make a batch wait; close must not
    const p = b.submit([1, 2, 3]);
    await b.close();
    expect(await p).toEqual([2, 4, 6]);
    await expect(b.submit([1])).rejects.toBeInstanceOf(BatcherClosedError);
    await expect(t.submit([1])).rejects.toBeInstanceOf(BatcherClosedError);
    await b.close(); // idempotent when idle
  });

  it('validates its options', () => {
    const run = async (x: readonly number[]) => x;
    expect(() => createBatcher({ maxBatchSize: 0, maxWaitMs: 0, run })).toThrow(RangeError);
    expect(() => createBatcher({ maxBatchSize: 1, maxWaitMs: -1, run })).toThrow(RangeError);
  });
});
