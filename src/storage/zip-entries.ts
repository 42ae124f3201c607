/**
 * Streaming, defensive zip reading: one entry at a time, never the whole archive in memory.
 * Archives with unsafe entries (paths escaping the archive, absolute paths, symbolic links) are
 * refused whole; caps on entry count and total size, and the layout of the entries (each one's
 * local header and data in order, none overlapping another, together tiling the file up to the
 * central directory), are checked before anything is decompressed, and an entry that inflates
 * past its declared size is caught.
 */
import zlib from 'node:zlib';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { AppError, isAppError } from '../errors.ts';
import { SKIP } from './dataset-layout.ts';
import type { SourceFile, SourceLimits, SourceScan, VisitFile } from './source-files.ts';

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const MSDOS_DIRECTORY = 0x10;

function unsafe(name: string, why: string): AppError {
  return new AppError('UNSAFE_ARCHIVE_ENTRY', `archive refused: entry ${JSON.stringify(name)} ${why}`, {
    entry: name,
  });
}

/**
 * The entry's path, '/'-separated without empty or '.' segments; refuses `..` segments, absolute
 * and drive paths and NUL characters. Backslashes count as separators (old Windows tools write
 * them), so `..\x` and `\x` are refused too.
 */
export function safeEntryPath(name: string): string {
  if (name.includes('\0')) throw unsafe(name, 'has a NUL character in its name');
  const slashed = name.replace(/\\/g, '/');
  if (slashed.startsWith('/') || /^[a-zA-Z]:/.test(slashed)) throw unsafe(name, 'has an absolute path');
  const segments = slashed.split('/');
  if (segments.includes('..')) throw unsafe(name, "leaves the archive ('..' in its path)");
  return segments.filter((s) => s !== '' && s !== '.').join('/');
}

function archiveError(err: unknown): AppError {
  if (isAppError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/strong encryption/i.test(message)) {
    return new AppError('INVALID_ARCHIVE', 'encrypted zip archives are not supported', undefined, { cause: err });
  }
  return new AppError('INVALID_ARCHIVE', `not a valid zip archive (${message})`, undefined, { cause: err });
}

function damaged(path: string, err: unknown): AppError {
  if (isAppError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AppError('INVALID_ARCHIVE', `zip entry ${JSON.stringify(path)} is damaged (${message})`, { entry: path }, {
    cause: err,
  });
}

function openZip(zipPath: string, limits: SourceLimits): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    // decodeStrings: false because names are decoded and checked here (safeEntryPath) with
    // clearer errors than yauzl's, and so that no raw yauzl error escapes for a bad name.
    yauzl.open(
      zipPath,
      { lazyEntries: true, autoClose: true, validateEntrySizes: true, strictFileNames: true, decodeStrings: false },
      (err, zip) => {
        if (err) return reject(archiveError(err));
        if (zip.entryCount > limits.maxEntries) {
          zip.on('error', () => undefined);
          zip.close();
          return reject(
            new AppError(
              'ARCHIVE_TOO_LARGE',
              `archive has ${zip.entryCount} entries; the limit is ${limits.maxEntries}`,
            ),
          );
        }
        resolve(zip);
      },
    );
  });
}

/** Calls fn for each entry in order, waiting for it before reading the next one. */
function eachEntry(zip: ZipFile, fn: (entry: Entry) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      zip.close();
      reject(archiveError(err));
    };
    zip.on('error', fail);
    zip.on('end', () => {
      if (settled) return;
      settled = true;
      resolve();
    });
    zip.on('entry', (entry: Entry) => {
      fn(entry).then(() => {
        if (!settled) zip.readEntry();
      }, fail);
    });
    zip.readEntry();
  });
}

interface EntryInfo {
  path: string;
  isDirectory: boolean;
  notRegular: boolean;
}

function describe(entry: Entry): EntryInfo {
  const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
  const path = safeEntryPath(name);
  const mode = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (mode === S_IFLNK) throw unsafe(name, 'is a symbolic link');
  const isDirectory =
    /[/\\]$/.test(name) || mode === S_IFDIR || (mode === 0 && (entry.externalFileAttributes & MSDOS_DIRECTORY) !== 0);
  return { path, isDirectory: isDirectory || path === '', notRegular: mode !== 0 && mode !== S_IFREG };
}

function tooLarge(total: number, limits: SourceLimits): AppError {
  return new AppError(
    'ARCHIVE_TOO_LARGE',
    `archive uncompresses to more than ${limits.maxUncompressedBytes} bytes (at least ${total})`,
  );
}

/** Bit 3 of the general purpose flags: sizes and CRC follow the data in a data descriptor. */
const HAS_DATA_DESCRIPTOR = 0x08;
/** A data descriptor: optional signature, CRC-32, then 32-bit or (zip64) 64-bit sizes. */
const DESCRIPTOR_LENGTHS = [12, 16, 20, 24];

function misplaced(name: string, why: string): AppError {
  return new AppError(
    'ARCHIVE_TOO_LARGE',
    `archive refused: entry ${JSON.stringify(name)} ${why}; entries must follow one another without overlapping ` +
      '(overlapping entries are how zip bombs inflate one compressed stream many times)',
    { entry: name },
  );
}

/** Where yauzl found the central directory (it starts reading entries there). */
function centralDirectoryOffset(zip: ZipFile): number {
  const cursor = (zip as unknown as { readEntryCursor?: unknown }).readEntryCursor;
  if (typeof cursor !== 'number') throw new AppError('INTERNAL', 'zip reader does not expose the central directory offset');
  return cursor;
}

/**
 * Reads the central directory and every local header, nothing else: refuses unsafe or oversized
 * archives, and archives whose entries overlap or leave gaps; lists file paths. Call it before
 * walkZip on any archive from outside.
 */
export async function scanZip(zipPath: string, limits: SourceLimits): Promise<SourceScan> {
  const zip = await openZip(zipPath, limits);
  const directoryAt = centralDirectoryOffset(zip);
  const files: string[] = [];
  let bytes = 0;
  /** Where the previous entry may end: its data end, or that plus a data descriptor. */
  let previous: { name: string; ends: readonly number[] } | undefined;
  const follows = (at: number): boolean => (previous ? previous.ends.includes(at) : at === 0);
  await eachEntry(zip, async (entry) => {
    const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
    const info = describe(entry);
    bytes += entry.uncompressedSize;
    if (bytes > limits.maxUncompressedBytes) throw tooLarge(bytes, limits);
    const start = entry.relativeOffsetOfLocalHeader;
    if (!follows(start)) {
      throw misplaced(name, previous ? `does not start where ${JSON.stringify(previous.name)} ends` : 'is not at the start of the file');
    }
    let dataStart: number;
    try {
      ({ fileDataStart: dataStart } = await zip.readLocalFileHeaderPromise(entry, { minimal: true }));
    } catch (err) {
      throw damaged(info.path, err);
    }
    const dataEnd = dataStart + entry.compressedSize;
    const descriptor = (entry.generalPurposeBitFlag & HAS_DATA_DESCRIPTOR) !== 0;
    previous = { name, ends: descriptor ? DESCRIPTOR_LENGTHS.map((n) => dataEnd + n) : [dataEnd] };
    if (!info.isDirectory) files.push(info.path);
  });
  if (!follows(directoryAt)) {
    throw misplaced(previous?.name ?? '', 'does not end where the central directory starts');
  }
  return { entries: zip.entryCount, bytes, files };
}

function problemOf(entry: Entry, info: EntryInfo, limits: SourceLimits): SourceFile['problem'] {
  if (info.notRegular) return { code: SKIP.NOT_A_FILE, reason: 'not a regular file' };
  if (entry.isEncrypted()) return { code: SKIP.ENTRY_ENCRYPTED, reason: 'encrypted entry' };
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    return {
      code: SKIP.UNSUPPORTED_COMPRESSION,
      reason: `unsupported compression method ${entry.compressionMethod} (stored and deflate only)`,
    };
  }
  if (entry.uncompressedSize > limits.maxEntryBytes) {
    return {
      code: SKIP.ENTRY_TOO_LARGE,
      reason: `entry is ${entry.uncompressedSize} bytes; the limit is ${limits.maxEntryBytes}`,
    };
  }
  return undefined;
}

async function readEntry(zip: ZipFile, entry: Entry, path: string, maxBytes: number): Promise<Buffer> {
  let stream;
  try {
    stream = await zip.openReadStreamPromise(entry);
  } catch (err) {
    throw damaged(path, err);
  }
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      length += chunk.length;
      // yauzl stops at the declared size already; this guards the memory bound on its own.
      if (length > maxBytes) throw damaged(path, new Error(`inflates past ${maxBytes} bytes`));
      chunks.push(chunk);
    }
  } catch (err) {
    stream.destroy();
    throw damaged(path, err);
  }
  const data = Buffer.concat(chunks, length);
  if (zlib.crc32(data) !== entry.crc32) throw damaged(path, new Error('CRC-32 mismatch'));
  return data;
}

/**
 * Visits every file entry in archive order (folders are not visited). Each visit must finish
 * before the next entry is read; `read()` streams the entry into memory, bounded by maxEntryBytes.
 */
export async function walkZip(zipPath: string, limits: SourceLimits, visit: VisitFile): Promise<void> {
  const zip = await openZip(zipPath, limits);
  let declared = 0;
  await eachEntry(zip, async (entry) => {
    const info = describe(entry);
    declared += entry.uncompressedSize;
    if (declared > limits.maxUncompressedBytes) throw tooLarge(declared, limits);
    if (info.isDirectory) return;
    const problem = problemOf(entry, info, limits);
    let open = true;
    let consumed = false;
    const file: SourceFile = {
      path: info.path,
      size: entry.uncompressedSize,
      problem,
      read: () => {
        if (!open || consumed || problem) {
          return Promise.reject(new AppError('INTERNAL', `zip entry ${info.path} read out of turn`));
        }
        consumed = true;
        return readEntry(zip, entry, info.path, limits.maxEntryBytes);
      },
    };
    try {
      await visit(file);
    } finally {
      open = false;
    }
  });
}
