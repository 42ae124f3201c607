/**
 * Server-side micro-batching: items submitted by concurrent callers are gathered into one run of
 * up to `maxBatchSize` items, and each caller gets its own results back in its own order.
 *
 * When a batch starts:
 * - at once when `maxBatchSize` items are waiting, or when nobody else is known to be on the way
 *   (no open tickets, see `expect()`): a lone request never pays the wait;
 * - else when the first waiting item has waited `maxWaitMs`.
 * One batch runs at a time (the compute is CPU-bound: two batches at once only compete for the
 * same cores); items arriving meanwhile form the next batch, so batches grow with load.
 * A caller's items may be split over consecutive batches when they exceed `maxBatchSize`.
 * A failing run rejects only the callers whose items were in it.
 */

export interface BatcherOptions<I, O> {
  readonly maxBatchSize: number;
  readonly maxWaitMs: number;
  /** Computes one output per input, in input order. */
  readonly run: (items: readonly I[]) => Promise<readonly O[]>;
  /** Called after each successful run with its size and duration (metrics). */
  readonly onBatch?: (size: number, ms: number) => void;
}

/** A caller that announced itself before its items are ready (e.g. while its images decode). */
export interface BatchTicket<I, O> {
  submit(items: readonly I[]): Promise<O[]>;
  /** Withdraws the announcement when the caller will not submit (e.g. a decode error). Idempotent. */
  cancel(): void;
}

export interface Batcher<I, O> {
  submit(items: readonly I[]): Promise<O[]>;
  /** Announces a submit to come, so a forming batch may wait (up to maxWaitMs) for it. */
  expect(): BatchTicket<I, O>;
  /** Items waiting for a batch. */
  readonly queued: number;
  /** Callers announced via expect() that have not submitted or cancelled yet. */
  readonly expected: number;
  /** Refuses new work and resolves when everything already submitted has finished. */
  close(): Promise<void>;
}

export class BatcherClosedError extends Error {
  override readonly name = 'BatcherClosedError';
  constructor() {
    super('the batcher is closed');
  }
}

interface Entry<I, O> {
  readonly items: readonly I[];
  readonly results: O[];
  /** Index of the next item to put into a batch. */
  next: number;
  /** Items not yet computed. */
  remaining: number;
  failed: boolean;
  readonly enqueuedAt: number;
  resolve(out: O[]): void;
  reject(err: unknown): void;
}

export function createBatcher<I, O>(opts: BatcherOptions<I, O>): Batcher<I, O> {
  const { maxBatchSize, maxWaitMs, run, onBatch } = opts;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw new RangeError(`maxBatchSize must be an integer >= 1`);
  if (!(maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be >= 0`);

  const queue: Entry<I, O>[] = [];
  let queuedItems = 0;
  let expected = 0;
  let running = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let idleWaiters: (() => void)[] = [];

  const clearTimer = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };

  const notifyIdle = () => {
    if (running || queue.length > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  function schedule(): void {
    if (running || queuedItems === 0) return;
    const waited = performance.now() - queue[0]!.enqueuedAt;
    if (queuedItems >= maxBatchSize || expected === 0 || closed || waited >= maxWaitMs) {
      clearTimer();
      void runBatch();
      return;
    }
    if (!timer) {
      timer = setTimeout(() => {
        timer = undefined;
        schedule();
      }, Math.max(0, maxWaitMs - waited));
    }
  }

  /** Takes up to maxBatchSize items off the queue, splitting an entry when needed. */
  function take(): { items: I[]; parts: { entry: Entry<I, O>; from: number; count: number }[] } {
    const items: I[] = [];
    const parts: { entry: Entry<I, O>; from: number; count: number }[] = [];
    while (queue.length > 0 && items.length < maxBatchSize) {
      const entry = queue[0]!;
      const count = Math.min(entry.items.length - entry.next, maxBatchSize - items.length);
      for (let i = 0; i < count; i++) items.push(entry.items[entry.next + i]!);
      parts.push({ entry, from: entry.next, count });
      entry.next += count;
      if (entry.next === entry.items.length) queue.shift();
    }
    queuedItems -= items.length;
    return { items, parts };
  }

  function fail(entry: Entry<I, O>, err: unknown): void {
    if (entry.failed) return;
    entry.failed = true;
    const idx = queue.indexOf(entry);
    if (idx !== -1) {
      queue.splice(idx, 1);
      queuedItems -= entry.items.length - entry.next;
    }
    entry.reject(err);
  }

  async function runBatch(): Promise<void> {
    running = true;
    const { items, parts } = take();
    const started = performance.now();
    try {
      let out: readonly O[];
      try {
        out = await run(items);
        if (!out || out.length !== items.length) {
          throw new Error(`batch run returned ${out?.length ?? 'no'} results for ${items.length} items`);
        }
      } catch (err) {
        for (const p of parts) fail(p.entry, err);
        return;
      }
      try {
        onBatch?.(items.length, performance.now() - started);
      } catch {
        // metrics must never fail a request
      }
      let offset = 0;
      for (const { entry, from, count } of parts) {
        for (let i = 0; i < count; i++) entry.results[from + i] = out[offset + i]!;
        offset += count;
        entry.remaining -= count;
        if (entry.remaining === 0 && !entry.failed) entry.resolve(entry.results);
      }
    } finally {
      running = false;
      schedule();
      notifyIdle();
    }
  }

  function enqueue(items: readonly I[]): Promise<O[]> {
    if (closed) return Promise.reject(new BatcherClosedError());
    if (items.length === 0) return Promise.resolve([]);
    return new Promise<O[]>((resolve, reject) => {
      queue.push({
        items,
        results: new Array<O>(items.length),
        next: 0,
        remaining: items.length,
        failed: false,
        enqueuedAt: performance.now(),
        resolve,
        reject,
      });
      queuedItems += items.length;
      schedule();
    });
  }

  return {
    submit: enqueue,
    expect(): BatchTicket<I, O> {
      let open = !closed;
      if (open) expected++;
      const settle = () => {
        if (!open) return false;
        open = false;
        expected--;
        return true;
      };
      return {
        submit(items) {
          settle();
          return enqueue(items);
        },
        cancel() {
          // One caller fewer on the way: a batch waiting for it may start now.
          if (settle()) schedule();
        },
      };
    },
    get queued() {
      return queuedItems;
    },
    get expected() {
      return expected;
    },
    close(): Promise<void> {
      closed = true;
      schedule();
      if (!running && queue.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}
