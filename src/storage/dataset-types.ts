import type { DicomHeader } from '../imaging/dicom/index.ts';
import type { ImageSource, SplitName } from '../ml/types.ts';

export interface DatasetLimits {
  maxUncompressedBytes: number;
  maxEntries: number;
  maxEntryBytes: number;
  maxImagePixels: number;
  minImagesPerClass: number;
}

export const DEFAULT_DATASET_LIMITS: DatasetLimits = Object.freeze({
  maxUncompressedBytes: 8 * 1024 ** 3,
  maxEntries: 200_000,
  maxEntryBytes: 64 * 1024 ** 2,
  maxImagePixels: 100_000_000,
  minImagesPerClass: 5,
});

export interface DatasetImage {
  /** sha256 (hex) of the original file's bytes. */
  hash: string;
  label: 0 | 1;
  className: string;
  /** Path inside the archive or folder. */
  source: string;
  /** From the archive layout (train/ val/ test/ folders), when it has one. */
  split?: SplitName;
  /** DICOM: the keyed hash (HMAC) of PatientID, the patient group of the split; absent without a PatientID. */
  patientKey?: string;
  /** DICOM: the de-identified header subset (modality, view, pixel module, transfer syntax, VOI used). */
  dicom?: DicomHeader;
  /**
   * Where (relative to the dataset folder) the bytes kept for building caches at other sizes are,
   * when not in the kept source: a DICOM file's de-identified copy (a PNG of its 8-bit picture),
   * or any image of an archive that held DICOM (whose archive is not kept).
   */
  kept?: string;
}

export interface SkippedEntry {
  source: string;
  /** A decode error code (IMAGE_CORRUPT...) or one of SKIP in dataset-layout.ts. */
  code: string;
  reason: string;
  /** DUPLICATE entries: the source of the kept image with the same content. */
  duplicateOf?: string;
}

export interface DatasetManifest {
  id: string;
  name: string;
  createdAt: string;
  /** Pixel side of the primary cache. */
  size: number;
  classNames: [negative: string, positive: string];
  positiveClass: string;
  counts: {
    images: number;
    byClass: Record<string, number>;
    bySplit: Partial<Record<SplitName, number>>;
    /** Entries in `skipped`, duplicates included. */
    skipped: number;
    duplicates: number;
  };
  /** Index i = position i in every cache file. */
  images: DatasetImage[];
  skipped: SkippedEntry[];
  /** sha256 over the sorted (image hash, label) pairs: identifies the data, not the name or order. */
  contentHash: string;
  source: { kind: 'zip' | 'directory'; bytes: number; filename?: string };
}

export type DatasetSummary = Omit<DatasetManifest, 'images' | 'skipped'>;

export interface DatasetImages extends ImageSource {
  readonly manifest: DatasetManifest;
  close(): Promise<void>;
}
