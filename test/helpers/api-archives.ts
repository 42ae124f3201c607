/** Zips of generated X-ray-like images (and deliberately broken ones) for the upload tests. */
import sharp from 'sharp';
import yazl from 'yazl';
import { syntheticXray } from './synthetic-xray.ts';

export function png(size: number, positive: boolean, seed: number): Promise<Buffer> {
  return sharp(Buffer.from(syntheticXray(size, positive, seed)), { raw: { width: size, height: size, channels: 1 } })
    .png()
    .toBuffer();
}

export interface ZipEntry {
  path: string;
  data: Buffer;
  /** Store without compression (so the bytes can be found and patched). */
  store?: boolean;
}

export function zip(entries: readonly ZipEntry[]): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const e of entries) z.addBuffer(e.data, e.path, { compress: !e.store, mtime: new Date(2024, 0, 1) });
  z.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    z.outputStream.on('data', (c: Buffer) => chunks.push(c));
    z.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    z.outputStream.on('error', reject);
  });
}

export interface DatasetZipOptions {
  perClass?: number;
  size?: number;
  /** Put images under train/ and test/ folders (3 of every 4 in train). */
  splits?: boolean;
  /** Folder names; default NORMAL and PNEUMONIA under a top folder `chest/`. */
  classes?: readonly [string, string];
  extra?: readonly ZipEntry[];
}

/** A valid dataset archive: `perClass` images of each class, plus `extra` entries. */
export async function datasetZip(opts: DatasetZipOptions = {}): Promise<Buffer> {
  const { perClass = 6, size = 48, splits = false, classes = ['NORMAL', 'PNEUMONIA'], extra = [] } = opts;
  const entries: ZipEntry[] = [];
  for (let i = 0; i < perClass; i++) {
    for (const [label, cls] of classes.entries()) {
      const split = splits ? (i % 4 === 3 ? 'test/' : 'train/') : '';
      entries.push({ path: `chest/${split}${cls}/img-${i}.png`, data: await png(size, label === 1, i * 2 + label + 1) });
    }
  }
  return zip([...entries, ...extra]);
}

/**
 * Renames an entry in a finished zip by rewriting its name bytes in the local header and the
 * central directory (same length, so offsets stay valid): how a hostile archive gets `..` entries
 * that zip writers refuse to produce.
 */
export function renameEntry(archive: Buffer, from: string, to: string): Buffer {
  if (from.length !== to.length) throw new Error('renameEntry needs names of equal length');
  const out = Buffer.from(archive);
  const needle = Buffer.from(from);
  let count = 0;
  for (let at = out.indexOf(needle); at !== -1; at = out.indexOf(needle, at + needle.length)) {
    out.write(to, at, 'latin1');
    count++;
  }
  if (count < 2) throw new Error(`entry name ${from} found ${count} times, expected local + central`);
  return out;
}
