import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import zlib from 'node:zlib';

/**
 * A small streaming zip writer (deflate, no zip64: up to 65,535 entries and 4 GiB) for the example
 * dataset, so the command needs no dev dependency. Written to `${file}.partial`, renamed at the end.
 */
export interface ZipWriter {
  add(name: string, data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

const DOS_DATE = ((2024 - 1980) << 9) | (1 << 5) | 1; // 2024-01-01, fixed: same inputs, same bytes
const DOS_TIME = 0;

function write(out: WriteStream, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(buf, (err) => (err ? reject(err) : resolve()));
  });
}

export function createZipWriter(file: string): ZipWriter {
  const partial = `${file}.partial`;
  const out = createWriteStream(partial);
  // An open/write failure surfaces from the next add() or close(), not as an uncaught 'error'.
  let failure: Error | undefined;
  out.on('error', (err) => (failure = err));
  const central: Buffer[] = [];
  let offset = 0;
  let count = 0;
  return {
    async add(name, data) {
      if (failure) throw failure;
      if (count >= 0xffff) throw new Error('too many entries for a zip without zip64');
      const nameBytes = Buffer.from(name, 'utf8');
      const body = zlib.deflateRawSync(data);
      const crc = zlib.crc32(data) >>> 0;
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(20, 4);
      local.writeUInt16LE(0x800, 6); // UTF-8 names
      local.writeUInt16LE(8, 8);
      local.writeUInt16LE(DOS_TIME, 10);
      local.writeUInt16LE(DOS_DATE, 12);
      local.writeUInt32LE(crc, 14);
      local.writeUInt32LE(body.length, 18);
      local.writeUInt32LE(data.length, 22);
      local.writeUInt16LE(nameBytes.length, 26);
      const entry = Buffer.alloc(46);
      entry.writeUInt32LE(0x02014b50, 0);
      entry.writeUInt16LE((3 << 8) | 20, 4);
      entry.writeUInt16LE(20, 6);
      entry.writeUInt16LE(0x800, 8);
      entry.writeUInt16LE(8, 10);
      entry.writeUInt16LE(DOS_TIME, 12);
      entry.writeUInt16LE(DOS_DATE, 14);
      entry.writeUInt32LE(crc, 16);
      entry.writeUInt32LE(body.length, 20);
      entry.writeUInt32LE(data.length, 24);
      entry.writeUInt16LE(nameBytes.length, 28);
      entry.writeUInt32LE((0o100644 << 16) >>> 0, 38);
      entry.writeUInt32LE(offset, 42);
      central.push(entry, nameBytes);
      await write(out, Buffer.concat([local, nameBytes, body]));
      offset += 30 + nameBytes.length + body.length;
      count++;
    },
    async close() {
      const directory = Buffer.concat(central);
      const end = Buffer.alloc(22);
      end.writeUInt32LE(0x06054b50, 0);
      end.writeUInt16LE(count, 8);
      end.writeUInt16LE(count, 10);
      end.writeUInt32LE(directory.length, 12);
      end.writeUInt32LE(offset, 16);
      await write(out, Buffer.concat([directory, end]));
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      await rename(partial, file);
    },
    async abort() {
      out.destroy();
      await rm(partial, { force: true });
    },
  };
}
