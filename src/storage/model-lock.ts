import { mkdir, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../errors.ts';
import { fsErrorCode } from './atomic-file.ts';

export interface DirLockOptions {
  /** A lock older than this is taken to belong to a crashed holder and is broken. */
  staleMs?: number;
  /** Give up (AppError CONFLICT) after waiting this long. Keep it above staleMs. */
  timeoutMs?: number;
}

/**
 * Runs `fn` while holding a cross-process lock: the directory `lockPath`, created with an atomic
 * mkdir. Meant for short critical sections (milliseconds); a holder that dies leaves the lock
 * until it is staleMs old.
 */
export async function withDirLock<T>(lockPath: string, fn: () => Promise<T>, opts: DirLockOptions = {}): Promise<T> {
  const staleMs = opts.staleMs ?? 15_000;
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      await mkdir(lockPath);
      break;
    } catch (err) {
      if (fsErrorCode(err) !== 'EEXIST') throw err;
    }
    if (await isStale(lockPath, staleMs)) {
      // Two waiters may both judge the same lock stale; the window is microseconds after a crash.
      await rm(lockPath, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - started > timeoutMs) {
      throw new AppError('CONFLICT', 'Another change to this model is in progress; try again', { lock: lockPath });
    }
    await sleep(Math.min(2 ** attempt, 50) * (0.5 + Math.random()));
  }
  try {
    return await fn();
  } finally {
    await rm(lockPath, { recursive: true, force: true });
  }
}

async function isStale(lockPath: string, staleMs: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(lockPath)).mtimeMs > staleMs;
  } catch (err) {
    if (fsErrorCode(err) === 'ENOENT') return false;
    throw err;
  }
}
