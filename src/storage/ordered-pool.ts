export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Runs up to `width` async jobs at once and hands their results to `done` in submission order.
 * submit() waits while the pool is full, so the producer (reading the next file) overlaps the
 * work without memory growing.
 */
export class OrderedPool<T> {
  private readonly pending: Promise<void>[] = [];
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly width: number) {}

  async submit(start: () => Promise<T>, done: (result: Settled<T>) => Promise<void> | void): Promise<void> {
    while (this.pending.length >= this.width) await this.pending.shift();
    const result = start().then(
      (value): Settled<T> => ({ ok: true, value }),
      (error: unknown): Settled<T> => ({ ok: false, error }),
    );
    this.tail = this.tail.then(async () => done(await result));
    // Failures surface through drain() or the next submit(); this only marks them handled meanwhile.
    this.tail.catch(() => undefined);
    this.pending.push(this.tail);
  }

  /** Waits for every job and its `done`; rethrows the first failure of a `done`. */
  async drain(): Promise<void> {
    while (this.pending.length > 0) await this.pending.shift();
  }

  /** Waits for everything to stop, ignoring failures (for cleanup paths). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.pending.splice(0));
  }
}
