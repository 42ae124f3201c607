import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.ts';
import { ATOMIC_TEMP_SUFFIX, fsErrorCode } from './atomic-file.ts';
import { isAliasName, isModelName, isPlainObject, isVersionNumber } from './model-validation.ts';

/**
 * Where everything lives under `${dataDir}/models/{name}/`:
 *   versions/{v}/{model.json,weights.bin,metadata.json}  complete versions only
 *   versions/{v}/evaluations/{id}.json                external evaluations of the version (evaluation-store.ts)
 *   reserved/{v}/                                     version numbers ever handed out (kept forever)
 *   aliases.json                                      {"production": 3, ...}, replaced atomically
 *   alias-history.jsonl                               every alias set, move and removal (appended under .lock)
 *   versions/{v}/evaluations/{id}.json                external evaluations of a version
 *   .staging-{uuid}/  .deleting-{uuid}/  .lock/       in-flight work; readers never look there
 * A model exists once its versions/ directory does (created by its first complete publish).
 */
export function modelLayout(dataDir: string) {
  const modelsDir = path.join(dataDir, 'models');
  const modelDir = (name: string) => path.join(modelsDir, name);
  return {
    modelsDir,
    modelDir,
    versionsDir: (name: string) => path.join(modelDir(name), 'versions'),
    versionDir: (name: string, v: number) => path.join(modelDir(name), 'versions', String(v)),
    evaluationsDir: (name: string, v: number) => path.join(modelDir(name), 'versions', String(v), 'evaluations'),
    reservedDir: (name: string) => path.join(modelDir(name), 'reserved'),
    aliasesFile: (name: string) => path.join(modelDir(name), 'aliases.json'),
    aliasHistoryFile: (name: string) => path.join(modelDir(name), 'alias-history.jsonl'),
    lockDir: (name: string) => path.join(modelDir(name), '.lock'),
  };
}

export const STAGING_PREFIX = '.staging-';
export const DELETING_PREFIX = '.deleting-';

/** Entries of `dir` that are version numbers, ascending; null when `dir` does not exist. */
export async function readVersionNumbers(dir: string): Promise<number[] | null> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (fsErrorCode(err) === 'ENOENT') return null;
    throw err;
  }
  return names
    .filter((n) => /^[1-9][0-9]*$/.test(n))
    .map(Number)
    .filter(isVersionNumber)
    .sort((a, b) => a - b);
}

/** The alias map of a model, {} when none was ever set. */
export async function readAliasFile(file: string): Promise<Record<string, number>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (fsErrorCode(err) === 'ENOENT') return {};
    throw err;
  }
  const parsed = parseJsonObject(text, `Alias file ${file}`);
  const valid = Object.entries(parsed)
    .filter((pair): pair is [string, number] => isAliasName(pair[0]) && isVersionNumber(pair[1]))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  // Own properties only (an alias may be named 'constructor'); readers check with Object.hasOwn.
  return Object.fromEntries(valid);
}

/** Valid model names among the directories of `modelsDir`, sorted. */
export async function readModelNames(modelsDir: string): Promise<string[]> {
  try {
    const entries = await readdir(modelsDir, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && isModelName(e.name))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if (fsErrorCode(err) === 'ENOENT') return [];
    throw err;
  }
}

/** Removes staging, deleting and temp leftovers in `modelDir` older than maxAgeMs (0: all); returns how many. */
export async function sweepLeftovers(modelDir: string, maxAgeMs: number): Promise<number> {
  let removed = 0;
  for (const entry of await readdir(modelDir).catch(() => [])) {
    const leftover =
      entry.startsWith(STAGING_PREFIX) || entry.startsWith(DELETING_PREFIX) || entry.endsWith(ATOMIC_TEMP_SUFFIX);
    if (!leftover) continue;
    const p = path.join(modelDir, entry);
    const modified = await mtimeMs(p);
    if (modified === null || (maxAgeMs > 0 && Date.now() - modified <= maxAgeMs)) continue;
    await rm(p, { recursive: true, force: true });
    removed++;
  }
  return removed;
}

export async function exists(p: string): Promise<boolean> {
  return (await mtimeMs(p)) !== null;
}

/** null when `p` does not exist. */
export async function mtimeMs(p: string): Promise<number | null> {
  try {
    return (await stat(p)).mtimeMs;
  } catch (err) {
    if (fsErrorCode(err) === 'ENOENT') return null;
    throw err;
  }
}

export function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new AppError('INTERNAL', `${what} is not valid JSON`, undefined, { cause: err });
  }
  if (!isPlainObject(parsed)) throw new AppError('INTERNAL', `${what} is not a JSON object`);
  return parsed;
}
