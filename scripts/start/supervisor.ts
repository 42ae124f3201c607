import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Restart policy for a supervised child (the worker under `npm start`): exponential backoff from
 * `firstDelayMs`, doubling per crash, capped at `maxDelayMs`, and back to the first delay once a
 * run has stayed up for `resetAfterMs`.
 */
export interface BackoffPolicy {
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
  readonly resetAfterMs: number;
}

export const WORKER_RESTART: BackoffPolicy = Object.freeze({ firstDelayMs: 1000, maxDelayMs: 30_000, resetAfterMs: 60_000 });

export interface Backoff {
  /** The delay before the next start, given how long the run that just ended lasted. */
  next(upForMs: number): number;
}

export function createBackoff(policy: BackoffPolicy): Backoff {
  let crashes = 0;
  return {
    next(upForMs) {
      if (upForMs >= policy.resetAfterMs) crashes = 0;
      const delay = Math.min(policy.firstDelayMs * 2 ** crashes, policy.maxDelayMs);
      crashes = Math.min(crashes + 1, 30);
      return delay;
    },
  };
}

/** Sleeps `ms` unless `signal` aborts first; true when it slept the whole time. */
export async function waitOrAbort(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
