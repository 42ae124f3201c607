import type { ImageSource } from './types.ts';

export function chunk(indices: readonly number[], batchSize: number): number[][] {
  const out: number[][] = [];
  for (let s = 0; s < indices.length; s += batchSize) out.push(indices.slice(s, s + batchSize));
  return out;
}

type Settled = { ok: true; value: Uint8Array } | { ok: false; error: unknown };

/**
 * Reads batches in order, one ahead: when batch b is handed out, the read of b + 1 is already
 * started, so disk I/O overlaps the caller's compute. A read that fails while nobody waits for
 * it surfaces at the matching next() (never as an unhandled rejection).
 */
export function prefetchBatches(source: ImageSource, batches: readonly (readonly number[])[]) {
  const read = (b: number): Promise<Settled> | undefined =>
    b < batches.length
      ? source.readBatch(batches[b]!).then(
          (value) => ({ ok: true, value }),
          (error: unknown) => ({ ok: false, error }),
        )
      : undefined;
  let b = 0;
  let pending = read(0);
  return {
    async next(): Promise<Uint8Array> {
      if (!pending) throw new RangeError('no more batches');
      const current = pending;
      pending = read(++b);
      const r = await current;
      if (!r.ok) throw r.error;
      return r.value;
    },
  };
}

/** One full event-loop turn, so I/O that completed during synchronous compute can progress. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Throws an Error named 'AbortError' when the signal is aborted (its reason, if it is one). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') throw reason;
  throw new DOMException(typeof reason === 'string' ? reason : 'the operation was aborted', 'AbortError');
}
