/**
 * The dataset store: the only code that touches dataset files. Layout under `${dataDir}/datasets/`:
 *   {id}/manifest.json     everything about the dataset (DatasetManifest)
 *   {id}/summary.json      the manifest without images/skipped, so list() stays cheap
 *   {id}/cache-{size}.u8   decoded pixels, image i at offset i*size*size
 *   {id}/source.zip        the imported archive (zip imports), kept to build caches at other sizes
 *   {id}/source/...        copies of the kept images (folder imports), same purpose
 *   {id}/kept/{hash}[.png] what stands in for an image's source (DatasetImage.kept): a de-identified
 *                          PNG of a DICOM file's picture, and, when an archive held DICOM files (and
 *                          so is not kept: their headers carry patient data), the archive's other images
 * and `${dataDir}/uploads/` holds uploads streamed in before their import (uploads.ts).
 * An import is built in `.staging-{id}/`, flushed to disk and renamed into place when complete;
 * any failure removes it, so a half-made dataset is never visible.
 */
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { DATASET_NAME_MAX_LENGTH } from '../domain/datasets.ts';
import { AppError } from '../errors.ts';
import type { SplitName } from '../ml/types.ts';
import { fsErrorCode, fsyncDir, moveIntoPlace, writeFileDurable } from './atomic-file.ts';
import { cacheFileName, openCachedImages } from './dataset-cache.ts';
import { isDatasetId, newDatasetId } from './dataset-ids.ts';
import type { DicomPolicy } from '../imaging/decode.ts';
import { checkCounts, importImages, KEPT_DIR, keptPath, sha256, type ImportPlan, type ImportResult } from './dataset-import.ts';
import { resolveLayout, type DatasetLayout } from './dataset-layout.ts';
import { rebuildCache, SOURCE_DIR, SOURCE_ZIP } from './dataset-rebuild.ts';
import {
  DEFAULT_DATASET_LIMITS,
  type DatasetImages,
  type DatasetLimits,
  type DatasetManifest,
  type DatasetSummary,
} from './dataset-types.ts';
import { scanDirectory, walkDirectory } from './directory-entries.ts';
import { createUploadArea, type ReceiveOptions, type StoredUpload } from './uploads.ts';
import { scanZip, walkZip } from './zip-entries.ts';

export * from './dataset-types.ts';
export type { ReceiveOptions, StoredUpload } from './uploads.ts';

export interface ImportOptions {
  name: string;
  size?: number;
  positiveClass?: string;
  /** The client's or the file's name, recorded as metadata only. */
  filename?: string;
}

export interface DatasetStore {
  /**
   * Streams an upload to disk (uploads.ts): ARCHIVE_TOO_LARGE past opts.maxBytes; on any failure,
   * an aborted stream included, nothing of it is left on disk.
   */
  receiveUpload(stream: Readable, opts: ReceiveOptions): Promise<StoredUpload>;
  /**
   * Imports a received upload as a zip. The upload is consumed in every case: moved into the
   * dataset on success, deleted on failure.
   */
  importUpload(upload: StoredUpload, opts: ImportOptions): Promise<DatasetManifest>;
  /** Imports a zip file from anywhere; it is copied and left as it was. */
  importArchive(zipPath: string, opts: ImportOptions): Promise<DatasetManifest>;
  /** Imports a folder; the kept images are copied into the dataset (the folder is not needed later). */
  importDirectory(dir: string, opts: { name: string; size?: number; positiveClass?: string }): Promise<DatasetManifest>;
  /** Newest first. */
  list(): Promise<DatasetSummary[]>;
  /** AppError DATASET_NOT_FOUND, also for malformed ids. */
  get(id: string): Promise<DatasetManifest>;
  delete(id: string): Promise<void>;
  /** size defaults to manifest.size; a cache at another size is built from the kept source first. */
  openImages(id: string, size?: number): Promise<DatasetImages>;
}

const MIN_SIZE = 8;
const MAX_SIZE = 1024;
const STALE_MS = 24 * 3600 * 1000;

function checkSize(size: number): number {
  if (!Number.isInteger(size) || size < MIN_SIZE || size > MAX_SIZE) {
    throw new AppError('VALIDATION_FAILED', `image size must be an integer from ${MIN_SIZE} to ${MAX_SIZE}, got ${size}`);
  }
  return size;
}

function checkImportOptions(
  opts: { name: string; size?: number; positiveClass?: string },
  defaultSize: number,
): { name: string; size: number; positiveClass?: string } {
  const name = typeof opts.name === 'string' ? opts.name.trim() : '';
  if (name === '' || name.length > DATASET_NAME_MAX_LENGTH) {
    throw new AppError('VALIDATION_FAILED', `dataset name must be 1 to ${DATASET_NAME_MAX_LENGTH} characters`);
  }
  const positiveClass = opts.positiveClass?.trim();
  if (positiveClass !== undefined && (positiveClass === '' || /[/\\]/.test(positiveClass))) {
    throw new AppError('VALIDATION_FAILED', 'positiveClass must be a folder name');
  }
  return { name, size: checkSize(opts.size ?? defaultSize), positiveClass };
}

function checkLimits(limits: DatasetLimits): DatasetLimits {
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value < 0) throw new AppError('INTERNAL', `dataset limit ${key} is invalid: ${value}`);
  }
  return Object.freeze(limits);
}

function notFound(id: string): AppError {
  return new AppError('DATASET_NOT_FOUND', `dataset ${JSON.stringify(id)} not found`);
}

function contentHashOf(result: ImportResult): string {
  const pairs = result.images.map((img) => `${img.hash}:${img.label}`).sort();
  return createHash('sha256').update(pairs.join('\n')).digest('hex');
}

function summaryOf(manifest: DatasetManifest): DatasetSummary {
  const { images: _images, skipped: _skipped, ...summary } = manifest;
  return summary;
}

export function createDatasetStore(opts: {
  dataDir: string;
  limits?: Partial<DatasetLimits>;
  defaultSize?: number;
  /** What DICOM files imports accept, and the secret of their patient keys (default: DicomPolicy's defaults). */
  dicom?: DicomPolicy;
}): DatasetStore {
  const limits = checkLimits({ ...DEFAULT_DATASET_LIMITS, ...opts.limits });
  const dicom = opts.dicom ? { dicom: opts.dicom } : {};
  const defaultSize = checkSize(opts.defaultSize ?? 256);
  const root = path.resolve(opts.dataDir, 'datasets');
  const uploads = createUploadArea(path.resolve(opts.dataDir, 'uploads'));
  mkdirSync(root, { recursive: true });
  mkdirSync(uploads.dir, { recursive: true });
  const building = new Map<string, Promise<void>>();

  const datasetDir = (id: string): string => {
    if (!isDatasetId(id)) throw notFound(String(id));
    return path.join(root, id);
  };

  /** Best effort: leftovers of imports or deletes that a crash interrupted long ago. */
  async function sweepStale(): Promise<void> {
    const names = await readdir(root).catch(() => [] as string[]);
    for (const name of names) {
      if (!name.startsWith('.staging-') && !name.startsWith('.deleting-')) continue;
      const dir = path.join(root, name);
      const info = await stat(dir).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs > STALE_MS) await rm(dir, { recursive: true, force: true });
    }
  }

  async function stage(
    build: (staging: string, id: string) => Promise<DatasetManifest>,
  ): Promise<DatasetManifest> {
    await sweepStale();
    const id = newDatasetId();
    const staging = path.join(root, `.staging-${id}`);
    await mkdir(staging);
    try {
      const manifest = await build(staging, id);
      await writeFileDurable(path.join(staging, 'manifest.json'), JSON.stringify(manifest));
      await writeFileDurable(path.join(staging, 'summary.json'), JSON.stringify(summaryOf(manifest)));
      await moveIntoPlace(staging, path.join(root, id));
      return manifest;
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
  }

  function manifestOf(
    id: string,
    name: string,
    size: number,
    layout: DatasetLayout,
    result: ImportResult,
    source: DatasetManifest['source'],
  ): DatasetManifest {
    const byClass = checkCounts(result, layout.classNames, limits);
    const splits = new Map<SplitName, number>();
    for (const img of result.images) if (img.split) splits.set(img.split, (splits.get(img.split) ?? 0) + 1);
    const bySplit: Partial<Record<SplitName, number>> = Object.fromEntries(splits);
    return {
      id,
      name,
      createdAt: new Date().toISOString(),
      size,
      classNames: [layout.classNames[0], layout.classNames[1]],
      positiveClass: layout.positiveClass,
      counts: {
        images: result.images.length,
        byClass,
        bySplit,
        skipped: result.skipped.length,
        duplicates: result.skipped.filter((s) => s.code === 'DUPLICATE').length,
      },
      images: result.images,
      skipped: result.skipped,
      contentHash: contentHashOf(result),
      source,
    };
  }

  async function fileSize(file: string, what: string, directory = false): Promise<number> {
    try {
      const info = await stat(file);
      if (info.isDirectory() === directory) return info.size;
    } catch {
      // reported below
    }
    throw new AppError('BAD_REQUEST', `${what} not found: ${file}`);
  }

  async function moveOrCopy(from: string, to: string, move: boolean): Promise<void> {
    if (move) {
      try {
        await rename(from, to);
        return;
      } catch (err) {
        if (fsErrorCode(err) !== 'EXDEV') throw err;
      }
    }
    await copyFile(from, to);
    await fsyncDir(to); // flushes the copy's data
    if (move) await unlink(from);
  }

  /**
   * An archive that held DICOM files is not kept (their headers carry patient data): its other
   * kept images are copied under kept/ instead, so every image has its kept bytes.
   */
  async function keepArchiveImages(zipPath: string, staging: string, result: ImportResult): Promise<void> {
    const wanted = new Map(result.images.filter((img) => img.kept === undefined).map((img) => [img.hash, img]));
    if (wanted.size === 0) return;
    const sources = new Set([...wanted.values()].map((img) => img.source));
    await mkdir(path.join(staging, KEPT_DIR), { recursive: true });
    await walkZip(zipPath, limits, async (file) => {
      if (file.problem || !sources.has(file.path)) return;
      const bytes = await file.read();
      const hash = sha256(bytes);
      const image = wanted.get(hash);
      if (!image || image.kept !== undefined) return;
      image.kept = keptPath(hash, false);
      await writeFileDurable(path.join(staging, image.kept), bytes);
    });
    const missing = [...wanted.values()].filter((img) => img.kept === undefined).length;
    if (missing > 0) throw new AppError('INTERNAL', `${missing} images of the archive were not found again to keep`);
  }

  /** `consume`: the file is an upload of ours, moved into the dataset on success and removed in any case. */
  async function importZip(zipPath: string, opts: ImportOptions, consume: boolean): Promise<DatasetManifest> {
    const absolute = path.resolve(zipPath);
    try {
      const { name, size, positiveClass } = checkImportOptions(opts, defaultSize);
      const bytes = await fileSize(absolute, 'archive');
      if (bytes === 0) throw new AppError('INVALID_ARCHIVE', 'The archive is empty (0 bytes)');
      return await stage(async (staging, id) => {
        const scan = await scanZip(absolute, limits);
        const layout = resolveLayout(scan.files, { positiveClass });
        const result = await importImages({
          layout,
          size,
          maxPixels: limits.maxImagePixels,
          ...dicom,
          cacheFile: path.join(staging, cacheFileName(size)),
          datasetDir: staging,
          walk: (visit) => walkZip(absolute, limits, visit),
        });
        const filename = opts.filename ?? path.basename(absolute);
        // Counts first (a refused dataset costs no second walk); the manifest holds the same image objects.
        const manifest = manifestOf(id, name, size, layout, result, { kind: 'zip', bytes, filename });
        if (result.images.some((img) => img.dicom !== undefined)) {
          await keepArchiveImages(absolute, staging, result);
          await fsyncDir(path.join(staging, KEPT_DIR));
        } else {
          await moveOrCopy(absolute, path.join(staging, SOURCE_ZIP), consume);
        }
        return manifest;
      });
    } finally {
      if (consume) await rm(absolute, { force: true });
    }
  }

  async function importUpload(upload: StoredUpload, opts: ImportOptions): Promise<DatasetManifest> {
    const file = uploads.take(upload);
    if (file === undefined) throw new AppError('INTERNAL', 'importUpload was given an upload this store did not receive, or one already imported');
    return importZip(file, opts, true);
  }

  async function importDirectory(
    dir: string,
    opts: { name: string; size?: number; positiveClass?: string },
  ): Promise<DatasetManifest> {
    const { name, size, positiveClass } = checkImportOptions(opts, defaultSize);
    const absolute = path.resolve(dir);
    await fileSize(absolute, 'dataset folder', true);
    return stage(async (staging, id) => {
      const scan = await scanDirectory(absolute, limits);
      const layout = resolveLayout(scan.files, { positiveClass });
      const kept = path.join(staging, SOURCE_DIR);
      /** Folders made under source/, flushed once the copies are all written. */
      const folders = new Set<string>();
      const plan: ImportPlan = {
        layout,
        size,
        maxPixels: limits.maxImagePixels,
        ...dicom,
        cacheFile: path.join(staging, cacheFileName(size)),
        datasetDir: staging,
        walk: (visit) => walkDirectory(absolute, limits, visit),
        keep: async (source, data) => {
          const file = path.join(kept, ...source.split('/'));
          const folder = path.dirname(file);
          if (!folders.has(folder)) {
            await mkdir(folder, { recursive: true });
            for (let f = folder; f !== staging && !folders.has(f); f = path.dirname(f)) folders.add(f);
          }
          await writeFileDurable(file, data);
        },
        unkeep: (source) => rm(path.join(kept, ...source.split('/')), { force: true }),
      };
      const result = await importImages(plan);
      for (const folder of folders) await fsyncDir(folder);
      if (result.images.some((img) => img.kept !== undefined)) await fsyncDir(path.join(staging, KEPT_DIR));
      return manifestOf(id, name, size, layout, result, {
        kind: 'directory',
        bytes: scan.bytes,
        filename: path.basename(absolute),
      });
    });
  }

  async function get(id: string): Promise<DatasetManifest> {
    const dir = datasetDir(id);
    let text;
    try {
      text = await readFile(path.join(dir, 'manifest.json'), 'utf8');
    } catch (err) {
      if (fsErrorCode(err) === 'ENOENT' || fsErrorCode(err) === 'ENOTDIR') throw notFound(id);
      throw err;
    }
    return JSON.parse(text) as DatasetManifest;
  }

  async function list(): Promise<DatasetSummary[]> {
    const entries = await readdir(root, { withFileTypes: true });
    const summaries: DatasetSummary[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || !isDatasetId(entry.name)) continue;
      try {
        summaries.push(JSON.parse(await readFile(path.join(root, entry.name, 'summary.json'), 'utf8')));
      } catch (err) {
        if (fsErrorCode(err) !== 'ENOENT') throw err; // deleted meanwhile
      }
    }
    return summaries.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
  }

  async function remove(id: string): Promise<void> {
    const dir = datasetDir(id);
    const doomed = path.join(root, `.deleting-${id}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(dir, doomed);
    } catch (err) {
      if (fsErrorCode(err) === 'ENOENT') throw notFound(id);
      throw err;
    }
    await rm(doomed, { recursive: true, force: true });
  }

  async function openImages(id: string, size?: number): Promise<DatasetImages> {
    const manifest = await get(id);
    const side = size === undefined ? manifest.size : checkSize(size);
    const dir = datasetDir(id);
    const file = path.join(dir, cacheFileName(side));
    const exists = await stat(file).then(
      () => true,
      () => false,
    );
    if (!exists) {
      const key = `${id}/${side}`;
      let job = building.get(key);
      if (!job) {
        job = rebuildCache(dir, manifest, side, limits).finally(() => building.delete(key));
        building.set(key, job);
      }
      await job;
    }
    try {
      return await openCachedImages(file, manifest, side);
    } catch (err) {
      if (fsErrorCode(err) === 'ENOENT') throw notFound(id);
      throw err;
    }
  }

  return {
    receiveUpload: (stream, receiveOpts) => uploads.receive(stream, receiveOpts),
    importUpload,
    importArchive: (zipPath, importOpts) => importZip(zipPath, importOpts, false),
    importDirectory,
    list,
    get,
    delete: remove,
    openImages,
  };
}
