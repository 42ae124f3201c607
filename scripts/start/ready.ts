import { setTimeout as sleep } from 'node:timers/promises';

/** What npm start reports once the API answers GET /health/ready (see src/http/health/routes.ts). */
export interface ReadyReport {
  /** e.g. "tfjs-node 4.22.0 on libtensorflow (native)", plus the fallback reason when there is one. */
  readonly engine?: string;
  /** Training workers connected to the queue; null when the API cannot tell. */
  readonly workers: number | null;
}

export function parseReadyBody(body: unknown): ReadyReport {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  let engine: string | undefined;
  if (typeof b.engine === 'string') {
    engine = b.engine;
  } else if (typeof b.engine === 'object' && b.engine !== null) {
    const e = b.engine as Record<string, unknown>;
    const text = typeof e.description === 'string' ? e.description : typeof e.name === 'string' ? e.name : undefined;
    const why = typeof e.fallbackReason === 'string' ? ` (fallback: ${e.fallbackReason})` : '';
    engine = text === undefined ? undefined : text + why;
  }
  return { engine, workers: typeof b.workers === 'number' ? b.workers : null };
}

async function probe(url: string): Promise<ReadyReport | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) return undefined;
    return parseReadyBody(await res.json().catch(() => ({})));
  } catch {
    return undefined;
  }
}

/**
 * Polls `${base()}/health/ready` until it answers 200 with a worker connected (or with the API
 * unable to count workers, or 30 s after it first answered with none), or until `cancelled()`.
 * `base()` may return undefined while the port is not known yet (PORT=0).
 */
export async function waitUntilReady(
  base: () => string | undefined,
  cancelled: () => boolean,
  intervalMs = 300,
): Promise<ReadyReport | undefined> {
  let firstReadyAt: number | undefined;
  while (!cancelled()) {
    const b = base();
    const report = b === undefined ? undefined : await probe(`${b}/health/ready`);
    if (report && !cancelled()) {
      firstReadyAt ??= Date.now();
      if (report.workers !== 0 || Date.now() - firstReadyAt > 30_000) return report;
    }
    await sleep(intervalMs);
  }
  return undefined;
}
