/** Builds a cache at another size from the source kept with a dataset (source.zip or source/). */
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.ts';
import { decodeXray } from '../imaging/decode.ts';
import { moveIntoPlace } from './atomic-file.ts';
import { CacheWriter, cacheFileName } from './dataset-cache.ts';
import { sha256, DECODE_POOL_WIDTH } from './dataset-import.ts';
import type { DatasetLimits, DatasetManifest } from './dataset-types.ts';
import { OrderedPool } from './ordered-pool.ts';
import type { SourceFile, VisitFile } from './source-files.ts';
import { safeEntryPath, walkZip } from './zip-entries.ts';

export const SOURCE_ZIP = 'source.zip';
export const SOURCE_DIR = 'source';

/** A file of the kept source; a kept copy names its image's hash (its bytes are not the original's). */
type KeptVisit = (file: SourceFile & { keptHash?: string }) => Promise<void>;

/**
 * Every file of the kept source, as the import saw it: source.zip or source/ for the images kept
 * there, then kept/ for those with their own kept bytes (DICOM's de-identified copies, and every
 * image of an archive that held DICOM).
 */
function walkKeptSource(datasetDir: string, manifest: DatasetManifest, limits: DatasetLimits) {
  const keptFile = (image: DatasetManifest['images'][number]) => async (visit: KeptVisit) => {
    const file = path.join(datasetDir, ...safeEntryPath(image.kept!).split('/'));
    const read = () =>
      readFile(file).catch((err: unknown) => {
        throw new AppError('INTERNAL', `kept copy of ${manifest.id} lacks ${image.kept}`, undefined, { cause: err });
      });
    await visit({ path: image.source, size: 0, read, keptHash: image.hash });
  };
  const own = manifest.images.filter((img) => img.kept !== undefined);
  const inSource = manifest.images.filter((img) => img.kept === undefined);
  const source = async (visit: VisitFile) => {
    if (inSource.length === 0) return;
    if (manifest.source.kind === 'zip') return walkZip(path.join(datasetDir, SOURCE_ZIP), limits, visit);
    await walkSourceFolder(visit);
  };
  const walkSourceFolder = async (visit: VisitFile) => {
    for (const image of inSource) {
      const file = path.join(datasetDir, SOURCE_DIR, ...safeEntryPath(image.source).split('/'));
      const read = () =>
        readFile(file).catch((err: unknown) => {
          throw new AppError('INTERNAL', `kept source of ${manifest.id} lacks ${image.source}`, undefined, { cause: err });
        });
      await visit({ path: image.source, size: 0, read });
    }
  };
  return async (visit: KeptVisit) => {
    await source(visit);
    for (const image of own) await keptFile(image)(visit);
  };
}

/** Writes `cache-{size}.u8` next to the manifest, atomically and durably (temp file, flushed, then renamed). */
export async function rebuildCache(
  datasetDir: string,
  manifest: DatasetManifest,
  size: number,
  limits: DatasetLimits,
): Promise<void> {
  const target = path.join(datasetDir, cacheFileName(size));
  const temp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
  const wanted = new Set(manifest.images.map((img) => img.source));
  const indexOf = new Map(manifest.images.map((img, i) => [img.hash, i]));
  const filled = new Set<number>();
  const writer = await CacheWriter.create(temp, size);
  const pool = new OrderedPool<Uint8Array>(DECODE_POOL_WIDTH);
  try {
    await walkKeptSource(datasetDir, manifest, limits)(async (file) => {
      if (file.problem || !wanted.has(file.path)) return;
      const bytes = await file.read();
      const index = indexOf.get(file.keptHash ?? sha256(bytes));
      if (index === undefined || filled.has(index)) return;
      filled.add(index);
      await pool.submit(
        () => decodeXray(bytes, size, { maxPixels: limits.maxImagePixels }),
        async (result) => {
          if (!result.ok) {
            throw new AppError('INTERNAL', `rebuilding cache-${size}: ${file.path} no longer decodes`, undefined, {
              cause: result.error,
            });
          }
          await writer.writeAt(index, result.value);
        },
      );
    });
    await pool.drain();
    if (filled.size !== manifest.images.length) {
      throw new AppError(
        'INTERNAL',
        `rebuilding cache-${size} of ${manifest.id}: ${manifest.images.length - filled.size} images missing from the kept source`,
      );
    }
    await writer.finish();
    await moveIntoPlace(temp, target);
  } catch (err) {
    await pool.settle();
    await writer.abort();
    await rm(temp, { force: true });
    throw err;
  }
}
