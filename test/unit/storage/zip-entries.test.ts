import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import yazl from 'yazl';
import { AppError } from '../../../src/errors.ts';
import { SKIP } from '../../../src/storage/dataset-layout.ts';
import type { SourceFile, SourceLimits } from '../../../src/storage/source-files.ts';
import { safeEntryPath, scanZip, walkZip } from '../../../src/storage/zip-entries.ts';
import { deflatedZeros, rawZip, writeRawZip, writeZip, type RawEntry } from '../../helpers/zips.ts';

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
    // One at a time: a second promise made up front could reject before anything awaits it.
    for (const run of [() => scanZip(file, LIMITS), () => readAll(file)]) {
      const err = await failure(run());
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
      const inflaters = vi.spyOn(zlib, 'createInflateRaw');
      try {
        const err = await failure(scanZip(file, { ...LIMITS, maxUncompressedBytes: 50 * 1024 * 1024 }));
        expect(err.code).toBe('ARCHIVE_TOO_LARGE');
        expect(inflaters).not.toHaveBeenCalled();
      } finally {
        inflaters.mockRestore();
      }
      // Under the total cap, the entry cap skips it unread.
      expect(await readAll(file)).toEqual([
        { path: 'NORMAL/bomb.png', problem: expect.objectContaining({ code: SKIP.ENTRY_TOO_LARGE }) },
      ]);
    });

    it('stops a bomb that lies about its size as soon as it inflates past the declared size', async () => {
      const file = await raw([
        { name: 'NORMAL/bomb.png', data: Buffer.alloc(0), method: 8, ...bomb, uncompressedSize: 1000 },
      ]);
      const err = await failure(readAll(file));
      expect(err.code).toBe('INVALID_ARCHIVE');
      expect(err.message).toMatch(/too many bytes|past/);
      expect(err.message).toContain('NORMAL/bomb.png');
    });
  });

  describe('entries that overlap or do not tile the file', () => {
    it('refuses 50 central-directory entries pointing at one compressed stream, before inflating anything', async () => {
      const { compressed, crc32 } = await deflatedZeros(32 * 1024 * 1024);
      const one = { data: Buffer.alloc(0), method: 8, compressed, crc32, uncompressedSize: 32 * 1024 * 1024 };
      const entries: RawEntry[] = [{ name: 'NORMAL/0.png', ...one }];
      for (let i = 1; i < 50; i++) entries.push({ name: `${i % 2 ? 'PNEUMONIA' : 'NORMAL'}/${i}.png`, ...one, sharesDataOf: 0 });
      const file = await raw(entries);
      expect((await readFile(file)).length).toBeLessThan(256 * 1024);
      const inflaters = vi.spyOn(zlib, 'createInflateRaw');
      try {
        const err = await failure(scanZip(file, { ...LIMITS, maxEntryBytes: 64 * 1024 * 1024 }));
        expect(err.code).toBe('ARCHIVE_TOO_LARGE');
        expect(err.status).toBe(413);
        expect(err.message).toBe(
          'archive refused: entry "PNEUMONIA/1.png" does not start where "NORMAL/0.png" ends; entries must follow one ' +
            'another without overlapping (overlapping entries are how zip bombs inflate one compressed stream many times)',
        );
        expect(inflaters).not.toHaveBeenCalled();
        // The spy does see inflating: walking a deflated entry creates an inflater.
        const normal = path.join(dir, 'normal.zip');
        await writeRawZip(normal, [{ name: 'NORMAL/x.png', data: hello, method: 8 }]);
        await readAll(normal);
        expect(inflaters).toHaveBeenCalledTimes(1);
      } finally {
        inflaters.mockRestore();
      }
    });

    it('refuses an entry pointing into the middle of another, a gap between entries, and bytes before the first', async () => {
      const a = { name: 'NORMAL/a.png', data: Buffer.alloc(100, 1) };
      const b = { name: 'NORMAL/b.png', data: Buffer.alloc(100, 2) };
      const zip = rawZip([a, b]);
      // Point b's central record 10 bytes into a's data.
      const central = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 4);
      const inside = Buffer.from(zip);
      inside.writeUInt32LE(40, central + 42);
      await writeFile(path.join(dir, 'inside.zip'), inside);
      expect((await failure(scanZip(path.join(dir, 'inside.zip'), LIMITS))).code).toBe('ARCHIVE_TOO_LARGE');
      const gap = await raw([a, { ...b, gapBefore: Buffer.alloc(7) }]);
      expect((await failure(scanZip(gap, LIMITS))).message).toContain('does not start where "NORMAL/a.png" ends');
      const prefix = await raw([{ ...a, gapBefore: Buffer.from('MZ stub') }, b]);
      expect((await failure(scanZip(prefix, LIMITS))).message).toContain('is not at the start of the file');
    });

    it('accepts the layouts zip writers produce: stored, deflated, data descriptors, folders', async () => {
      const zip = new yazl.ZipFile();
      zip.addBuffer(hello, 'NORMAL/a.png');
      zip.addBuffer(hello, 'NORMAL/b.png', { compress: false });
      zip.addEmptyDirectory('PNEUMONIA/');
      await writeFile(path.join(dir, 'source.bin'), Buffer.alloc(5000, 3));
      zip.addReadStream(createReadStream(path.join(dir, 'source.bin')), 'PNEUMONIA/streamed.png'); // data descriptor
      zip.end();
      const file = path.join(dir, 'yazl.zip');
      const chunks: Buffer[] = [];
      for await (const c of zip.outputStream) chunks.push(c as Buffer);
      await writeFile(file, Buffer.concat(chunks));
      expect((await scanZip(file, LIMITS)).files).toEqual(['NORMAL/a.png', 'NORMAL/b.png', 'PNEUMONIA/streamed.png']);
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
