import { compileGroupPattern } from '../domain/group-pattern.ts';
import { isEvaluationId } from '../domain/ids.ts';
import { labelling } from '../domain/labelling.ts';
import { silentLogger, type Logger } from '../domain/logger.ts';
import { randomId } from '../domain/random-id.ts';
import { AppError, isAppError } from '../errors.ts';
import type { EvaluationQueue } from '../queue/evaluation-queue.ts';
import type { EvaluationJobData } from '../queue/names.ts';
import type { DatasetManifest } from '../storage/dataset-types.ts';
import type { EvaluationStore } from '../storage/evaluation-store.ts';
import type { ModelVersionInfo } from '../storage/model-types.ts';
import { checkEvaluationClasses } from './evaluation-scoring.ts';
import type { EvaluationLister, EvaluationRecord } from './evaluation-types.ts';

/**
 * External evaluations as the API sees them: submit (the version and the dataset must exist, the
 * dataset's classes must be the version's), read one, list a version's, newest first. The job goes
 * on the training queue (one worker, one job at a time); the record beside the version is written
 * by this service once ("queued") and from then on by the worker (src/services/evaluation-run.ts).
 *
 * A record that still says queued or running is checked against the queue when read: if its job is
 * gone (the worker was lost more often than allowed, or the job was removed) it is marked failed
 * with WORKER_LOST, since a worker always writes the outcome before its job ends. Reading never
 * needs Redis: when Redis is down the record is answered as it is on disk.
 */

export type { EvaluationLister, EvaluationRecord, EvaluationStatus } from './evaluation-types.ts';

/** POST /v1/models/{name}/versions/{v}/evaluations (validated by the route schema). */
export interface EvaluationRequest {
  readonly datasetId: string;
  readonly groupPattern?: string;
}

export interface EvaluationService extends EvaluationLister {
  /**
   * MODEL_NOT_FOUND / VERSION_NOT_FOUND, DATASET_NOT_FOUND, DATASET_CLASSES_MISMATCH,
   * INVALID_GROUP_PATTERN; QUEUE_UNAVAILABLE at once when Redis is down (nothing is written then).
   */
  submit(name: string, version: number, req: EvaluationRequest): Promise<EvaluationRecord>;
  /** MODEL_NOT_FOUND / VERSION_NOT_FOUND / EVALUATION_NOT_FOUND */
  get(name: string, version: number, id: string): Promise<EvaluationRecord>;
  /** Newest first, at most `limit` (default all). MODEL_NOT_FOUND / VERSION_NOT_FOUND. */
  list(name: string, version: number, limit?: number): Promise<EvaluationRecord[]>;
  close(): Promise<void>;
}

export interface EvaluationServiceOptions {
  /** MODEL_NOT_FOUND / VERSION_NOT_FOUND (the model registry or service). */
  readonly versions: { getVersion(name: string, version: number): Promise<Pick<ModelVersionInfo, 'metadata'>> };
  /** DATASET_NOT_FOUND (the dataset store or service). */
  readonly datasets: { get(id: string): Promise<Pick<DatasetManifest, 'id' | 'name' | 'contentHash' | 'classNames' | 'counts'>> };
  /** The service closes it. */
  readonly queue: EvaluationQueue;
  readonly store: EvaluationStore<EvaluationRecord>;
  readonly logger?: Logger;
}

const newEvaluationId = (): string => randomId('ev_');

const ACTIVE = new Set(['queued', 'running']);

export const evaluationNotFound = (name: string, version: number, id: string): AppError =>
  new AppError(
    'EVALUATION_NOT_FOUND',
    isEvaluationId(id) ? `Model '${name}' version ${version} has no evaluation "${id}"` : 'Evaluation not found (not an evaluation id)',
  );

export function createEvaluationService(opts: EvaluationServiceOptions): EvaluationService {
  const { versions, datasets, queue, store } = opts;
  const log = opts.logger ?? silentLogger;
  let closed = false;

  /** A queued or running record whose job is gone is failed: its worker would have written the outcome. */
  async function reconcile(name: string, version: number, rec: EvaluationRecord): Promise<EvaluationRecord> {
    // A command-line run has no job to ask about; its process writes the outcome (Ctrl-C included).
    if (!ACTIVE.has(rec.status) || rec.runner === 'cli') return rec;
    let job;
    try {
      job = await queue.state(rec.id);
    } catch (err) {
      if (isAppError(err) && err.code === 'QUEUE_UNAVAILABLE') return rec;
      throw err;
    }
    if (job !== null) return rec;
    // The worker may have finished (written the outcome, then its job was removed) since the first read.
    const now = await store.get(name, version, rec.id);
    if (!now || !ACTIVE.has(now.status)) return now ?? rec;
    const lost: EvaluationRecord = {
      ...now,
      status: 'failed',
      finishedAt: new Date().toISOString(),
      error: {
        code: 'WORKER_LOST',
        message: 'The evaluation job is gone from the queue before it finished (its worker stopped more often than allowed, or the job was removed); submit it again',
      },
    };
    await store.write(name, version, lost).catch((err: unknown) => log.warn({ err, evaluationId: rec.id }, 'could not record a lost evaluation'));
    return lost;
  }

  async function list(name: string, version: number, limit?: number): Promise<EvaluationRecord[]> {
    await versions.getVersion(name, version);
    const all = await store.list(name, version);
    const shown = limit === undefined ? all : all.slice(0, Math.max(0, limit));
    const out: EvaluationRecord[] = [];
    for (const rec of shown) out.push(await reconcile(name, version, rec));
    return out;
  }

  return {
    async submit(name, version, req) {
      const info = await versions.getVersion(name, version);
      const manifest = await datasets.get(req.datasetId);
      checkEvaluationClasses(manifest, labelling(info.metadata).classNames);
      if (req.groupPattern !== undefined) compileGroupPattern(req.groupPattern);
      const id = newEvaluationId();
      const createdAt = new Date().toISOString();
      const record: EvaluationRecord = {
        id,
        model: name,
        version,
        dataset: { id: manifest.id, name: manifest.name, contentHash: manifest.contentHash },
        status: 'queued',
        ...(req.groupPattern !== undefined ? { groupPattern: req.groupPattern } : {}),
        createdAt,
        progress: { done: 0, total: manifest.counts.images },
      };
      const data: EvaluationJobData = {
        v: 1,
        evaluationId: id,
        modelName: name,
        version,
        datasetId: manifest.id,
        ...(req.groupPattern !== undefined ? { groupPattern: req.groupPattern } : {}),
        submittedAt: createdAt,
      };
      // The job first: a record on disk then always has a job behind it (or an outcome).
      await queue.add(data);
      try {
        if (!(await store.create(name, version, record))) {
          // The worker was quicker and has written its own record already.
          return (await store.get(name, version, id)) ?? record;
        }
      } catch (err) {
        await queue.remove(id).catch((removeErr: unknown) => log.warn({ err: removeErr, evaluationId: id }, 'could not withdraw an evaluation job'));
        throw err;
      }
      return record;
    },

    async get(name, version, id) {
      await versions.getVersion(name, version);
      const rec = isEvaluationId(id) ? await store.get(name, version, id) : null;
      if (!rec) throw evaluationNotFound(name, version, id);
      return reconcile(name, version, rec);
    },

    list,
    listEvaluations: (name, version) => list(name, version),

    async close() {
      if (closed) return;
      closed = true;
      await queue.close();
    },
  };
}
