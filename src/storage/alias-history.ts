import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fsErrorCode, fsyncDir, writeFileAtomic } from './atomic-file.ts';
import type { AliasHistoryEntry } from './model-types.ts';
import { isPlainObject } from './model-validation.ts';

/**
 * The append-only alias history of one model, one JSON line per move. Callers hold the model
 * lock, so there is one appender at a time. Each append is fsynced before it returns (and the
 * directory, when the file is new). A crash mid-append can leave a torn last line: readers skip
 * lines that do not parse, and the next append starts on a fresh line. Growth is bounded: past
 * MAX_HISTORY_BYTES the file is rewritten (atomically) with its newest half.
 */
export const MAX_HISTORY_BYTES = 1024 * 1024;

export async function appendAliasHistory(file: string, entry: AliasHistoryEntry, maxBytes = MAX_HISTORY_BYTES): Promise<void> {
  const line = `${JSON.stringify(entry)}\n`;
  const handle = await open(file, 'a+');
  let size: number;
  try {
    const before = (await handle.stat()).size;
    let prefix = '';
    if (before > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, before - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    await handle.appendFile(prefix + line);
    await handle.sync();
    size = before + Buffer.byteLength(prefix + line);
    if (before === 0) await fsyncDir(path.dirname(file));
  } finally {
    await handle.close();
  }
  if (size > maxBytes) await compact(file, maxBytes);
}

/** Keeps the newest entries that fit in half of maxBytes. */
async function compact(file: string, maxBytes: number): Promise<void> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.length > 0);
  const kept: string[] = [];
  let bytes = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    bytes += Buffer.byteLength(lines[i]!) + 1;
    if (bytes > maxBytes / 2) break;
    kept.push(lines[i]!);
  }
  await writeFileAtomic(file, kept.reverse().map((l) => `${l}\n`).join(''));
}

/** Newest first, at most `limit`; [] when the model never had an alias moved. */
export async function readAliasHistory(file: string, limit: number): Promise<AliasHistoryEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (fsErrorCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: AliasHistoryEntry[] = [];
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0 && out.length < limit; i--) {
    const entry = parseEntry(lines[i]!);
    if (entry) out.push(entry);
  }
  return out;
}

const isVersionOrNull = (v: unknown): v is number | null => v === null || (Number.isSafeInteger(v) && (v as number) >= 1);

function parseEntry(line: string): AliasHistoryEntry | null {
  if (line.trim() === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return null; // a line torn by a crash mid-append
  }
  if (!isPlainObject(parsed)) return null;
  const { at, alias, action, from, to, by, forced } = parsed;
  if (typeof at !== 'string' || typeof alias !== 'string' || typeof forced !== 'boolean') return null;
  if (action !== 'set' && action !== 'move' && action !== 'delete') return null;
  if (!isVersionOrNull(from) || !isVersionOrNull(to) || !isPlainObject(by) || typeof by.name !== 'string') return null;
  return parsed as unknown as AliasHistoryEntry;
}
