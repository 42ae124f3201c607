import type { Logger } from '../domain/logger.ts';

export type { EngineInfo } from '../ml/engine.ts';
import { withTimeout } from '../domain/with-timeout.ts';

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
  /** Failed probes are logged here at debug (readiness answers false; the outage is logged by the connection). */
  readonly logger?: Pick<Logger, 'debug'>;
}

export function createHealthService(opts: HealthServiceOptions): HealthService {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const probe = async <T>(what: string, fn: () => Promise<T>): Promise<{ value: T } | undefined> => {
    try {
      return { value: await withTimeout(Promise.resolve().then(fn), timeoutMs) };
    } catch (err) {
      opts.logger?.debug({ probe: what, err: err instanceof Error ? err.message : String(err) }, 'readiness probe failed');
      return undefined;
    }
  };
  return {
    async redisReady() {
      return (await probe('redis ping', opts.ping)) !== undefined;
    },
    async workers() {
      if (!opts.workers) return null;
      return (await probe('worker count', opts.workers))?.value ?? null;
    },
  };
}
