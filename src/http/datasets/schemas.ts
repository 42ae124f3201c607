import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DATASET_NAME_MAX_LENGTH } from '../../domain/datasets.ts';
import { EXAMPLE_DATASET_ID, EXAMPLE_TIMES } from '../schemas/examples.ts';
import { DatasetId } from '../schemas/ids.ts';
import { withExample, withUsageExample } from '../schemas/openapi.ts';

export const DatasetParams = Type.Object({ id: DatasetId });
export type DatasetParams = Static<typeof DatasetParams>;

export const DatasetQuery = Type.Object(
  { include: Type.Optional(Type.Literal('images', { description: 'Add the per-image list (hash, class, source path, split)' })) },
  { additionalProperties: false },
);
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
  duplicateOf: Type.Optional(Type.String({ description: 'DUPLICATE entries: the path of the copy that was kept' })),
});

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** What the manifest keeps of a DICOM file's header: a de-identified subset (no names, ids, dates, instance UIDs). */
export const DicomHeaderSubset = Type.Object(
  {
    modality: Nullable(Type.String()),
    viewPosition: Nullable(Type.String()),
    bodyPartExamined: Nullable(Type.String()),
    photometricInterpretation: Type.String(),
    rows: Count,
    columns: Count,
    bitsAllocated: Count,
    bitsStored: Count,
    signed: Type.Boolean(),
    numberOfFrames: Count,
    transferSyntaxUid: Type.String(),
    transferSyntax: Type.String(),
    lossyTransferSyntax: Type.Boolean(),
    lossyImageCompression: Type.Boolean(),
    sopClassUid: Nullable(Type.String({ description: 'Standard SOP class UIDs only' })),
    sopClass: Nullable(Type.String()),
    voi: Type.String({ description: 'The VOI transformation that made the 8-bit picture' }),
  },
  { description: 'DICOM images only: the de-identified header subset' },
);

export const DatasetImage = Type.Object({
  hash: Type.String(),
  label: Type.Integer({ minimum: 0, maximum: 1 }),
  className: Type.String(),
  source: Type.String(),
  split: Type.Optional(Type.Union([Type.Literal('train'), Type.Literal('validation'), Type.Literal('test')])),
  patientKey: Type.Optional(
    Type.String({ description: 'DICOM images only: keyed hash (HMAC-SHA256, 128 bits) of PatientID, the patient group of the split' }),
  ),
  dicom: Type.Optional(DicomHeaderSubset),
});

export const DatasetDetail = Type.Object({
  ...DatasetSummary.properties,
  skipped: Type.Array(SkippedEntry, { description: 'Entries not imported, with the reason' }),
  images: Type.Optional(Type.Array(DatasetImage, { description: 'Only with ?include=images' })),
});

export const DatasetList = Type.Object({ datasets: Type.Array(DatasetSummary) });

const summaryExample: Static<typeof DatasetSummary> = {
  id: EXAMPLE_DATASET_ID,
  name: 'kermany-2018',
  createdAt: EXAMPLE_TIMES.datasetCreated,
  size: 256,
  classNames: ['NORMAL', 'PNEUMONIA'],
  positiveClass: 'PNEUMONIA',
  counts: { images: 5856, byClass: { NORMAL: 1583, PNEUMONIA: 4273 }, bySplit: {}, skipped: 3, duplicates: 1 },
  contentHash: '6b1f0c9e27d84a3f95c2e8b7a41d0f63c58e92b4a7d13f06e2c9b85a4f71d3e0',
  source: { kind: 'zip', bytes: 1236451839, filename: 'kermany-2018.zip' },
};

const detailExample: Static<typeof DatasetDetail> = {
  ...summaryExample,
  skipped: [
    { source: '__MACOSX/NORMAL/._IM-0115-0001.jpeg', code: 'SYSTEM_FILE', reason: 'system file' },
    { source: 'PNEUMONIA/.DS_Store', code: 'SYSTEM_FILE', reason: 'system file' },
    {
      source: 'PNEUMONIA/person1_bacteria_2.jpeg',
      code: 'DUPLICATE',
      reason: 'same content as PNEUMONIA/person1_bacteria_1.jpeg',
      duplicateOf: 'PNEUMONIA/person1_bacteria_1.jpeg',
    },
  ],
};

export const DatasetCreated = withExample(
  DatasetDetail,
  detailExample,
  'Imported: counts per class and split, and every entry skipped with its reason. Location: /v1/datasets/{id}',
);
export const DatasetFound = withExample(DatasetDetail, detailExample, 'The dataset (per-image list only with ?include=images)');
export const DatasetsListed = withExample(
  DatasetList,
  {
    datasets: [
      summaryExample,
      {
        ...summaryExample,
        id: 'ds_m5xw2ct7ja4kq6ne',
        name: 'rsna-subset',
        createdAt: '2025-05-28T16:03:55.091Z',
        counts: { images: 1200, byClass: { NORMAL: 600, PNEUMONIA: 600 }, bySplit: { train: 1000, test: 200 }, skipped: 0, duplicates: 0 },
        contentHash: 'c40e7a19b3d25f68e0a9c71d42b86f3e5a0d97c1b8e24f6a3d05c79e18b2a4f6',
        source: { kind: 'zip', bytes: 211829760, filename: 'rsna-subset.zip' },
      },
    ],
  },
  'Every dataset, without the skipped entries and per-image lists',
);

/**
 * The multipart form, for the OpenAPI document only (documentedBody in ../schemas/openapi.ts): the
 * body is streamed part by part and checked by the handler, never parsed into request.body.
 */
export const UploadForm = withUsageExample(
  Type.Object(
    {
      file: Type.String({
        format: 'binary',
        contentMediaType: 'application/zip',
        description: 'The zip archive: NORMAL/ and PNEUMONIA/ folders (optionally under train/ val/ test/)',
      }),
      name: Type.Optional(Type.String({ maxLength: DATASET_NAME_MAX_LENGTH, description: 'Display name; default: the file name without .zip' })),
      positiveClass: Type.Optional(
        Type.String({
          maxLength: 100,
          description: 'Folder name of the positive class when not PNEUMONIA; the one other class folder is the negative class',
        }),
      ),
    },
    { description: 'A `file` part with the zip, and optional text fields' },
  ),
  'A zip of class folders',
  '`curl -F file=@kermany-2018.zip -F name=kermany-2018 $API/v1/datasets`',
);

export const NoContent = Type.Null({ description: 'Deleted' });
