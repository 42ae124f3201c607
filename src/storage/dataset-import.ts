/**
 * The import pipeline shared by zip and folder sources: place each file (layout), read it, hash
 * it, drop exact duplicates, decode it once (two at a time) and append its pixels to the cache.
 * A DICOM file leaves only de-identified traces: its pixels in the cache, a PNG of its 8-bit
 * picture under kept/ (to build caches at other sizes), the keyed hash of its PatientID and the
 * de-identified header subset in the manifest. Its own bytes are never kept.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { AppError, isAppError } from '../errors.ts';
import { decodeImage, deidentifiedPng, type DecodedImage, type DicomPolicy } from '../imaging/decode.ts';
import { looksLikeDicom } from '../imaging/dicom/index.ts';
import { writeFileDurable } from './atomic-file.ts';
import { CacheWriter, removeFromCache } from './dataset-cache.ts';
import { SKIP, type DatasetLayout } from './dataset-layout.ts';
import type { DatasetImage, DatasetLimits, SkippedEntry } from './dataset-types.ts';
import { OrderedPool } from './ordered-pool.ts';
import type { SourceFile, VisitFile } from './source-files.ts';

export const DECODE_POOL_WIDTH = 2;

/** Folder (in a dataset folder) of the bytes kept in place of an image's source (DatasetImage.kept). */
export const KEPT_DIR = 'kept';

/** The relative path of an image's kept bytes: a de-identified PNG for DICOM, else the original's bytes. */
export function keptPath(hash: string, dicom: boolean): string {
  return `${KEPT_DIR}/${hash}${dicom ? '.png' : ''}`;
}

export interface ImportPlan {
  layout: DatasetLayout;
  size: number;
  maxPixels: number;
  /** DICOM acceptance and the secret of the patient keys. */
  dicom?: DicomPolicy;
  cacheFile: string;
  /** The dataset folder being built (kept/ goes in it). */
  datasetDir: string;
  walk(visit: VisitFile): Promise<void>;
  /** Called, in order, for each non-DICOM image kept (folder imports copy the bytes aside). */
  keep?(source: string, bytes: Buffer): Promise<void>;
  /** Called for a kept image removed again because its content turned up under another class. */
  unkeep?(source: string): Promise<void>;
}

export interface ImportResult {
  images: DatasetImage[];
  skipped: SkippedEntry[];
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

interface FirstSeen {
  source: string;
  className: string;
  /** Position in `images` once decoded and written. */
  index?: number;
  conflict?: { source: string; className: string };
}

function decodeFailure(source: string, err: unknown): SkippedEntry {
  if (isAppError(err)) return { source, code: err.code, reason: err.message };
  return { source, code: 'IMAGE_CORRUPT', reason: err instanceof Error ? err.message : String(err) };
}

export async function importImages(plan: ImportPlan): Promise<ImportResult> {
  const images: DatasetImage[] = [];
  const skipped: SkippedEntry[] = [];
  const seen = new Map<string, FirstSeen>();
  const writer = await CacheWriter.create(plan.cacheFile, plan.size);
  const pool = new OrderedPool<DecodedImage>(DECODE_POOL_WIDTH);
  let keptDirMade = false;

  /** The de-identified copy of a DICOM image: a PNG of its 8-bit picture (decodes to the same model input). */
  const keepDeidentified = async (hash: string, decoded: DecodedImage): Promise<string> => {
    const png = await deidentifiedPng(decoded.dicom!);
    if (!keptDirMade) {
      await mkdir(path.join(plan.datasetDir, KEPT_DIR), { recursive: true });
      keptDirMade = true;
    }
    const kept = keptPath(hash, true);
    await writeFileDurable(path.join(plan.datasetDir, kept), png);
    return kept;
  };

  const visit = async (file: SourceFile): Promise<void> => {
    const place = file.problem ? { kind: 'skip' as const, ...file.problem } : plan.layout.place(file.path);
    if (place.kind === 'skip') {
      skipped.push({ source: file.path, code: place.code, reason: place.reason });
      return;
    }
    const bytes = await file.read();
    if (place.sniffDicom && !looksLikeDicom(bytes)) {
      skipped.push({ source: file.path, code: SKIP.NOT_AN_IMAGE, reason: 'not an image (no image extension, and not DICOM)' });
      return;
    }
    const hash = sha256(bytes);
    const first = seen.get(hash);
    if (first) {
      if (first.className === place.className && !first.conflict) {
        skipped.push({ source: file.path, code: SKIP.DUPLICATE, reason: `same content as ${first.source}`, duplicateOf: first.source });
      } else {
        first.conflict ??= { source: file.path, className: place.className };
        skipped.push({
          source: file.path,
          code: SKIP.CONFLICTING_LABEL,
          reason: `same content as ${first.source} in class ${first.className}`,
        });
      }
      return;
    }
    const entry: FirstSeen = { source: file.path, className: place.className };
    seen.set(hash, entry);
    await pool.submit(
      () => decodeImage(bytes, plan.size, { maxPixels: plan.maxPixels, ...(plan.dicom ? { dicom: plan.dicom } : {}) }),
      async (result) => {
        if (!result.ok) {
          skipped.push(decodeFailure(file.path, result.error));
          return;
        }
        const decoded = result.value;
        await writer.append(decoded.pixels);
        entry.index = images.length;
        const image: DatasetImage = { hash, label: place.label, className: place.className, source: file.path };
        if (place.split) image.split = place.split;
        if (decoded.dicom) {
          if (decoded.dicom.patientKey !== null) image.patientKey = decoded.dicom.patientKey;
          image.dicom = decoded.dicom.header;
          image.kept = await keepDeidentified(hash, decoded);
        }
        images.push(image);
        if (!decoded.dicom) await plan.keep?.(file.path, bytes);
      },
    );
  };

  try {
    await plan.walk(visit);
    await pool.drain();
    await writer.finish();
  } catch (err) {
    await pool.settle();
    await writer.abort();
    throw err;
  }

  // The same content under two classes: keep neither copy.
  const drop = new Set<number>();
  for (const first of seen.values()) {
    if (!first.conflict || first.index === undefined) continue;
    drop.add(first.index);
    skipped.push({
      source: first.source,
      code: SKIP.CONFLICTING_LABEL,
      reason: `same content as ${first.conflict.source} in class ${first.conflict.className}`,
    });
    const kept = images[first.index]!.kept;
    if (kept !== undefined) await rm(path.join(plan.datasetDir, kept), { force: true });
    else await plan.unkeep?.(first.source);
  }
  if (drop.size === 0) return { images, skipped };
  await removeFromCache(plan.cacheFile, plan.size, images.length, drop);
  return { images: images.filter((_, i) => !drop.has(i)), skipped };
}

function summariseSkips(skipped: readonly SkippedEntry[]): string {
  const byCode = new Map<string, number>();
  for (const s of skipped) byCode.set(s.code, (byCode.get(s.code) ?? 0) + 1);
  return [...byCode].map(([code, n]) => `${n} ${code}`).join(', ') || 'none';
}

/** Refuses datasets without images, with one class, or with too few images in a class. */
export function checkCounts(
  result: ImportResult,
  classNames: readonly [string, string],
  limits: Pick<DatasetLimits, 'minImagesPerClass'>,
): Record<string, number> {
  // Class names are the client's folder names ('__proto__' included): counted in a Map.
  const counts = new Map<string, number>(classNames.map((c) => [c, 0]));
  for (const img of result.images) counts.set(img.className, (counts.get(img.className) ?? 0) + 1);
  const count = (c: string): number => counts.get(c) ?? 0;
  // Object.fromEntries defines own properties, so no name can reach a prototype.
  const byClass: Record<string, number> = Object.fromEntries(counts);
  const found = classNames.map((c) => `${c} ${count(c)}`).join(', ');
  const details = { byClass, skipped: result.skipped.length };
  if (result.images.length === 0) {
    throw new AppError(
      'DATASET_NO_IMAGES',
      `no usable images; ${result.skipped.length} entries skipped (${summariseSkips(result.skipped)})`,
      details,
    );
  }
  const empty = classNames.filter((c) => count(c) === 0);
  if (empty.length > 0) {
    throw new AppError(
      'DATASET_ONE_CLASS',
      `only one class has usable images (${found}); skipped: ${summariseSkips(result.skipped)}`,
      details,
    );
  }
  const small = classNames.filter((c) => count(c) < limits.minImagesPerClass);
  if (small.length > 0) {
    throw new AppError(
      'DATASET_TOO_SMALL',
      `too few images (${found}); each class needs at least ${limits.minImagesPerClass}`,
      details,
    );
  }
  return byClass;
}
