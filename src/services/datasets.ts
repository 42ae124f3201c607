import type { Readable } from 'node:stream';
import { DATASET_NAME_MAX_LENGTH } from '../domain/datasets.ts';
import { AppError } from '../errors.ts';
import type { DatasetStore, StoredUpload } from '../storage/dataset-store.ts';
import type { DatasetManifest, DatasetSummary } from '../storage/dataset-types.ts';

export type { DatasetManifest, DatasetSummary };

/** An archive received into the store, waiting to be imported or discarded. */
export type ReceivedArchive = StoredUpload;

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
   * Has the store stream an archive to disk (never whole in memory), stopping at the upload
   * limit: beyond it, or when `truncated()` says the multipart parser cut the file at the limit,
   * ARCHIVE_TOO_LARGE. A failed or aborted stream leaves nothing on disk.
   */
  receiveArchive(stream: Readable, opts?: { truncated?: () => boolean }): Promise<ReceivedArchive>;
  /** Imports a received archive into a dataset; the upload is consumed in every case. */
  importArchive(archive: ReceivedArchive, opts: ImportOptions): Promise<DatasetManifest>;
  list(): Promise<DatasetSummary[]>;
  /** DATASET_NOT_FOUND */
  get(id: string): Promise<DatasetManifest>;
  /** DATASET_NOT_FOUND; DATASET_IN_USE while a queued or running job (training or evaluation) uses it. */
  delete(id: string): Promise<void>;
}

export interface DatasetServiceOptions {
  readonly store: DatasetStore;
  readonly uploadLimitBytes: number;
  /** Whether a queued or running job uses the dataset (TrainingJobService.datasetInUse: evaluation jobs share its queue). */
  readonly datasetInUse: (id: string) => Promise<boolean>;
}

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
    if (cleaned.length > DATASET_NAME_MAX_LENGTH) {
      throw new AppError(
        'VALIDATION_FAILED',
        `name must be at most ${DATASET_NAME_MAX_LENGTH} characters (got ${cleaned.length})`,
      );
    }
    return cleaned;
  }
  const stem = filename?.replace(/\.zip$/i, '');
  return stem ? printable(stem, DATASET_NAME_MAX_LENGTH) || 'dataset' : 'dataset';
}

export function createDatasetService(opts: DatasetServiceOptions): DatasetService {
  const { store, uploadLimitBytes, datasetInUse } = opts;

  return {
    uploadLimitBytes,

    receiveArchive: (stream, { truncated } = {}) =>
      store.receiveUpload(stream, { maxBytes: uploadLimitBytes, ...(truncated ? { truncated } : {}) }),

    async importArchive(archive, importOpts) {
      try {
        const filename = cleanFilename(importOpts.filename);
        return await store.importUpload(archive, {
          name: datasetName(importOpts.name, filename),
          ...(importOpts.positiveClass !== undefined ? { positiveClass: importOpts.positiveClass } : {}),
          ...(filename !== undefined ? { filename } : {}),
        });
      } finally {
        await archive.discard();
      }
    },

    list: () => store.list(),
    get: (id) => store.get(id),

    async delete(id) {
      await store.get(id); // DATASET_NOT_FOUND before anything else
      if (await datasetInUse(id)) {
        throw new AppError('DATASET_IN_USE', `Dataset ${id} is used by a queued or running training job or evaluation; cancel it or wait`, {
          id,
        });
      }
      await store.delete(id);
    },
  };
}
