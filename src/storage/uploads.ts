/**
 * Uploads received into `${dataDir}/uploads/` before they are imported: streamed to disk (never
 * whole in memory) under a name of our own, stopped at a byte limit, and removed on any failure,
 * including a client that goes away mid-stream. Only the store knows where an upload's file is;
 * callers hold an opaque handle.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../errors.ts';

/** An upload on disk, waiting to be imported or discarded. */
export interface StoredUpload {
  readonly bytes: number;
  /** Removes the file; idempotent, never throws. */
  discard(): Promise<void>;
}

export interface ReceiveOptions {
  /** Most bytes accepted; beyond them the upload fails with ARCHIVE_TOO_LARGE. */
  maxBytes: number;
  /** Whether the producer cut the stream at its own limit (a multipart parser's file size limit). */
  truncated?: () => boolean;
}

function uploadTooLarge(limitBytes: number): AppError {
  return new AppError('ARCHIVE_TOO_LARGE', `The archive is larger than the upload limit of ${limitBytes} bytes (UPLOAD_LIMIT)`, {
    limitBytes,
  });
}

/** Counts bytes and fails the stream as soon as they exceed the limit. */
class ByteLimit extends Transform {
  bytes = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) done(uploadTooLarge(this.limit));
    else done(null, chunk);
  }
}

async function fsyncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function createUploadArea(dir: string) {
  /** Upload files by handle. */
  const files = new WeakMap<StoredUpload, string>();

  function handle(file: string, bytes: number): StoredUpload {
    const upload: StoredUpload = { bytes, discard: () => rm(file, { force: true }).catch(() => undefined) };
    files.set(upload, file);
    return upload;
  }

  return {
    dir,

    /**
     * Streams `stream` to a new file. A stream past maxBytes, or cut by its producer (truncated()),
     * fails with ARCHIVE_TOO_LARGE; a stream that errors or is destroyed (the client went away)
     * fails with its error. In every failure the partial file is removed before this rejects.
     * The file is flushed to disk before this resolves: it may become a dataset's kept source.
     */
    async receive(stream: Readable, opts: ReceiveOptions): Promise<StoredUpload> {
      await mkdir(dir, { recursive: true });
      const file = path.join(dir, `upload-${randomUUID()}.zip`);
      const counter = new ByteLimit(opts.maxBytes);
      try {
        await pipeline(stream, counter, createWriteStream(file, { flags: 'wx' }));
        if (opts.truncated?.()) throw uploadTooLarge(opts.maxBytes);
        await fsyncFile(file);
      } catch (err) {
        await rm(file, { force: true });
        // Keep a stream that is still open flowing to its end, so the rest of the request is read
        // and the client gets the answer rather than a reset connection.
        if (!stream.destroyed) stream.resume();
        throw err;
      }
      return handle(file, counter.bytes);
    },

    /** The file of an upload this area received and that was not yet taken; undefined otherwise. */
    take(upload: StoredUpload): string | undefined {
      const file = files.get(upload);
      files.delete(upload);
      return file;
    },
  };
}

export type UploadArea = ReturnType<typeof createUploadArea>;
