import { describe, expect, it } from 'vitest';
import { createModelCache } from '../../../src/services/model-cache.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Fake {
  key: string;
  disposed: boolean;
}

function harness(capacity: number, loadMs = 5) {
  const loads: string[] = [];
  const disposed: string[] = [];
  let failNext: Error | undefined;
  let changes = 0;
  const cache = createModelCache<Fake>({
    capacity,
    load: async (key) => {
      loads.push(key);
      await sleep(loadMs);
      if (failNext) {
        const err = failNext;
        failNext = undefined;
        throw err;
      }
      return { key, disposed: false };
    },
    dispose: (v) => {
      if (v.disposed) throw new Error(`double dispose of ${v.key}`);
      v.disposed = true;
      disposed.push(v.key);
    },
    onChange: () => {
      changes++;
    },
  });
  return {
    cache,
    loads,
    disposed,
    failOnce: (e: Error) => {
      failNext = e;
    },
    changes: () => changes,
  };
}

describe('createModelCache', () => {
  it('concurrent acquires of a key not loaded yet share one load', async () => {
    const h = harness(2);
    const leases = await Promise.all(Array.from({ length: 10 }, () => h.cache.acquire('m@1')));
    expect(h.loads).toEqual(['m@1']);
    expect(new Set(leases.map((l) => l.value)).size).toBe(1);
    for (const l of leases) l.release();
    expect(h.cache.has('m@1')).toBe(true);
    // a later acquire is served from the cache, synchronously resolved
    const again = await h.cache.acquire('m@1');
    expect(h.loads).toEqual(['m@1']);
    again.release();
  });

  it('evicts the least recently used entry beyond capacity and disposes it', async () => {
    const h = harness(2);
    for (const k of ['a', 'b']) (await h.cache.acquire(k)).release();
    (await h.cache.acquire('a')).release(); // a is now more recent than b
    (await h.cache.acquire('c')).release();
    expect(h.disposed).toEqual(['b']);
    expect(h.cache.entries().map((e) => e.key)).toEqual(['a', 'c']);
    expect(h.cache.has('b')).toBe(false);
  });

  it('a value evicted while leased is disposed only after the last lease is released', async () => {
    const h = harness(1);
    const inFlight = await h.cache.acquire('old');
    const second = await h.cache.acquire('old');
    (await h.cache.acquire('new')).release(); // evicts 'old' from the cache
    expect(h.cache.has('old')).toBe(false);
    expect(h.cache.draining).toBe(1);
    expect(inFlight.value.disposed).toBe(false);
    inFlight.release();
    inFlight.release(); // idempotent: must not count twice
    expect(second.value.disposed).toBe(false);
    second.release();
    await sleep(0);
    expect(h.disposed).toEqual(['old']);
    expect(h.cache.draining).toBe(0);
  });

  it('keeps the old entry usable while its replacement loads (eviction at load completion)', async () => {
    const h = harness(1, 30);
    (await h.cache.acquire('v1')).release();
    const loadingV2 = h.cache.acquire('v2');
    await sleep(5);
    // v2 is loading; v1 must still be served from the cache without a reload
    const l1 = await h.cache.acquire('v1');
    expect(h.loads).toEqual(['v1', 'v2']);
    expect(l1.value.disposed).toBe(false);
    const l2 = await loadingV2;
    expect(h.cache.has('v1')).toBe(false); // evicted when v2 arrived ...
    expect(l1.value.disposed).toBe(false); // ... but still leased
    l1.release();
    l2.release();
    expect(h.disposed).toEqual(['v1']);
  });

  it('prefers evicting entries nobody holds', async () => {
    const h = harness(2);
    const a = await h.cache.acquire('a'); // held, least recent
    (await h.cache.acquire('b')).release();
    (await h.cache.acquire('c')).release();
    expect(h.cache.entries().map((e) => e.key)).toEqual(['a', 'c']);
    expect(h.disposed).toEqual(['b']);
    a.release();
  });

  it('does not cache a failed load: every waiter gets the error, the next acquire retries', async () => {
    const h = harness(2);
    h.failOnce(new Error('disk on fire'));
    const results = await Promise.allSettled([h.cache.acquire('x'), h.cache.acquire('x')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(h.loads).toEqual(['x']);
    expect(h.cache.has('x')).toBe(false);
    const l = await h.cache.acquire('x');
    expect(h.loads).toEqual(['x', 'x']);
    l.release();
  });

  it('invalidate() drops the key; leased values finish first, then are disposed', async () => {
    const h = harness(3);
    const l = await h.cache.acquire('gone');
    h.cache.invalidate('gone');
    expect(h.cache.has('gone')).toBe(false);
    expect(h.disposed).toEqual([]);
    l.release();
    expect(h.disposed).toEqual(['gone']);
    // acquiring again loads a fresh value
    const l2 = await h.cache.acquire('gone');
    expect(l2.value.disposed).toBe(false);
    expect(h.loads).toEqual(['gone', 'gone']);
    l2.release();
    h.cache.invalidate('never-loaded'); // no-op
  });

  it('invalidating a key while it loads hands the value to its waiters and disposes it after them', async () => {
    const h = harness(2, 20);
    const p = h.cache.acquire('k');
    await sleep(2);
    h.cache.invalidate('k');
    const l = await p;
    expect(l.value.disposed).toBe(false);
    expect(h.cache.has('k')).toBe(false);
    l.release();
    expect(h.disposed).toEqual(['k']);
  });

  it('close() disposes everything, waiting for leases in flight', async () => {
    const h = harness(3);
    (await h.cache.acquire('a')).release();
    const held = await h.cache.acquire('b');
    let closed = false;
    const closing = h.cache.close().then(() => {
      closed = true;
    });
    await sleep(30);
    expect(closed).toBe(false);
    expect(h.disposed).toEqual(['a']);
    held.release();
    await closing;
    expect(h.disposed.sort()).toEqual(['a', 'b']);
    await expect(h.cache.acquire('a')).rejects.toThrow(/closed/);
  });

  it('reports dispose errors without throwing, and tells when the loaded set changes', async () => {
    const errors: string[] = [];
    const cache = createModelCache<number>({
      capacity: 1,
      load: async () => 1,
      dispose: () => {
        throw new Error('dispose failed');
      },
      onError: (err, key) => errors.push(`${key}: ${(err as Error).message}`),
    });
    (await cache.acquire('a')).release();
    (await cache.acquire('b')).release();
    await sleep(0);
    expect(errors).toEqual(['a: dispose failed']);
    const h = harness(1);
    (await h.cache.acquire('a')).release();
    (await h.cache.acquire('b')).release();
    expect(h.changes()).toBeGreaterThanOrEqual(3); // load a, load b, evict a
  });

  it('rejects an invalid capacity', () => {
    expect(() => createModelCache({ capacity: 0, load: async () => 1, dispose: () => undefined })).toThrow(RangeError);
  });
});
