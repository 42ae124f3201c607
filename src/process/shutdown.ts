/**
 * The one shutdown rule set of every long-running process (the API src/server.ts, the worker
 * workers/main.ts, and `npm start` scripts/start.ts):
 *
 * - SIGTERM, SIGINT and SIGHUP all ask for a graceful stop: `close()` runs once.
 * - Copies of that signal arriving within SIGNAL_ECHO_MS of the first are the same request (a
 *   terminal's Ctrl-C reaches the whole process group, and npm and tsx relay it again): ignored.
 * - A signal after that forces: `onForce()` runs (e.g. kill children), then exit 1 at once.
 * - A close that outlasts `timeoutMs` exits 1.
 * - Exit codes: 0 when `close()` resolved, 1 for everything else (it rejected, was forced, timed
 *   out; and, see exitOnStartFailure, invalid configuration or a failed start).
 */
import { ConfigError } from '../config.ts';
import type { Logger } from '../domain/logger.ts';

export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
export type ShutdownSignal = (typeof SHUTDOWN_SIGNALS)[number];
export const SIGNAL_ECHO_MS = 1000;
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;

export interface ShutdownOptions {
  readonly log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Stops the process's work gracefully; its outcome decides the exit code. */
  readonly close: (signal: ShutdownSignal) => Promise<void>;
  /** Past this the close is abandoned and the process exits 1. */
  readonly timeoutMs: number;
  /** Runs before a forced exit (a second signal or the timeout). Must be synchronous. */
  readonly onForce?: () => void;
  /** Runs just before the process exits (e.g. flush a log). Must be synchronous. */
  readonly beforeExit?: (code: number) => void;
  /** For tests: defaults to process.exit, process.on and Date.now. */
  readonly exit?: (code: number) => void;
  readonly on?: (signal: ShutdownSignal, handler: () => void) => void;
  readonly now?: () => number;
}

export interface Shutdown {
  /** Starts the graceful stop as a signal would (e.g. when a part of the process fails). */
  trigger(signal: ShutdownSignal): void;
  /** True once a stop has begun. */
  readonly stopping: boolean;
}

export function installShutdown(opts: ShutdownOptions): Shutdown {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const on = opts.on ?? ((signal, handler) => process.on(signal, handler));
  const now = opts.now ?? Date.now;
  let firstAt: number | undefined;
  let exited = false;
  const finish = (code: number) => {
    if (exited) return;
    exited = true;
    opts.beforeExit?.(code);
    exit(code);
  };
  const force = (why: string) => {
    opts.onForce?.();
    opts.log.error({}, why);
    finish(EXIT_FAILURE);
  };
  const trigger = (signal: ShutdownSignal) => {
    const t = now();
    if (firstAt !== undefined) {
      if (t - firstAt < SIGNAL_ECHO_MS) return;
      force(`${signal} again while stopping: exiting now`);
      return;
    }
    firstAt = t;
    opts.log.info({ signal }, 'stopping');
    const timer = setTimeout(() => force(`stopping took longer than ${opts.timeoutMs} ms: exiting`), opts.timeoutMs);
    timer.unref();
    opts.close(signal).then(
      () => {
        clearTimeout(timer);
        finish(EXIT_OK);
      },
      (err: unknown) => {
        clearTimeout(timer);
        opts.log.error({ err }, 'error while stopping');
        finish(EXIT_FAILURE);
      },
    );
  };
  for (const signal of SHUTDOWN_SIGNALS) on(signal, () => trigger(signal));
  return {
    trigger,
    get stopping() {
      return firstAt !== undefined;
    },
  };
}

/** Invalid configuration or a failed start: the message on stderr, exit 1. */
export function exitOnStartFailure(what: string, err: unknown): never {
  if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
  else process.stderr.write(`${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(EXIT_FAILURE);
}
