/**
 * Cache files: N images of size*size grey uint8 pixels back to back, image i at offset i*size*size.
 * Written by appending (or at positions when rebuilt), read with positional reads so memory never
 * grows with the dataset.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { AppError } from '../errors.ts';
import { moveIntoPlace } from './atomic-file.ts';
import type { DatasetImages, DatasetManifest } from './dataset-types.ts';

export function cacheFileName(size: number): string {
  return `cache-${size}.u8`;
}

const WRITE_BUFFER_BYTES = 1 << 20;
const MAX_PARALLEL_READS = 8;

async function writeFully(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

async function readFully(fh: FileHandle, into: Uint8Array, offset: number, length: number, position: number) {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(into, offset + done, length - done, position + done);
    if (bytesRead === 0) throw new AppError('INTERNAL', `dataset cache ends early at byte ${position + done}`);
    done += bytesRead;
  }
}

/** Writes a new cache file; the caller renames it into place after finish(). */
export class CacheWriter {
  private buffer = new Uint8Array(WRITE_BUFFER_BYTES);
  private used = 0;
  private position = 0;
  count = 0;

  private constructor(
    private readonly fh: FileHandle,
    readonly imageBytes: number,
  ) {}

  static async create(file: string, size: number): Promise<CacheWriter> {
    return new CacheWriter(await open(file, 'wx'), size * size);
  }

  async append(pixels: Uint8Array): Promise<void> {
    if (pixels.length !== this.imageBytes) {
      throw new AppError('INTERNAL', `cache image has ${pixels.length} bytes, expected ${this.imageBytes}`);
    }
    if (this.used + pixels.length > this.buffer.length) await this.flush();
    if (pixels.length > this.buffer.length) {
      await writeFully(this.fh, pixels, this.position);
      this.position += pixels.length;
    } else {
      this.buffer.set(pixels, this.used);
      this.used += pixels.length;
    }
    this.count++;
  }

  /** Writes image `index` in place (rebuilds fill a file in any order). */
  async writeAt(index: number, pixels: Uint8Array): Promise<void> {
    await writeFully(this.fh, pixels, index * this.imageBytes);
  }

  private async flush(): Promise<void> {
    await writeFully(this.fh, this.buffer.subarray(0, this.used), this.position);
    this.position += this.used;
    this.used = 0;
  }

  async finish(): Promise<void> {
    await this.flush();
    await this.fh.sync();
    await this.fh.close();
  }

  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

/** Rewrites `file` without the images at `drop` (sorted or not), atomically. */
export async function removeFromCache(file: string, size: number, count: number, drop: ReadonlySet<number>) {
  const temp = `${file}.compact`;
  const source = await open(file, 'r');
  const writer = await CacheWriter.create(temp, size);
  try {
    const pixels = new Uint8Array(size * size);
    for (let i = 0; i < count; i++) {
      if (drop.has(i)) continue;
      await readFully(source, pixels, 0, pixels.length, i * pixels.length);
      await writer.append(pixels);
    }
    await writer.finish();
    await moveIntoPlace(temp, file);
  } catch (err) {
    await writer.abort();
    await rm(temp, { force: true });
    throw err;
  } finally {
    await source.close();
  }
}

class CachedImages implements DatasetImages {
  readonly count: number;
  readonly labels: Uint8Array;
  private closed = false;

  constructor(
    private readonly fh: FileHandle,
    readonly manifest: DatasetManifest,
    readonly size: number,
  ) {
    this.count = manifest.images.length;
    this.labels = Uint8Array.from(manifest.images, (img) => img.label);
  }

  async readBatch(indices: readonly number[]): Promise<Uint8Array> {
    if (this.closed) throw new AppError('INTERNAL', `dataset ${this.manifest.id} images are closed`);
    const n = this.size * this.size;
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= this.count) {
        throw new AppError('INTERNAL', `image index ${i} out of range 0..${this.count - 1}`);
      }
    }
    const out = new Uint8Array(indices.length * n);
    // Runs of consecutive indices become one read.
    const runs: { at: number; first: number; length: number }[] = [];
    for (let k = 0; k < indices.length; ) {
      let length = 1;
      while (k + length < indices.length && indices[k + length] === indices[k]! + length) length++;
      runs.push({ at: k, first: indices[k]!, length });
      k += length;
    }
    for (let r = 0; r < runs.length; r += MAX_PARALLEL_READS) {
      await Promise.all(
        runs
          .slice(r, r + MAX_PARALLEL_READS)
          .map((run) => readFully(this.fh, out, run.at * n, run.length * n, run.first * n)),
      );
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

export async function openCachedImages(file: string, manifest: DatasetManifest, size: number): Promise<DatasetImages> {
  const fh = await open(file, 'r');
  const { size: bytes } = await fh.stat();
  const expected = manifest.images.length * size * size;
  if (bytes !== expected) {
    await fh.close();
    throw new AppError('INTERNAL', `dataset ${manifest.id} cache-${size} has ${bytes} bytes, expected ${expected}`);
  }
  return new CachedImages(fh, manifest, size);
}
