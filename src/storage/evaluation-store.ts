/**
 * External evaluations of a model version, one JSON file each beside the version:
 *   `${dataDir}/models/{name}/versions/{v}/evaluations/{id}.json`
 * so deleting the version (one rename of its directory) deletes its evaluations with it. Files are
 * replaced atomically (src/storage/atomic-file.ts); a record is created only when none has its id,
 * so a late "queued" never replaces what the worker already wrote. Nothing here ever creates a
 * version directory: writing for a version that is gone is VERSION_NOT_FOUND.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { EVALUATION_ID_PATTERN, isEvaluationId, isModelName, isVersionNumber } from '../domain/ids.ts';
import { AppError } from '../errors.ts';
import { createFileAtomic, fsErrorCode, fsyncDir, writeFileAtomic } from './atomic-file.ts';
import { modelLayout } from './model-layout.ts';

/** What the store needs of a record; the services layer owns its full shape. */
export interface StoredEvaluation {
  readonly id: string;
  readonly createdAt: string;
}

export interface EvaluationStore<T extends StoredEvaluation> {
  /** Writes a new record; false (and nothing written) when one with its id exists. VERSION_NOT_FOUND when the version is gone. */
  create(name: string, version: number, record: T): Promise<boolean>;
  /** Replaces (or writes) the record. VERSION_NOT_FOUND when the version is gone. */
  write(name: string, version: number, record: T): Promise<void>;
  /** null when there is no such record (or version). */
  get(name: string, version: number, id: string): Promise<T | null>;
  /** Every record of the version, newest first (createdAt, then id); [] when none. */
  list(name: string, version: number): Promise<T[]>;
}

const FILE_RE = new RegExp(`${EVALUATION_ID_PATTERN.slice(0, -1)}\\.json$`);
/** A record is a few tens of KB (ROC points, reliability bins); anything far larger is not one of ours. */
const MAX_RECORD_BYTES = 4 * 1024 * 1024;

const versionGone = (name: string, version: number, cause?: unknown) =>
  new AppError('VERSION_NOT_FOUND', `Model '${name}' has no version ${version}`, { name, version }, { cause });

function checkIds(name: string, version: number, id?: string): void {
  // Callers validate first; this keeps a bad value from ever becoming a path.
  if (!isModelName(name) || !isVersionNumber(version) || (id !== undefined && !isEvaluationId(id))) {
    throw new AppError('INTERNAL', 'evaluation store called with a malformed model name, version or evaluation id');
  }
}

function parseRecord<T extends StoredEvaluation>(text: string, id: string): T | null {
  if (text.length > MAX_RECORD_BYTES) return null;
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
    const r = v as Partial<StoredEvaluation>;
    return r.id === id && typeof r.createdAt === 'string' ? (v as T) : null;
  } catch {
    return null;
  }
}

export const byNewestEvaluation = (a: StoredEvaluation, b: StoredEvaluation): number =>
  Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

export function createEvaluationStore<T extends StoredEvaluation>(opts: { dataDir: string }): EvaluationStore<T> {
  const layout = modelLayout(opts.dataDir);
  const fileOf = (name: string, version: number, id: string) => path.join(layout.evaluationsDir(name, version), `${id}.json`);
  const text = (record: T) => `${JSON.stringify(record, null, 2)}\n`;

  /** The evaluations folder, made inside an existing version directory only (never recursively). */
  async function ensureDir(name: string, version: number): Promise<void> {
    try {
      await mkdir(layout.evaluationsDir(name, version));
    } catch (err) {
      const code = fsErrorCode(err);
      if (code === 'EEXIST') return;
      if (code === 'ENOENT') throw versionGone(name, version, err);
      throw err;
    }
    await fsyncDir(layout.versionDir(name, version));
  }

  /** ENOENT while writing: the version directory went away (deleted). */
  const writing = async <R>(name: string, version: number, fn: () => Promise<R>): Promise<R> => {
    try {
      return await fn();
    } catch (err) {
      if (fsErrorCode(err) === 'ENOENT') throw versionGone(name, version, err);
      throw err;
    }
  };

  async function read(name: string, version: number, id: string): Promise<T | null> {
    let content: string;
    try {
      content = await readFile(fileOf(name, version, id), 'utf8');
    } catch (err) {
      if (fsErrorCode(err) === 'ENOENT' || fsErrorCode(err) === 'ENOTDIR') return null;
      throw err;
    }
    return parseRecord<T>(content, id);
  }

  return {
    async create(name, version, record) {
      checkIds(name, version, record.id);
      await ensureDir(name, version);
      return writing(name, version, () => createFileAtomic(fileOf(name, version, record.id), text(record)));
    },

    async write(name, version, record) {
      checkIds(name, version, record.id);
      await ensureDir(name, version);
      await writing(name, version, () => writeFileAtomic(fileOf(name, version, record.id), text(record)));
    },

    async get(name, version, id) {
      checkIds(name, version, id);
      return read(name, version, id);
    },

    async list(name, version) {
      checkIds(name, version);
      let names: string[];
      try {
        names = await readdir(layout.evaluationsDir(name, version));
      } catch (err) {
        if (fsErrorCode(err) === 'ENOENT' || fsErrorCode(err) === 'ENOTDIR') return [];
        throw err;
      }
      const ids = names.filter((n) => FILE_RE.test(n)).map((n) => n.slice(0, -'.json'.length));
      const records: T[] = [];
      // One file at a time: a version has few evaluations, and no listing may hold many descriptors.
      for (const id of ids) {
        const r = await read(name, version, id);
        if (r) records.push(r);
      }
      return records.sort(byNewestEvaluation);
    },
  };
}
