/** Readiness facts for GET /health/ready. */
export interface HealthService {
  /** True when Redis answers a PING within the timeout. Never throws. */
  redisReady(): Promise<boolean>;
  /** Training workers connected to the queue, or null when unknown (or Redis is down). Never throws. */
  workers(): Promise<number | null>;
}

export interface HealthServiceOptions {
  /** A PING on the API's Redis connection (a fail-fast producer connection). */
  readonly ping: () => Promise<unknown>;
  /** How many training workers are connected; omit when it cannot be known. */
  readonly workers?: () => Promise<number>;
  /** Default 1000 ms: a probe must answer quickly even when Redis hangs. */
  readonly timeoutMs?: number;
}

function withTimeout<T>(work: () => Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    timer.unref();
    Promise.resolve().then(work).then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

export function createHealthService(opts: HealthServiceOptions): HealthService {
  const timeoutMs = opts.timeoutMs ?? 1000;
  return {
    async redisReady() {
      try {
        await withTimeout(opts.ping, timeoutMs);
        return true;
      } catch {
        return false;
      }
    },
    async workers() {
      if (!opts.workers) return null;
      try {
        return await withTimeout(opts.workers, timeoutMs);
      } catch {
        return null;
      }
    },
  };
}
