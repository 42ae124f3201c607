/**
 * The content hash of a stored model version: SHA-256 over its model.json and weights.bin as
 * stored, each preceded by a line with its name and byte length, so the same weights always give
 * the same hash whatever the version number or name. Versions are immutable, so hashes are cached.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isModelName, isVersionNumber } from '../domain/ids.ts';
import { AppError } from '../errors.ts';
import { fsErrorCode } from './atomic-file.ts';
import { MODEL_FILE, WEIGHTS_FILE } from './model-files.ts';
import { modelLayout } from './model-layout.ts';

export type ModelFingerprints = (name: string, version: number) => Promise<string>;

const CACHE_ENTRIES = 256;

export function createModelFingerprints(opts: { dataDir: string }): ModelFingerprints {
  const layout = modelLayout(opts.dataDir);
  const cache = new Map<string, Promise<string>>();

  async function hashOf(name: string, version: number): Promise<string> {
    const dir = layout.versionDir(name, version);
    const hash = createHash('sha256');
    try {
      for (const file of [MODEL_FILE, WEIGHTS_FILE]) {
        const bytes = await readFile(path.join(dir, file));
        hash.update(`${file} ${bytes.length}\n`, 'utf8').update(bytes);
      }
    } catch (err) {
      if (fsErrorCode(err) === 'ENOENT') {
        throw new AppError('VERSION_NOT_FOUND', `Model '${name}' has no version ${version}`, { name, version });
      }
      throw err;
    }
    return hash.digest('hex');
  }

  return (name, version) => {
    if (!isModelName(name) || !isVersionNumber(version)) {
      return Promise.reject(new AppError('VERSION_NOT_FOUND', `Model '${String(name).slice(0, 64)}' has no version ${String(version)}`));
    }
    const key = `${name}@${version}`;
    let hit = cache.get(key);
    if (hit) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    hit = hashOf(name, version);
    cache.set(key, hit);
    // A failed read is not remembered: the next call tries again.
    hit.catch(() => cache.delete(key));
    while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
    return hit;
  };
}
