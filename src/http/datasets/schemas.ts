import { Type, type Static } from '@sinclair/typebox';
import { DatasetId } from '../schemas/ids.ts';

export const DatasetParams = Type.Object({ id: DatasetId });
export type DatasetParams = Static<typeof DatasetParams>;

export const DatasetQuery = Type.Object({
  include: Type.Optional(Type.Literal('images', { description: 'Add the per-image list (hash, class, source path, split)' })),
});
export type DatasetQuery = Static<typeof DatasetQuery>;

const Count = Type.Integer({ minimum: 0 });

export const DatasetSummary = Type.Object({
  id: DatasetId,
  name: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  size: Type.Integer({ description: 'Side in pixels of the cached grey images' }),
  classNames: Type.Array(Type.String(), { minItems: 2, maxItems: 2, description: '[negative, positive]' }),
  positiveClass: Type.String(),
  counts: Type.Object({
    images: Count,
    byClass: Type.Record(Type.String(), Count, { description: 'Images per class name' }),
    bySplit: Type.Object(
      { train: Type.Optional(Count), validation: Type.Optional(Count), test: Type.Optional(Count) },
      { description: 'Images per split, for archives laid out in train/ val/ test/ folders' },
    ),
    skipped: Type.Integer({ minimum: 0, description: 'Entries not imported (duplicates included)' }),
    duplicates: Count,
  }),
  contentHash: Type.String({ description: 'sha256 over the sorted (image hash, label) pairs' }),
  source: Type.Object({
    kind: Type.Union([Type.Literal('zip'), Type.Literal('directory')]),
    bytes: Count,
    filename: Type.Optional(Type.String()),
  }),
});

export const SkippedEntry = Type.Object({
  source: Type.String({ description: 'Path inside the archive' }),
  code: Type.String({ description: 'e.g. NOT_AN_IMAGE, IMAGE_CORRUPT, DUPLICATE, SYSTEM_FILE' }),
  reason: Type.String(),
});

export const DatasetImage = Type.Object({
  hash: Type.String(),
  label: Type.Integer({ minimum: 0, maximum: 1 }),
  className: Type.String(),
  source: Type.String(),
  split: Type.Optional(Type.Union([Type.Literal('train'), Type.Literal('validation'), Type.Literal('test')])),
});

export const DatasetDetail = Type.Object({
  ...DatasetSummary.properties,
  skipped: Type.Array(SkippedEntry, { description: 'Entries not imported, with the reason' }),
  images: Type.Optional(Type.Array(DatasetImage, { description: 'Only with ?include=images' })),
});

export const DatasetList = Type.Object({ datasets: Type.Array(DatasetSummary) });

/**
 * The multipart form, for the OpenAPI document only: the body is streamed part by part and checked
 * by the handler, never parsed into request.body (see the route's validatorCompiler).
 */
export const UploadForm = Type.Object({
  file: Type.String({ format: 'binary', description: 'The zip archive: NORMAL/ and PNEUMONIA/ folders (optionally under train/ val/ test/)' }),
  name: Type.Optional(Type.String({ maxLength: 100, description: 'Display name; default: the file name without .zip' })),
  positiveClass: Type.Optional(
    Type.String({ maxLength: 100, description: 'Folder name of the positive class when not PNEUMONIA; the one other class folder is the negative class' }),
  ),
});

export const NoContent = Type.Null({ description: 'Deleted' });
