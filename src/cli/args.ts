import { isAppError } from '../errors.ts';

/** Small helpers shared by the command-line tools. */

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function intOption(flag: string, raw: string | undefined, min: number, max: number): number {
  const n = Number(raw);
  if (raw === undefined || !/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  }
  return n;
}

export function numberOption(flag: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(n)) {
    throw new UsageError(`${flag} must be a number (got ${JSON.stringify(raw)})`);
  }
  return n;
}

/** Prints an error the way a command-line user wants it (no stack for expected problems) and exits. */
export function fail(err: unknown): never {
  if (err instanceof UsageError || (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) {
    process.stderr.write(`error: ${err.message}\nRun with --help for the options.\n`);
    process.exit(2);
  }
  if (isAppError(err)) {
    process.stderr.write(`error: ${err.code}: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '--';
  const total = Math.max(0, Math.round(s));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
