/**
 * A dataset folder on local disk, walked like a zip: files in a stable (sorted) order, symbolic
 * links never followed (recorded as skipped), system folders (.git, __MACOSX...) not descended into.
 */
import { lstat, opendir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.ts';
import { isSystemPath, SKIP } from './dataset-layout.ts';
import type { SourceFile, SourceLimits, SourceScan, VisitFile } from './source-files.ts';

interface Found {
  path: string;
  size: number;
  problem?: SourceFile['problem'];
}

function unreadable(dir: string, err: unknown): AppError {
  const code = (err as { code?: unknown }).code;
  return new AppError('BAD_REQUEST', `cannot read dataset folder ${dir} (${String(code ?? err)})`, undefined, {
    cause: err,
  });
}

async function* listFiles(root: string, relative = ''): AsyncGenerator<Found> {
  const names: string[] = [];
  try {
    for await (const d of await opendir(path.join(root, relative))) names.push(d.name);
  } catch (err) {
    throw unreadable(path.join(root, relative), err);
  }
  names.sort();
  for (const name of names) {
    const rel = relative ? `${relative}/${name}` : name;
    let stat;
    try {
      stat = await lstat(path.join(root, rel));
    } catch (err) {
      throw unreadable(path.join(root, rel), err);
    }
    if (stat.isSymbolicLink()) {
      yield { path: rel, size: 0, problem: { code: SKIP.NOT_A_FILE, reason: 'symbolic link (not followed)' } };
    } else if (stat.isDirectory()) {
      // One record for a whole system folder instead of one per file inside it.
      if (isSystemPath(name)) yield { path: rel, size: 0 };
      else yield* listFiles(root, rel);
    } else if (stat.isFile()) {
      yield { path: rel, size: stat.size };
    } else {
      yield { path: rel, size: 0, problem: { code: SKIP.NOT_A_FILE, reason: 'not a regular file' } };
    }
  }
}

function checkCaps(entries: number, bytes: number, limits: SourceLimits): void {
  if (entries > limits.maxEntries) {
    throw new AppError('ARCHIVE_TOO_LARGE', `dataset folder has more than ${limits.maxEntries} files`);
  }
  if (bytes > limits.maxUncompressedBytes) {
    throw new AppError('ARCHIVE_TOO_LARGE', `dataset folder holds more than ${limits.maxUncompressedBytes} bytes`);
  }
}

export async function scanDirectory(dir: string, limits: SourceLimits): Promise<SourceScan> {
  const files: string[] = [];
  let bytes = 0;
  for await (const f of listFiles(dir)) {
    files.push(f.path);
    bytes += f.size;
    checkCaps(files.length, bytes, limits);
  }
  return { entries: files.length, bytes, files };
}

export async function walkDirectory(dir: string, limits: SourceLimits, visit: VisitFile): Promise<void> {
  let entries = 0;
  let bytes = 0;
  for await (const f of listFiles(dir)) {
    checkCaps(++entries, (bytes += f.size), limits);
    const problem =
      f.problem ??
      (f.size > limits.maxEntryBytes
        ? { code: SKIP.ENTRY_TOO_LARGE, reason: `file is ${f.size} bytes; the limit is ${limits.maxEntryBytes}` }
        : undefined);
    const file: SourceFile = {
      path: f.path,
      size: f.size,
      problem,
      read: async () => {
        let data;
        try {
          data = await readFile(path.join(dir, f.path));
        } catch (err) {
          throw unreadable(path.join(dir, f.path), err);
        }
        if (data.length > limits.maxEntryBytes) {
          throw new AppError('BAD_REQUEST', `${f.path} grew past ${limits.maxEntryBytes} bytes while being read`);
        }
        return data;
      },
    };
    await visit(file);
  }
}
