/**
 * A bounded LRU of loaded things (model versions) with leases:
 * - concurrent acquires of a key that is not loaded yet share ONE load; a failed load is not
 *   cached (the next acquire tries again);
 * - every acquire returns a lease; a value that is evicted or invalidated leaves the cache at once
 *   but is disposed only when its last lease is released (requests in flight finish on it);
 * - eviction happens when a load completes (not when it starts), least recently used first,
 *   preferring entries nobody holds; so while a replacement loads, the old entry stays usable.
 * The lookup and the lease count are taken synchronously in acquire(), so a caller that read a
 * key from elsewhere in the same tick can never see that key's value disposed under it.
 */

export interface Lease<V> {
  readonly value: V;
  /** Idempotent. */
  release(): void;
}

export interface ModelCacheOptions<V> {
  /** Entries kept (loaded or loading). Entries still leased may outlive eviction briefly. */
  readonly capacity: number;
  readonly load: (key: string) => Promise<V>;
  readonly dispose: (value: V, key: string) => void | Promise<void>;
  /** Called when the set of loaded entries changes (metrics). */
  readonly onChange?: () => void;
  /** Dispose failures are reported here; they never throw into a request. */
  readonly onError?: (err: unknown, key: string) => void;
}

export interface ModelCache<V> {
  acquire(key: string): Promise<Lease<V>>;
  /** Loaded (not loading, not retired) entries, most recently used last. */
  entries(): { key: string; value: V }[];
  has(key: string): boolean;
  /** Drops the key; its value is disposed when the last lease is released. */
  invalidate(key: string): void;
  /** Entries retired but still leased (waiting to be disposed). */
  readonly draining: number;
  /** Drops everything; resolves when every value (including leased ones) has been disposed. */
  close(): Promise<void>;
}

interface Entry<V> {
  readonly key: string;
  readonly promise: Promise<V>;
  value?: V;
  loaded: boolean;
  refs: number;
  retired: boolean;
  disposed: boolean;
}

export function createModelCache<V>(opts: ModelCacheOptions<V>): ModelCache<V> {
  const { capacity, load, dispose, onChange, onError } = opts;
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be an integer >= 1');

  /** Insertion order = recency (touch re-inserts). */
  const live = new Map<string, Entry<V>>();
  const retiredAlive = new Set<Entry<V>>();
  const disposals = new Set<Promise<void>>();
  let closed = false;

  const changed = () => {
    try {
      onChange?.();
    } catch {
      // metrics must never break the cache
    }
  };

  function disposeEntry(entry: Entry<V>): void {
    if (entry.disposed || !entry.loaded) return;
    entry.disposed = true;
    retiredAlive.delete(entry);
    const p = (async () => {
      try {
        await dispose(entry.value as V, entry.key);
      } catch (err) {
        onError?.(err, entry.key);
      }
    })();
    disposals.add(p);
    void p.finally(() => disposals.delete(p));
  }

  function retire(entry: Entry<V>): void {
    if (entry.retired) return;
    entry.retired = true;
    if (live.get(entry.key) === entry) live.delete(entry.key);
    if (entry.refs === 0) disposeEntry(entry);
    else if (entry.loaded) retiredAlive.add(entry);
    changed();
  }

  function evictOverCapacity(keep: Entry<V>): void {
    while (live.size > capacity) {
      let victim: Entry<V> | undefined;
      for (const e of live.values()) {
        if (e === keep || !e.loaded) continue;
        if (e.refs === 0) {
          victim = e;
          break;
        }
        victim ??= e;
      }
      if (!victim) return; // only loading entries besides `keep`: they are checked when they finish
      retire(victim);
    }
  }

  function start(key: string): Entry<V> {
    let resolveEntry!: (v: V) => void;
    let rejectEntry!: (err: unknown) => void;
    const entry: Entry<V> = {
      key,
      promise: new Promise<V>((res, rej) => {
        resolveEntry = res;
        rejectEntry = rej;
      }),
      loaded: false,
      refs: 0,
      retired: false,
      disposed: false,
    };
    // Waiters attach their own handlers; this one keeps an unobserved failure from being "unhandled".
    entry.promise.catch(() => undefined);
    live.set(key, entry);
    void (async () => {
      let value: V;
      try {
        value = await load(key);
      } catch (err) {
        if (live.get(key) === entry) live.delete(key);
        entry.retired = true;
        rejectEntry(err);
        return;
      }
      entry.value = value;
      entry.loaded = true;
      if (entry.retired) {
        // invalidated or closed while loading: hand the value to the waiters, dispose after them
        if (entry.refs === 0) disposeEntry(entry);
        else retiredAlive.add(entry);
      } else {
        evictOverCapacity(entry);
        changed();
      }
      resolveEntry(value);
    })();
    return entry;
  }

  function lease(entry: Entry<V>, value: V): Lease<V> {
    let released = false;
    return {
      value,
      release() {
        if (released) return;
        released = true;
        entry.refs--;
        if (entry.retired && entry.refs === 0) disposeEntry(entry);
      },
    };
  }

  return {
    acquire(key: string): Promise<Lease<V>> {
      if (closed) return Promise.reject(new Error('the model cache is closed'));
      let entry = live.get(key);
      if (entry) {
        live.delete(key); // touch: most recently used goes last
        live.set(key, entry);
      } else {
        entry = start(key);
      }
      entry.refs++;
      const e = entry;
      if (e.loaded) return Promise.resolve(lease(e, e.value as V));
      return e.promise.then(
        (value) => lease(e, value),
        (err: unknown) => {
          e.refs--;
          throw err;
        },
      );
    },
    entries() {
      return [...live.values()].filter((e) => e.loaded).map((e) => ({ key: e.key, value: e.value as V }));
    },
    has(key) {
      return live.get(key)?.loaded === true;
    },
    invalidate(key) {
      const entry = live.get(key);
      if (entry) retire(entry);
    },
    get draining() {
      return retiredAlive.size;
    },
    async close() {
      closed = true;
      const pending = [...live.values()];
      for (const e of pending) retire(e);
      // Let loads in progress finish so their values get disposed too.
      await Promise.allSettled(pending.map((e) => e.promise));
      while (retiredAlive.size > 0 || disposals.size > 0) {
        if (disposals.size > 0) await Promise.allSettled([...disposals]);
        else await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}
