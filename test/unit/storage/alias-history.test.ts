/** The alias history file: append-only JSON lines, newest first, torn lines skipped, growth bounded. */
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendAliasHistory, readAliasHistory } from '../../../src/storage/alias-history.ts';
import type { AliasHistoryEntry } from '../../../src/storage/model-registry.ts';

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'alias-history-'));
  file = path.join(dir, 'alias-history.jsonl');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const entry = (to: number, from: number | null = null): AliasHistoryEntry => ({
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, to)).toISOString(),
  alias: 'production',
  action: from === null ? 'set' : 'move',
  from,
  to,
  by: { name: 'anonymous', role: null },
  forced: false,
});

describe('alias history', () => {
  it('is empty before the first move, then newest first up to the limit', async () => {
    expect(await readAliasHistory(file, 10)).toEqual([]);
    for (let v = 1; v <= 5; v++) await appendAliasHistory(file, entry(v, v > 1 ? v - 1 : null));
    expect((await readAliasHistory(file, 10)).map((e) => e.to)).toEqual([5, 4, 3, 2, 1]);
    expect((await readAliasHistory(file, 2)).map((e) => e.to)).toEqual([5, 4]);
  });

  it('skips a line torn by a crash and starts the next entry on its own line', async () => {
    await appendAliasHistory(file, entry(1));
    await appendFile(file, '{"at":"2026-01-01T00:00:0'); // a crash mid-append
    await appendAliasHistory(file, entry(2, 1));
    expect((await readAliasHistory(file, 10)).map((e) => e.to)).toEqual([2, 1]);
    expect((await readFile(file, 'utf8')).split('\n').filter(Boolean)).toHaveLength(3);
  });

  it('keeps the newest half when the file passes its bound', async () => {
    const max = 4096;
    for (let v = 1; v <= 200; v++) await appendAliasHistory(file, entry(v, v - 1 || null), max);
    expect((await stat(file)).size).toBeLessThanOrEqual(max);
    const kept = await readAliasHistory(file, 1000);
    expect(kept[0]!.to).toBe(200);
    expect(kept.length).toBeGreaterThan(5);
    expect(kept.map((e) => e.to)).toEqual(Array.from({ length: kept.length }, (_, i) => 200 - i));
  });
});
