import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.ts';
import { fsErrorCode } from './atomic-file.ts';
import { exists, modelLayout } from './model-layout.ts';
import { isModelName, isPlainObject, isVersionNumber } from './model-validation.ts';

/** An evaluation file's JSON object, with the fields every record has checked; services read the rest. */
export type StoredEvaluation = Readonly<Record<string, unknown>> & {
  readonly id: string;
  readonly model: string;
  readonly version: number;
  readonly status: string;
  readonly createdAt: string;
};

export interface EvaluationStore {
  /** Newest first by createdAt. MODEL_NOT_FOUND / VERSION_NOT_FOUND when the version does not exist. */
  listEvaluations(model: string, version: number): Promise<StoredEvaluation[]>;
}

/**
 * Reads the external evaluations stored beside a version,
 * `${dataDir}/models/{name}/versions/{v}/evaluations/{id}.json`, newest first by createdAt.
 * Minimal on purpose: the evaluations resource writes these files (atomically) and may extend
 * this store; src/services/evaluation-records.ts gives the records their meaning (EvaluationRecord).
 * A file that is not a JSON evaluation record (a temp file, a foreign file) is skipped.
 */
export function createEvaluationStore(opts: { dataDir: string }): EvaluationStore {
  const layout = modelLayout(opts.dataDir);
  return {
    async listEvaluations(model, version) {
      if (!isModelName(model)) throw new AppError('MODEL_NOT_FOUND', `No model named ${JSON.stringify(model)}`, { name: model });
      if (!isVersionNumber(version) || !(await exists(layout.versionDir(model, version)))) {
        if (!(await exists(layout.versionsDir(model)))) {
          throw new AppError('MODEL_NOT_FOUND', `No model named ${JSON.stringify(model)}`, { name: model });
        }
        throw new AppError('VERSION_NOT_FOUND', `Model '${model}' has no version ${String(version)}`, { name: model, version });
      }
      const dir = layout.evaluationsDir(model, version);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if (fsErrorCode(err) === 'ENOENT') return [];
        throw err;
      }
      const records: StoredEvaluation[] = [];
      for (const file of names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()) {
        const record = await readRecord(path.join(dir, file));
        if (record && record.model === model && record.version === version) records.push(record);
      }
      return records.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
    },
  };
}

async function readRecord(file: string): Promise<StoredEvaluation | null> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    // Gone since the listing (deleted), or not JSON: not a record.
    if (fsErrorCode(err) === 'ENOENT' || err instanceof SyntaxError) return null;
    throw err;
  }
  if (!isPlainObject(parsed)) return null;
  const { id, model, version, status, createdAt } = parsed;
  if (typeof id !== 'string' || typeof model !== 'string' || typeof status !== 'string' || typeof createdAt !== 'string') return null;
  if (!isVersionNumber(version)) return null;
  return { ...parsed, id, model, version, status, createdAt };
}
