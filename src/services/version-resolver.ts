import type { Logger } from '../domain/logger.ts';
import { isAppError } from '../errors.ts';
import type { ModelEventSource } from '../queue/model-event-subscriber.ts';
import type { ModelRegistry } from '../storage/model-types.ts';
import { versionKey, type LoadedVersion } from './loaded-versions.ts';
import type { Lease, ModelCache } from './model-cache.ts';

/**
 * Which version answers a request (explicit version > alias > 'production' > latest), kept in
 * memory per (model, alias) so a request never touches the disk once its model is loaded.
 * Refreshed on model events and by a periodic re-check (which also covers missed events and Redis
 * outages). A refresh that finds a new version loads and warms it FIRST and only then switches;
 * requests holding the old version finish on it (leases).
 */

export interface VersionTarget {
  readonly name: string;
  readonly version?: number;
  readonly alias?: string;
}

/** Whether a model's default target (production, else latest) is served warm right now. */
export interface ModelReadiness {
  readonly name: string;
  /** ready: loaded and warmed; loading: a load is under way (asking starts one); failed: the last load failed (retried later). */
  readonly status: 'ready' | 'loading' | 'failed';
  readonly version: number;
  /** What runs its predictions, once ready. */
  readonly runtime?: 'onnxruntime' | 'tfjs';
  /** Why the last load failed. */
  readonly reason?: string;
}

export interface VersionResolver {
  /** A lease on the version that serves `target` (loaded and warmed). */
  acquire(target: VersionTarget): Promise<Lease<LoadedVersion>>;
  /**
   * Whether `name`'s default target is loaded and warm; when it is not, starts loading it (a
   * failed load is tried again after refreshIntervalMs). Throws what resolving throws (NO_MODEL,
   * MODEL_NOT_FOUND).
   */
  readiness(name: string): Promise<ModelReadiness>;
  /** Subscribes to model events and starts the periodic re-check; resolves even when Redis is down. */
  start(): Promise<void>;
  /** Stops listening and waits for refreshes in flight. */
  close(): Promise<void>;
}

export interface VersionResolverOptions {
  readonly registry: ModelRegistry;
  readonly versions: ModelCache<LoadedVersion>;
  readonly events: ModelEventSource;
  readonly log: Logger;
  readonly refreshIntervalMs: number;
  readonly resolutionIdleMs: number;
}

interface Resolution {
  readonly name: string;
  readonly alias: string | undefined;
  version: number;
  lastUsed: number;
}

const resolutionKey = (name: string, alias: string | undefined) => `${name}#${alias ?? ''}`;

export function createVersionResolver(opts: VersionResolverOptions): VersionResolver {
  const { registry, versions: cache, events, log } = opts;
  const resolutions = new Map<string, Resolution>();
  /** Misses being resolved from disk, shared by concurrent requests. */
  const resolving = new Map<string, Promise<number>>();
  /** Refreshes in progress; a key asked again meanwhile is refreshed once more afterwards. */
  const refreshing = new Map<string, { done: Promise<void>; again: boolean }>();
  let timer: NodeJS.Timeout | undefined;
  let periodic: Promise<void> | undefined;
  let started = false;
  let closed = false;
  /** Loads started by readiness(), by version key; a failure is kept until it may be retried. */
  const warming = new Map<string, { done?: Promise<void>; failure?: { reason: string; at: number } }>();

  /**
   * When the resolution is cached and the version loaded, the lease is taken synchronously (no
   * await in between), so a concurrent switch can never hand this request a disposed model.
   */
  function acquire(target: VersionTarget): Promise<Lease<LoadedVersion>> {
    const { name, version, alias } = target;
    if (version !== undefined) {
      const key = versionKey(name, version);
      if (cache.has(key)) return cache.acquire(key);
      return registry.resolve(name, { version }).then((v) => cache.acquire(versionKey(name, v)));
    }
    const rkey = resolutionKey(name, alias);
    const cached = resolutions.get(rkey);
    if (cached) {
      cached.lastUsed = Date.now();
      return cache.acquire(versionKey(name, cached.version));
    }
    let pending = resolving.get(rkey);
    if (!pending) {
      const p = registry.resolve(name, alias !== undefined ? { alias } : {}).then((v) => {
        if (!resolutions.has(rkey)) resolutions.set(rkey, { name, alias, version: v, lastUsed: Date.now() });
        return resolutions.get(rkey)!.version;
      });
      pending = p;
      resolving.set(rkey, p);
      // The request awaiting `p` sees its rejection; this branch only forgets the shared promise.
      void p.then(
        () => resolving.delete(rkey),
        () => resolving.delete(rkey),
      );
    }
    return pending.then((v) => cache.acquire(versionKey(name, v)));
  }

  /** Re-reads one resolution from the registry; a new version is loaded and warmed before the switch. */
  async function refreshResolution(rkey: string): Promise<void> {
    const r = resolutions.get(rkey);
    if (!r) return;
    let version: number;
    try {
      version = await registry.resolve(r.name, r.alias !== undefined ? { alias: r.alias } : {});
    } catch (err) {
      if (isAppError(err) && (err.status === 404 || err.code === 'NO_MODEL')) {
        // alias or model gone: forget it; the next request resolves from disk and gets the error
        if (resolutions.get(rkey) === r) resolutions.delete(rkey);
        log.info({ model: r.name, alias: r.alias, code: err.code }, 'resolution dropped');
      } else {
        log.warn({ err, model: r.name, alias: r.alias }, 'could not re-check which version to serve; keeping the current one');
      }
      return;
    }
    if (version === r.version) return;
    const previous = r.version;
    let lease: Lease<LoadedVersion>;
    try {
      lease = await cache.acquire(versionKey(r.name, version)); // load + warm up before switching
    } catch (err) {
      log.error({ err, model: r.name, version, alias: r.alias }, 'could not load the new version; still serving the previous one');
      return;
    }
    if (resolutions.get(rkey) === r) r.version = version;
    lease.release();
    log.info({ model: r.name, alias: r.alias ?? '(default)', version, previous }, 'serving a new version');
  }

  function refreshKey(rkey: string): Promise<void> {
    const running = refreshing.get(rkey);
    if (running) {
      running.again = true;
      return running.done;
    }
    const state = { done: Promise.resolve(), again: false };
    state.done = (async () => {
      try {
        do {
          state.again = false;
          await refreshResolution(rkey);
        } while (state.again);
      } finally {
        refreshing.delete(rkey);
      }
    })();
    refreshing.set(rkey, state);
    return state.done;
  }

  /** Re-checks the resolutions of one model (or all), then drops loaded versions that are gone. */
  async function refresh(name?: string): Promise<void> {
    const now = Date.now();
    const keys: string[] = [];
    for (const [rkey, r] of resolutions) {
      if (name !== undefined && r.name !== name) continue;
      if (now - r.lastUsed > opts.resolutionIdleMs) resolutions.delete(rkey);
      else keys.push(rkey);
    }
    await Promise.all(keys.map(refreshKey));
    const inUse = new Set([...resolutions.values()].map((r) => versionKey(r.name, r.version)));
    await Promise.all(
      cache.entries().map(async ({ key, value }) => {
        if (inUse.has(key) || (name !== undefined && value.name !== name)) return;
        try {
          await registry.getVersion(value.name, value.version);
        } catch (err) {
          if (isAppError(err) && err.status === 404) {
            log.info({ model: value.name, version: value.version }, 'version deleted; unloading after requests in flight');
            cache.invalidate(key);
          } else {
            log.warn({ err, model: value.name, version: value.version }, 'could not check whether a loaded version still exists');
          }
        }
      }),
    );
  }

  const refreshLogged = (why: string, name?: string) => {
    refresh(name).catch((err: unknown) => log.warn({ err, why }, 'model re-check failed'));
  };

  async function readiness(name: string): Promise<ModelReadiness> {
    const cached = resolutions.get(resolutionKey(name, undefined));
    const version = cached ? cached.version : await registry.resolve(name);
    const key = versionKey(name, version);
    const loaded = cache.has(key) ? cache.entries().find((e) => e.key === key)?.value : undefined;
    if (loaded) return { name, status: 'ready', version, runtime: loaded.runtime };
    let w = warming.get(key);
    if (w?.failure && Date.now() - w.failure.at >= opts.refreshIntervalMs) w = undefined;
    if (!w && !closed) {
      const state: { done?: Promise<void>; failure?: { reason: string; at: number } } = {};
      state.done = acquire({ name }).then(
        (lease) => {
          lease.release();
          if (warming.get(key) === state) warming.delete(key);
        },
        (err: unknown) => {
          const reason = err instanceof Error ? err.message.split('\n')[0]! : String(err);
          state.failure = { reason, at: Date.now() };
          state.done = undefined;
          log.warn({ err, model: name, version }, 'could not load the version that serves this model');
        },
      );
      warming.set(key, state);
      w = state;
    }
    if (w?.failure) return { name, status: 'failed', version, reason: w.failure.reason };
    return { name, status: 'loading', version };
  }

  return {
    acquire,
    readiness,
    async start() {
      if (started || closed) return;
      started = true;
      await events.start({
        onEvent: (event) => {
          log.debug({ event }, 'model event');
          refreshLogged('model event', event.name);
        },
        // After an outage events may have been missed: re-check everything at once.
        onResync: () => refreshLogged('Redis reconnected'),
      });
      timer = setInterval(() => {
        if (periodic) return; // the previous re-check is still running (slow disk)
        periodic = refresh()
          .catch((err: unknown) => log.warn({ err }, 'periodic model re-check failed'))
          .finally(() => {
            periodic = undefined;
          });
      }, opts.refreshIntervalMs);
      timer.unref();
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      await events.close();
      await periodic;
      await Promise.allSettled([...refreshing.values()].map((r) => r.done));
      await Promise.allSettled([...warming.values()].flatMap((w) => (w.done ? [w.done] : [])));
      warming.clear();
      resolutions.clear();
    },
  };
}
