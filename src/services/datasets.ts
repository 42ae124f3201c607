import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../errors.ts';
import type { DatasetStore } from '../storage/dataset-store.ts';
import type { DatasetManifest, DatasetSummary } from '../storage/dataset-types.ts';

/** An archive received into the store's uploads directory, waiting to be imported or discarded. */
export interface ReceivedArchive {
  readonly bytes: number;
  /** Removes the file; idempotent, never throws. */
  discard(): Promise<void>;
}

export interface ImportOptions {
  /** Display name; defaults to the upload's file name without extension, else "dataset". */
  readonly name?: string;
  /** Class folder holding the positive class; default PNEUMONIA (with NORMAL as negative). */
  readonly positiveClass?: string;
  /** The client's file name, recorded as metadata only (never a disk path). */
  readonly filename?: string;
}

export interface DatasetService {
  /** The configured upload limit in bytes (config.limits.uploadBytes). */
  readonly uploadLimitBytes: number;
  /**
   * Streams an archive to disk (never whole in memory), stopping at the upload limit: beyond it,
   * or when `truncated()` says the multipart parser cut the file at the limit, the partial file is
   * removed and ARCHIVE_TOO_LARGE thrown. A failed or aborted stream also removes it.
   */
  receiveArchive(stream: Readable, opts?: { truncated?: () => boolean }): Promise<ReceivedArchive>;
  /** Imports a received archive into a dataset; the upload file is removed in every case. */
  importArchive(archive: ReceivedArchive, opts: ImportOptions): Promise<DatasetManifest>;
  list(): Promise<DatasetSummary[]>;
  /** DATASET_NOT_FOUND */
  get(id: string): Promise<DatasetManifest>;
  /** DATASET_NOT_FOUND; DATASET_IN_USE while a queued or running job uses it. */
  delete(id: string): Promise<void>;
}

export interface DatasetServiceOptions {
  readonly store: DatasetStore;
  readonly uploadLimitBytes: number;
  /** Whether a queued or running training job uses the dataset (TrainingJobService.datasetInUse). */
  readonly datasetInUse: (id: string) => Promise<boolean>;
}

const NAME_MAX = 100;
// C0/C1 control characters, and the bidi overrides that make names display as something else.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** A display string from client input: printable, trimmed, at most `max` characters. */
function printable(raw: string, max: number): string {
  return raw.replace(UNPRINTABLE, '').trim().slice(0, max).trim();
}

/** The base name of a client-supplied file name, for metadata only. */
function cleanFilename(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const base = raw.split(/[\\/]/).pop() ?? '';
  const cleaned = printable(base, 255);
  return cleaned === '' ? undefined : cleaned;
}

function datasetName(name: string | undefined, filename: string | undefined): string {
  if (name !== undefined) {
    const cleaned = printable(name, Infinity);
    if (cleaned === '') throw new AppError('VALIDATION_FAILED', 'name must not be empty');
    if (cleaned.length > NAME_MAX) {
      throw new AppError('VALIDATION_FAILED', `name must be at most ${NAME_MAX} characters (got ${cleaned.length})`);
    }
    return cleaned;
  }
  const stem = filename?.replace(/\.zip$/i, '');
  return stem ? printable(stem, NAME_MAX) || 'dataset' : 'dataset';
}

function tooLarge(limit: number): AppError {
  return new AppError('ARCHIVE_TOO_LARGE', `The archive is larger than the upload limit of ${limit} bytes (UPLOAD_LIMIT)`, {
    limitBytes: limit,
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
    if (this.bytes > this.limit) done(tooLarge(this.limit));
    else done(null, chunk);
  }
}

export function createDatasetService(opts: DatasetServiceOptions): DatasetService {
  const { store, uploadLimitBytes, datasetInUse } = opts;

  function received(file: string, bytes: number): ReceivedArchive {
    return { bytes, discard: () => rm(file, { force: true }).catch(() => undefined) };
  }
  /** Upload files by handle: only this service knows where they are. */
  const files = new WeakMap<ReceivedArchive, string>();

  return {
    uploadLimitBytes,

    async receiveArchive(stream, { truncated } = {}) {
      const dir = store.uploadsDir();
      await mkdir(dir, { recursive: true });
      // Our own name: nothing the client sends ever becomes part of a path.
      const file = path.join(dir, `upload-${randomUUID()}.zip`);
      const counter = new ByteLimit(uploadLimitBytes);
      try {
        await pipeline(stream, counter, createWriteStream(file, { flags: 'wx' }));
        if (truncated?.()) throw tooLarge(uploadLimitBytes);
      } catch (err) {
        await rm(file, { force: true }).catch(() => undefined);
        // Keep the stream flowing to its end so the rest of the request is read and the client
        // gets the answer rather than a reset connection.
        if (!stream.destroyed) stream.resume();
        throw err;
      }
      const archive = received(file, counter.bytes);
      files.set(archive, file);
      return archive;
    },

    async importArchive(archive, importOpts) {
      const file = files.get(archive);
      if (file === undefined) throw new AppError('INTERNAL', 'importArchive was given an archive this service did not receive');
      try {
        if (archive.bytes === 0) throw new AppError('INVALID_ARCHIVE', 'The uploaded file is empty');
        const filename = cleanFilename(importOpts.filename);
        return await store.importArchive(file, {
          name: datasetName(importOpts.name, filename),
          ...(importOpts.positiveClass !== undefined ? { positiveClass: importOpts.positiveClass } : {}),
          ...(filename !== undefined ? { filename } : {}),
        });
      } finally {
        files.delete(archive);
        await archive.discard();
      }
    },

    list: () => store.list(),
    get: (id) => store.get(id),

    async delete(id) {
      await store.get(id); // DATASET_NOT_FOUND before anything else
      if (await datasetInUse(id)) {
        throw new AppError('DATASET_IN_USE', `Dataset ${id} is used by a queued or running training job; cancel it or wait`, {
          id,
        });
      }
      await store.delete(id);
    },
  };
}
