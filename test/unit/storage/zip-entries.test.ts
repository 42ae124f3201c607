import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.ts';
import { SKIP } from '../../../src/storage/dataset-layout.ts';
import type { SourceFile, SourceLimits } from '../../../src/storage/source-files.ts';
import { safeEntryPath, scanZip, walkZip } from '../../../src/storage/zip-entries.ts';
import { deflatedZeros, writeRawZip, writeZip, type RawEntry } from '../../helpers/zips.ts';

const LIMITS: SourceLimits = { maxUncompressedBytes: 1 << 30, maxEntries: 1000, maxEntryBytes: 1 << 20 };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'zip-entries-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

/** Walks a zip, reading every readable entry; returns what was seen. */
async function readAll(file: string, limits = LIMITS) {
  const seen: { path: string; bytes?: number; problem?: SourceFile['problem'] }[] = [];
  await walkZip(file, limits, async (f) => {
    seen.push(f.problem ? { path: f.path, problem: f.problem } : { path: f.path, bytes: (await f.read()).length });
  });
  return seen;
}

async function raw(entries: RawEntry[]): Promise<string> {
  const file = path.join(dir, 'raw.zip');
  await writeRawZip(file, entries);
  return file;
}

const hello = Buffer.from('hello');

describe('safeEntryPath', () => {
  it('normalises harmless paths', () => {
    expect(safeEntryPath('NORMAL/a.png')).toBe('NORMAL/a.png');
    expect(safeEntryPath('./x//NORMAL/./a.png')).toBe('x/NORMAL/a.png');
    expect(safeEntryPath('NORMAL\\a.png')).toBe('NORMAL/a.png');
    expect(safeEntryPath('a..b/c..png')).toBe('a..b/c..png');
  });

  it.each(['../a.png', 'NORMAL/../../a.png', '..\\a.png', 'x\\..\\..\\a.png', '/etc/passwd', '\\a.png', 'C:\\a.png', 'c:/a.png', 'a\0.png'])(
    'refuses %j',
    (name) => {
      expect(() => safeEntryPath(name)).toThrowError(expect.objectContaining({ code: 'UNSAFE_ARCHIVE_ENTRY' }));
    },
  );
});

describe('scanZip and walkZip', () => {
  it('lists files (not folders) and streams their bytes', async () => {
    const file = path.join(dir, 'ok.zip');
    await writeZip(file, [
      { name: 'top/', data: Buffer.alloc(0) },
      { name: 'top/NORMAL/a.png', data: hello },
      { name: 'top/b.txt', data: Buffer.alloc(5000, 1) },
    ]);
    const scan = await scanZip(file, LIMITS);
    expect(scan.files).toEqual(['top/NORMAL/a.png', 'top/b.txt']);
    expect(scan.bytes).toBe(5005);
    expect(await readAll(file)).toEqual([
      { path: 'top/NORMAL/a.png', bytes: 5 },
      { path: 'top/b.txt', bytes: 5000 },
    ]);
  });

  it.each([
    ['a parent segment', '../evil.png'],
    ['a nested parent segment', 'NORMAL/../../evil.png'],
    ['an absolute path', '/tmp/evil.png'],
    ['a drive path', 'C:\\evil.png'],
    ['a backslash parent', '..\\evil.png'],
  ])('refuses the whole archive for %s, naming the entry', async (_what, name) => {
    const file = await raw([
      { name: 'NORMAL/fine.png', data: hello },
      { name, data: hello },
    ]);
    for (const run of [scanZip(file, LIMITS), readAll(file)]) {
      const err = await failure(run);
      expect(err.code).toBe('UNSAFE_ARCHIVE_ENTRY');
      expect(err.message).toContain(JSON.stringify(name));
    }
  });

  it('refuses symbolic links', async () => {
    const file = await raw([{ name: 'NORMAL/link.png', data: Buffer.from('/etc/passwd'), unixMode: 0o120777 }]);
    const err = await failure(scanZip(file, LIMITS));
    expect(err.code).toBe('UNSAFE_ARCHIVE_ENTRY');
    expect(err.message).toMatch(/symbolic link/);
  });

  it('refuses what is not a zip, and truncated zips', async () => {
    const text = path.join(dir, 'text.zip');
    await writeFile(text, 'this is not a zip file at all');
    expect((await failure(scanZip(text, LIMITS))).code).toBe('INVALID_ARCHIVE');
    const empty = path.join(dir, 'empty.zip');
    await writeFile(empty, '');
    expect((await failure(scanZip(empty, LIMITS))).code).toBe('INVALID_ARCHIVE');
    const whole = path.join(dir, 'whole.zip');
    await writeZip(whole, [{ name: 'NORMAL/a.png', data: Buffer.alloc(3000, 7) }]);
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(whole);
    const cut = path.join(dir, 'cut.zip');
    for (const keep of [0.5, 0.95]) {
      await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * keep)));
      expect((await failure(scanZip(cut, LIMITS))).code).toBe('INVALID_ARCHIVE');
    }
  });

  it('refuses archives with too many entries before reading them', async () => {
    const file = await raw(Array.from({ length: 12 }, (_, i) => ({ name: `NORMAL/${i}.png`, data: hello })));
    const err = await failure(scanZip(file, { ...LIMITS, maxEntries: 10 }));
    expect(err.code).toBe('ARCHIVE_TOO_LARGE');
    expect(err.message).toMatch(/12 entries/);
    expect((await failure(readAll(file, { ...LIMITS, maxEntries: 10 }))).code).toBe('ARCHIVE_TOO_LARGE');
  });

  it('refuses archives whose declared total is over the cap', async () => {
    const file = await raw(Array.from({ length: 4 }, (_, i) => ({ name: `NORMAL/${i}.bin`, data: Buffer.alloc(1000) })));
    expect((await failure(scanZip(file, { ...LIMITS, maxUncompressedBytes: 3500 }))).code).toBe('ARCHIVE_TOO_LARGE');
    expect((await scanZip(file, { ...LIMITS, maxUncompressedBytes: 4000 })).files).toHaveLength(4);
  });

  describe('zip bombs (200 MB of zeros in under 1 MB)', () => {
    let bomb: { compressed: Buffer; crc32: number };
    const inflated = 200 * 1024 * 1024;
    beforeEach(async () => {
      bomb ??= await deflatedZeros(inflated);
    });

    it('refuses an honest bomb by the total cap from the central directory alone', async () => {
      const file = await raw([
        { name: 'NORMAL/bomb.png', data: Buffer.alloc(0), method: 8, ...bomb, uncompressedSize: inflated },
      ]);
      const started = performance.now();
      const err = await failure(scanZip(file, { ...LIMITS, maxUncompressedBytes: 50 * 1024 * 1024 }));
      expect(err.code).toBe('ARCHIVE_TOO_LARGE');
      expect(performance.now() - started).toBeLessThan(500);
      // Under the total cap, the entry cap skips it unread.
      expect(await readAll(file)).toEqual([
        { path: 'NORMAL/bomb.png', problem: expect.objectContaining({ code: SKIP.ENTRY_TOO_LARGE }) },
      ]);
    });

    it('stops a bomb that lies about its size as soon as it inflates past the declared size', async () => {
      const file = await raw([
        { name: 'NORMAL/bomb.png', data: Buffer.alloc(0), method: 8, ...bomb, uncompressedSize: 1000 },
      ]);
      const started = performance.now();
      const err = await failure(readAll(file));
      expect(performance.now() - started).toBeLessThan(500);
      expect(err.code).toBe('INVALID_ARCHIVE');
      expect(err.message).toContain('NORMAL/bomb.png');
    });
  });

  it('skips encrypted entries and unknown compression methods with reasons', async () => {
    // Traditional encryption puts a 12-byte header before the data: stored size = content + 12.
    const encrypted = await raw([
      { name: 'NORMAL/secret.png', data: Buffer.alloc(17), flags: 0x1, uncompressedSize: 5, crc32: 0 },
    ]);
    expect(await readAll(encrypted)).toEqual([
      { path: 'NORMAL/secret.png', problem: expect.objectContaining({ code: SKIP.ENTRY_ENCRYPTED }) },
    ]);
    const lzma = await raw([{ name: 'NORMAL/lzma.png', data: hello, method: 14 }]);
    expect(await readAll(lzma)).toEqual([
      { path: 'NORMAL/lzma.png', problem: expect.objectContaining({ code: SKIP.UNSUPPORTED_COMPRESSION }) },
    ]);
  });

  it('refuses damaged entry data', async () => {
    const file = await raw([{ name: 'NORMAL/a.png', data: hello, crc32: 12345 }]);
    const err = await failure(readAll(file));
    expect(err.code).toBe('INVALID_ARCHIVE');
    expect(err.message).toMatch(/CRC/);
  });
});
