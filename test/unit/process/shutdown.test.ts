import { afterEach, describe, expect, it, vi } from 'vitest';
import { EXIT_FAILURE, EXIT_OK, installShutdown, SHUTDOWN_SIGNALS, SIGNAL_ECHO_MS, type ShutdownSignal } from '../../../src/process/shutdown.ts';

/** installShutdown with fake signals, clock and exit; `close` is controlled by the test. */
function harness(opts: { timeoutMs?: number; close?: () => Promise<void> } = {}) {
  const handlers = new Map<ShutdownSignal, () => void>();
  const exits: number[] = [];
  const order: string[] = [];
  let t = 1_000_000;
  let release!: () => void;
  let fail!: (err: Error) => void;
  const closing = new Promise<void>((resolve, reject) => {
    release = resolve;
    fail = reject;
  });
  const closes: ShutdownSignal[] = [];
  const shutdown = installShutdown({
    log: { info: () => undefined, warn: () => undefined, error: (_o, msg) => order.push(`error: ${msg}`) },
    timeoutMs: opts.timeoutMs ?? 10_000,
    close: (signal) => {
      closes.push(signal);
      return opts.close ? opts.close() : closing;
    },
    onForce: () => order.push('force'),
    beforeExit: (code) => order.push(`beforeExit ${code}`),
    exit: (code) => exits.push(code),
    on: (signal, handler) => handlers.set(signal, handler),
    now: () => t,
  });
  return {
    shutdown,
    exits,
    order,
    closes,
    release,
    fail,
    signal: (s: ShutdownSignal) => handlers.get(s)!(),
    advance: (ms: number) => (t += ms),
    handlers,
  };
}

const flush = () => new Promise((r) => setImmediate(r));

afterEach(() => {
  vi.useRealTimers();
});

describe('installShutdown: the one rule set of the api, the worker and npm start', () => {
  it('listens to SIGTERM, SIGINT and SIGHUP alike', () => {
    const h = harness();
    expect([...h.handlers.keys()].sort()).toEqual([...SHUTDOWN_SIGNALS].sort());
  });

  it.each(SHUTDOWN_SIGNALS)('%s: closes once and exits 0 when the close succeeds', async (sig) => {
    const h = harness();
    h.signal(sig);
    expect(h.shutdown.stopping).toBe(true);
    h.release();
    await flush();
    expect(h.closes).toEqual([sig]);
    expect(h.exits).toEqual([EXIT_OK]);
    expect(h.order).toEqual(['beforeExit 0']);
  });

  it('exits 1 when the close fails', async () => {
    const h = harness();
    h.signal('SIGTERM');
    h.fail(new Error('boom'));
    await flush();
    expect(h.exits).toEqual([EXIT_FAILURE]);
  });

  it('ignores copies of the signal within the echo window (one Ctrl-C relayed by npm and tsx)', async () => {
    const h = harness();
    h.signal('SIGINT');
    h.advance(10);
    h.signal('SIGINT');
    h.advance(SIGNAL_ECHO_MS - 20);
    h.signal('SIGTERM');
    expect(h.closes).toEqual(['SIGINT']);
    expect(h.exits).toEqual([]);
    h.release();
    await flush();
    expect(h.exits).toEqual([EXIT_OK]);
  });

  it('a signal after the echo window forces: onForce, then exit 1 at once, and the later close changes nothing', async () => {
    const h = harness();
    h.signal('SIGINT');
    h.advance(SIGNAL_ECHO_MS + 1);
    h.signal('SIGINT');
    expect(h.exits).toEqual([EXIT_FAILURE]);
    expect(h.order[0]).toBe('force');
    h.release();
    await flush();
    expect(h.exits).toEqual([EXIT_FAILURE]);
  });

  it('a close that outlasts the timeout exits 1', async () => {
    vi.useFakeTimers();
    const h = harness({ timeoutMs: 5000 });
    h.signal('SIGTERM');
    vi.advanceTimersByTime(4999);
    expect(h.exits).toEqual([]);
    vi.advanceTimersByTime(2);
    expect(h.exits).toEqual([EXIT_FAILURE]);
    expect(h.order).toContain('force');
  });

  it('trigger() starts the same graceful stop as a signal', async () => {
    const h = harness();
    h.shutdown.trigger('SIGTERM');
    h.release();
    await flush();
    expect(h.closes).toEqual(['SIGTERM']);
    expect(h.exits).toEqual([EXIT_OK]);
  });
});
