import { describe, expect, it } from 'vitest';
import { createBackoff, WORKER_RESTART } from '../../../scripts/start/supervisor.ts';

describe('worker restart backoff (npm start)', () => {
  it('doubles from the first delay per quick crash, capped', () => {
    const b = createBackoff({ firstDelayMs: 1000, maxDelayMs: 30_000, resetAfterMs: 60_000 });
    expect([0, 0, 0, 0, 0, 0, 0].map(() => b.next(100))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  it('starts over once a run stayed up long enough', () => {
    const b = createBackoff(WORKER_RESTART);
    b.next(10);
    b.next(10);
    expect(b.next(10)).toBe(4 * WORKER_RESTART.firstDelayMs);
    expect(b.next(WORKER_RESTART.resetAfterMs)).toBe(WORKER_RESTART.firstDelayMs);
    expect(b.next(10)).toBe(2 * WORKER_RESTART.firstDelayMs);
  });
});
