/**
 * Zip archives for tests: well-formed ones with yazl, and hostile ones (`..` paths, absolute
 * paths, symbolic links, lying sizes) with a minimal writer, since yazl refuses to write those.
 */
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import zlib from 'node:zlib';
import yazl from 'yazl';
import { xrayFile, type Encoding } from './image-files.ts';

export interface ZipItem {
  name: string;
  data: Buffer;
}

/** Writes a normal zip (deflated entries) with yazl. */
export async function writeZip(file: string, items: readonly ZipItem[]): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const item of items) {
    if (item.name.endsWith('/')) zip.addEmptyDirectory(item.name);
    else zip.addBuffer(item.data, item.name);
  }
  zip.end();
  await new Promise<void>((resolve, reject) => {
    const out = createWriteStream(file);
    zip.outputStream.pipe(out).on('close', resolve).on('error', reject);
  });
}

/**
 * Synthetic X-ray files under `${prefix}${className}/`, e.g. classes {NORMAL: 6, PNEUMONIA: 6}.
 * The last class listed is the positive-looking one; seeds make every file distinct.
 */
export async function xrayItems(
  classes: Record<string, number>,
  opts: { prefix?: string; size?: number; encoding?: Encoding; seed?: number; extension?: string } = {},
): Promise<ZipItem[]> {
  const items: ZipItem[] = [];
  const names = Object.keys(classes);
  let seed = opts.seed ?? 1;
  for (const [c, className] of names.entries()) {
    const positive = c === names.length - 1;
    for (let i = 0; i < classes[className]!; i++) {
      const data = await xrayFile(seed++, positive, opts.size ?? 32, opts.encoding ?? 'png');
      const ext = opts.extension ?? ((opts.encoding ?? 'png').startsWith('png') ? 'png' : 'jpeg');
      items.push({ name: `${opts.prefix ?? ''}${className}/img-${i}.${ext}`, data });
    }
  }
  return items;
}

export interface RawEntry {
  /** Written byte for byte (backslashes, `..`, absolute paths all allowed). */
  name: string;
  data: Buffer;
  /** 0 stored (default), 8 deflate: data is compressed here unless `compressed` is given; others as is. */
  method?: number;
  /** Precomputed raw deflate stream (for bombs built without holding the inflated data). */
  compressed?: Buffer;
  /** Declared sizes and CRC; default to the truth. */
  uncompressedSize?: number;
  crc32?: number;
  /** Unix mode in the high 16 bits, e.g. 0o120777 for a symbolic link. */
  unixMode?: number;
  flags?: number;
  /**
   * Write no local header or data for this entry: its central record points at those of entry
   * `sharesDataOf` (an overlapping-entries zip bomb). Name and declared sizes stay its own.
   */
  sharesDataOf?: number;
  /** Bytes written just before this entry's local header (a gap between entries). */
  gapBefore?: Buffer;
}

/** A minimal zip writer (no zip64, no data descriptors). */
export function rawZip(entries: readonly RawEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  const offsets: number[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const method = e.method ?? 0;
    const body = e.compressed ?? (method === 8 ? zlib.deflateRawSync(e.data) : e.data);
    const crc = e.crc32 ?? zlib.crc32(e.data);
    const size = e.uncompressedSize ?? e.data.length;
    const flags = (e.flags ?? 0) | 0x800;
    if (e.gapBefore) {
      locals.push(e.gapBefore);
      offset += e.gapBefore.length;
    }
    const shared = e.sharesDataOf === undefined ? undefined : offsets[e.sharesDataOf];
    if (e.sharesDataOf !== undefined && shared === undefined) throw new Error('sharesDataOf must name an earlier entry');
    offsets.push(shared ?? offset);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    if (shared === undefined) locals.push(local, name, body);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((e.unixMode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(shared ?? offset, 42);
    centrals.push(central, name);
    if (shared === undefined) offset += 30 + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

export async function writeRawZip(file: string, entries: readonly RawEntry[]): Promise<void> {
  await writeFile(file, rawZip(entries));
}

/** Raw deflate of `bytes` zeros, built in 1 MiB steps so the zeros are never all in memory. */
export async function deflatedZeros(bytes: number): Promise<{ compressed: Buffer; crc32: number }> {
  const deflate = zlib.createDeflateRaw({ level: 1 });
  const out: Buffer[] = [];
  deflate.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((resolve) => deflate.on('end', resolve));
  const chunk = Buffer.alloc(1 << 20);
  let crc = 0;
  for (let left = bytes; left > 0; left -= chunk.length) {
    const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
    crc = zlib.crc32(part, crc);
    if (!deflate.write(part)) await new Promise((resolve) => deflate.once('drain', resolve));
  }
  deflate.end();
  await done;
  return { compressed: Buffer.concat(out), crc32: crc };
}
