import { spawn } from 'node:child_process';
import readline from 'node:readline';

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  readonly error?: Error;
}

/** Writes lines under a fixed-width, optionally coloured `name   | ` prefix. */
export type Prefixer = (name: string) => (text: string, stream?: 'out' | 'err') => void;

const COLOURS: Record<string, number> = { api: 36, worker: 35, redis: 31, start: 33 };

export function createPrefixer(colour: boolean): Prefixer {
  return (name) => {
    const tag = `${name.padEnd(6)} |`;
    const prefix = colour ? `\x1b[${COLOURS[name] ?? 32}m${tag}\x1b[0m ` : `${tag} `;
    return (text, stream = 'out') => {
      const out = stream === 'err' ? process.stderr : process.stdout;
      out.write(text.split('\n').map((line) => `${prefix}${line}\n`).join(''));
    };
  };
}

/** "code 1", "signal SIGKILL" or "could not start: ..." */
export function describeExit(exit: Exit): string {
  if (exit.error) return `could not start: ${exit.error.message}`;
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  /** Resolves when the process has exited (or failed to start); never rejects. */
  readonly exited: Promise<Exit>;
  /** The exit once it happened. */
  exit(): Exit | undefined;
  /**
   * SIGTERM, then SIGKILL to its whole process group when it has not exited after `timeoutMs`.
   * Resolves with how it ended and whether it had to be killed.
   */
  stop(timeoutMs: number): Promise<{ exit: Exit; killed: boolean }>;
  /** SIGKILL to its process group, synchronously (for the last-resort exit handler). */
  kill(): void;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

/**
 * Starts a process in its own process group (so a terminal's Ctrl-C reaches only this launcher,
 * which then stops each child exactly once, in order) with its output prefixed line by line.
 */
export function startChild(
  name: string,
  command: string,
  args: readonly string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; print: ReturnType<Prefixer>; onLine?: (line: string) => void },
): Child {
  const proc = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    proc.once('error', (error) => {
      exit ??= { code: null, signal: null, error };
      resolve(exit);
    });
    proc.once('exit', (code, signal) => {
      exit ??= { code, signal };
      // Anything left in its group now is an orphan (e.g. a grandchild it failed to stop).
      if (proc.pid !== undefined) signalGroup(proc.pid, 'SIGKILL');
    });
    // 'close' comes after 'exit' once its output is drained, so its last lines print first.
    proc.once('close', (code, signal) => {
      exit ??= { code, signal };
      resolve(exit);
    });
  });
  for (const [stream, kind] of [[proc.stdout, 'out'], [proc.stderr, 'err']] as const) {
    readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      opts.print(line, kind);
      opts.onLine?.(line);
    });
  }
  const pid = proc.pid ?? -1;
  return {
    name,
    pid,
    exited,
    exit: () => exit,
    async stop(timeoutMs) {
      if (exit) return { exit, killed: false };
      proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const first = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (first !== 'timeout') return { exit: first, killed: false };
      signalGroup(pid, 'SIGKILL');
      return { exit: await exited, killed: true };
    },
    kill() {
      if (!exit && pid > 0) signalGroup(pid, 'SIGKILL');
    },
  };
}
