/**
 * Durable writes, the one way storage puts anything on disk that must survive a crash: files are
 * flushed before they are renamed into place, and the directory holding a new or renamed name is
 * flushed after.
 */
import { randomUUID } from 'node:crypto';
import { link, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** The errno code of a Node.js fs error, if any. */
export function fsErrorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') {
    return err.code;
  }
  return undefined;
}

/** Flushes a directory's entries (new, renamed or removed names) to disk; on a file, flushes the file. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    // Some platforms and file systems cannot fsync a directory; the data files are synced anyway.
    if (!['EISDIR', 'EINVAL', 'EPERM', 'EBADF'].includes(fsErrorCode(err) ?? '')) throw err;
  } finally {
    await handle?.close();
  }
}

/** Creates `file` (which must not exist), writes `data` and fsyncs it before returning. */
export async function writeFileDurable(file: string, data: string | Uint8Array): Promise<void> {
  const handle = await open(file, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Suffix of the temporary files writeFileAtomic leaves behind if the process dies mid-write. */
export const ATOMIC_TEMP_SUFFIX = '.atomic-tmp';

/**
 * Replaces `file` so that readers see either the old or the new content, never a mix:
 * write a temporary sibling, fsync it, rename it over `file`, fsync the directory.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${randomUUID()}${ATOMIC_TEMP_SUFFIX}`);
  try {
    await writeFileDurable(temp, data);
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

/**
 * Creates `file` with `data` unless it exists, atomically: readers see no file or all of it, and a
 * file that exists is never replaced (a hard link of a flushed temporary sibling, which fails when
 * the name is taken). Returns false when `file` already existed.
 */
export async function createFileAtomic(file: string, data: string | Uint8Array): Promise<boolean> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${randomUUID()}${ATOMIC_TEMP_SUFFIX}`);
  let created = true;
  try {
    await writeFileDurable(temp, data);
    await link(temp, file).catch((err: unknown) => {
      if (fsErrorCode(err) !== 'EEXIST') throw err;
      created = false;
    });
  } finally {
    await rm(temp, { force: true });
  }
  await fsyncDir(dir);
  return created;
}

/**
 * Renames a finished file or directory to `to` so that a crash leaves either nothing or all of it:
 * flushes `from` (a directory's entries; a file's data), renames, then flushes the new parent.
 */
export async function moveIntoPlace(from: string, to: string): Promise<void> {
  await fsyncDir(from);
  await rename(from, to);
  await fsyncDir(path.dirname(to));
}
