import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { AppError, isAppError } from '../errors.ts';
import type { EpochMetrics } from '../ml/types.ts';
import { closeRedis, withTimeout, type RedisFactory } from '../queue/connection.ts';
import {
  CANCELLED_REASON,
  INTERRUPTED_REASON,
  type TrainingJobData,
  type TrainingJobProgress,
  type TrainingJobResult,
} from '../queue/names.ts';
import { resolveTrainingRequest, type TrainingParams } from '../domain/training-params.ts';
import { createTrainingQueue, QUEUED_STATES, type JobRecord, type TrainingQueue } from '../queue/training-queue.ts';

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'completed', 'failed', 'cancelled'];
const TERMINAL: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);

/** The request body of POST /v1/training-jobs (validated strictly by resolveTrainingRequest). */
export type TrainingJobRequest = unknown;

export type ProgressView = Omit<TrainingJobProgress, 'history'>;

export interface JobError {
  /** SCREAMING_CASE: an error-catalogue code (DATASET_TOO_SMALL...), or WORKER_INTERRUPTED, WORKER_LOST, CANCELLED, TRAINING_FAILED. */
  readonly code: string;
  readonly message: string;
}

export interface TrainingJobView {
  readonly id: string;
  readonly status: JobStatus;
  readonly datasetId: string;
  readonly model: { readonly name: string };
  readonly params: TrainingParams;
  readonly progress: ProgressView | null;
  readonly history: readonly EpochMetrics[];
  readonly result: TrainingJobResult | null;
  /** Why it failed or was cancelled (final states only). */
  readonly error: JobError | null;
  /** The failure of the previous attempt while a retry is queued or running. */
  readonly lastError: JobError | null;
  readonly attempts: { readonly made: number; readonly max: number };
  /** A cancel was asked for and the running job has not stopped yet. */
  readonly cancelRequested: boolean;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

export type TrainingJobEvent =
  | { readonly type: 'status'; readonly data: TrainingJobView }
  | { readonly type: 'progress'; readonly data: ProgressView & { readonly jobId: string; readonly epochMetrics?: EpochMetrics } }
  | { readonly type: 'completed' | 'failed' | 'cancelled'; readonly data: TrainingJobView };

export interface TrainingJobService {
  /** Validates the parameters (VALIDATION_FAILED) and that the dataset exists (DATASET_NOT_FOUND); QUEUE_UNAVAILABLE at once when Redis is down. */
  submit(req: TrainingJobRequest): Promise<TrainingJobView>;
  /** JOB_NOT_FOUND */
  get(id: string): Promise<TrainingJobView>;
  /** Newest first. */
  list(filter: { status?: JobStatus; limit?: number }): Promise<TrainingJobView[]>;
  /** Queued: removed and cancelled at once. Running: stops within one batch (waits a few seconds for it). Finished: JOB_FINISHED. */
  cancel(id: string): Promise<TrainingJobView>;
  /** Status and progress events until the job ends or `signal` aborts (JOB_NOT_FOUND before the first event). */
  events(id: string, signal: AbortSignal): AsyncIterable<TrainingJobEvent>;
  /** Whether a queued or running job uses the dataset. */
  datasetInUse(datasetId: string): Promise<boolean>;
  counts(): Promise<Record<JobStatus, number>>;
  /** Training workers connected to the queue. */
  workers(): Promise<number>;
  close(): Promise<void>;
}

export interface TrainingJobServiceOptions {
  readonly config: Config;
  readonly redis: RedisFactory;
  /** Anything with get(id) that throws DATASET_NOT_FOUND (the dataset store or service). */
  readonly datasets: { get(id: string): Promise<unknown> };
  /** Every Redis round trip is bounded by this (default 1000 ms): past it, QUEUE_UNAVAILABLE. */
  readonly timeoutMs?: number;
  /** First retry delay after an infrastructure failure (doubles per attempt); default 5000 ms. */
  readonly backoffMs?: number;
  /** How long cancel() waits for a running job to stop before answering (default 5000 ms). */
  readonly cancelWaitMs?: number;
  /** events(): re-read the job at least this often even without a queue event (default 1000 ms). */
  readonly pollMs?: number;
}

const iso = (ms: number | null | undefined): string | null => (ms ? new Date(ms).toISOString() : null);

/** Splits a BullMQ failedReason into the code and message the API shows. */
export function parseFailedReason(reason: string): JobError {
  if (reason === CANCELLED_REASON) return { code: 'CANCELLED', message: 'Cancelled by request' };
  if (reason === INTERRUPTED_REASON) {
    return { code: 'WORKER_INTERRUPTED', message: 'The worker running the job shut down; the job is retried while attempts remain' };
  }
  if (/stalled more than allowable limit/.test(reason)) {
    return { code: 'WORKER_LOST', message: 'The worker running the job stopped (killed or crashed) more often than allowed' };
  }
  const m = /^([A-Z][A-Z0-9_]{2,}): ([\s\S]*)$/.exec(reason);
  if (m) return { code: m[1]!, message: m[2]! };
  return { code: 'TRAINING_FAILED', message: reason || 'Training failed' };
}

export function statusOf(rec: JobRecord): JobStatus | null {
  switch (rec.state) {
    case 'waiting':
    case 'delayed':
    case 'prioritized':
    case 'waiting-children':
      return 'queued';
    case 'active':
      return 'running';
    case 'completed':
      return 'completed';
    case 'failed':
      return rec.failedReason === CANCELLED_REASON ? 'cancelled' : 'failed';
    default:
      return null;
  }
}

function progressOf(p: TrainingJobProgress | null): ProgressView | null {
  if (!p) return null;
  const { history: _history, ...rest } = p;
  return rest;
}

export function toView(rec: JobRecord, cancelRequested = false): TrainingJobView | null {
  const status = statusOf(rec);
  if (!status) return null;
  const finished = TERMINAL.has(status);
  const failure = rec.failedReason ? parseFailedReason(rec.failedReason) : null;
  const result = status === 'completed' ? rec.result : null;
  return {
    id: rec.id,
    status,
    datasetId: rec.data.datasetId,
    model: { name: result?.model.name ?? rec.data.modelName },
    params: rec.data.params,
    progress: progressOf(rec.progress),
    history: result?.history ?? rec.progress?.history ?? [],
    result,
    error: finished && status !== 'completed' ? failure : null,
    lastError: !finished && rec.attemptsMade > 0 ? failure : null,
    attempts: { made: rec.attemptsMade, max: rec.maxAttempts },
    cancelRequested: status === 'running' && cancelRequested,
    createdAt: iso(rec.createdAt)!,
    startedAt: iso(rec.processedOn),
    finishedAt: finished ? iso(rec.finishedOn) : null,
  };
}

function parseSnapshot(text: string | null): TrainingJobView | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as TrainingJobView;
  } catch {
    return null;
  }
}

const byNewest = (a: TrainingJobView, b: TrainingJobView) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || b.id.localeCompare(a.id);

export function createTrainingJobService(opts: TrainingJobServiceOptions): TrainingJobService {
  const { config } = opts;
  const timeoutMs = opts.timeoutMs ?? 1000;
  const cancelWaitMs = opts.cancelWaitMs ?? 5000;
  const pollMs = opts.pollMs ?? 1000;
  const redis: Redis = opts.redis('producer');
  const queue: TrainingQueue = createTrainingQueue({
    redis,
    subscriber: () => opts.redis('subscriber'),
    prefix: config.queuePrefix,
    attempts: config.worker.attempts,
    backoffMs: opts.backoffMs ?? 5000,
  });
  let closed = false;
  // Once a connection attempt failed, requests fail at once until Redis is back (no waiting).
  let downSinceLastReady = false;
  redis.on('ready', () => (downSinceLastReady = false));
  redis.on('close', () => (downSinceLastReady = true));
  redis.on('error', () => (downSinceLastReady = true));

  const unavailable = (cause?: unknown) =>
    new AppError('QUEUE_UNAVAILABLE', 'The job queue (Redis) is unavailable; try again shortly', undefined, { cause });

  /** Waits briefly for the connection (a fresh process is still connecting); 503 when Redis is down. */
  async function ensureConnected(): Promise<void> {
    if (closed) throw unavailable();
    if (redis.status === 'ready') return;
    if (redis.status === 'end' || downSinceLastReady) throw unavailable();
    const waitMs = Math.min(timeoutMs, 500);
    const ok = await new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        redis.off('ready', onReady);
        resolve(v);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), waitMs);
      redis.on('ready', onReady);
    });
    if (!ok) throw unavailable();
  }

  /** Runs one Redis-backed step: bounded in time; connection failures become QUEUE_UNAVAILABLE. */
  async function call<T>(fn: () => Promise<T>): Promise<T> {
    await ensureConnected();
    try {
      return await withTimeout(fn(), timeoutMs, () => unavailable(new Error(`Redis did not answer within ${timeoutMs} ms`)));
    } catch (err) {
      if (isAppError(err)) throw err;
      throw unavailable(err);
    }
  }

  async function record(id: string): Promise<JobRecord | null> {
    return call(() => queue.get(id));
  }

  async function viewOf(rec: JobRecord): Promise<TrainingJobView | null> {
    const cancelRequested = rec.state === 'active' ? await call(() => queue.hasCancelFlag(rec.id)) : false;
    return toView(rec, cancelRequested);
  }

  async function find(id: string): Promise<TrainingJobView | null> {
    const rec = await record(id);
    if (rec) {
      const view = await viewOf(rec);
      if (view) return view;
    }
    return parseSnapshot(await call(() => queue.getCancelled(id)));
  }

  const notFound = (id: string) => new AppError('JOB_NOT_FOUND', `Training job ${JSON.stringify(id)} not found`);

  async function get(id: string): Promise<TrainingJobView> {
    if (typeof id !== 'string' || id.length === 0 || id.length > 128) throw notFound(String(id));
    const view = await find(id);
    if (!view) throw notFound(id);
    return view;
  }

  /** Failed jobs, split by whether they were cancelled, newest first, until `want` are found. */
  async function failedJobs(cancelled: boolean, want: number): Promise<TrainingJobView[]> {
    const out: TrainingJobView[] = [];
    const page = 100;
    for (let start = 0; out.length < want && start < 5000; start += page) {
      const recs = await call(() => queue.list(['failed'], start, start + page - 1));
      for (const r of recs) {
        const v = toView(r);
        if (v && (v.status === 'cancelled') === cancelled) out.push(v);
      }
      if (recs.length < page) break;
    }
    return out.slice(0, want);
  }

  async function cancelledSnapshots(): Promise<TrainingJobView[]> {
    const all = await call(() => queue.allCancelled());
    return [...all.values()].map(parseSnapshot).filter((v): v is TrainingJobView => v !== null);
  }

  async function list(filter: { status?: JobStatus; limit?: number }): Promise<TrainingJobView[]> {
    const limit = Math.max(1, Math.min(filter.limit ?? 20, 100));
    const status = filter.status;
    if (status !== undefined && !JOB_STATUSES.includes(status)) {
      throw new AppError('VALIDATION_FAILED', `status must be one of ${JOB_STATUSES.join(', ')}`);
    }
    const views: TrainingJobView[] = [];
    const fromTypes = async (types: typeof QUEUED_STATES) => {
      const recs = await call(() => queue.list(types, 0, limit - 1));
      for (const r of recs) {
        const v = await viewOf(r);
        if (v) views.push(v);
      }
    };
    if (!status || status === 'queued') await fromTypes(QUEUED_STATES);
    if (!status || status === 'running') await fromTypes(['active']);
    if (!status || status === 'completed') await fromTypes(['completed']);
    if (!status) await fromTypes(['failed']);
    if (status === 'failed') views.push(...(await failedJobs(false, limit)));
    if (status === 'cancelled') views.push(...(await failedJobs(true, limit)));
    if (!status || status === 'cancelled') views.push(...(await cancelledSnapshots()));
    const unique = new Map(views.map((v) => [v.id, v]));
    return [...unique.values()].sort(byNewest).slice(0, limit);
  }

  async function submit(body: TrainingJobRequest): Promise<TrainingJobView> {
    const req = resolveTrainingRequest(body, { modelName: config.defaultModelName });
    await opts.datasets.get(req.datasetId); // DATASET_NOT_FOUND
    const data: TrainingJobData = {
      v: 1,
      datasetId: req.datasetId,
      modelName: req.modelName,
      params: req.params,
      submittedAt: new Date().toISOString(),
    };
    const rec = await call(() => queue.add(data));
    return toView(rec)!;
  }

  async function waitUntilStopped(id: string, deadline: number): Promise<TrainingJobView | null> {
    let view = await find(id);
    while (view && !TERMINAL.has(view.status) && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 200);
        const off = queue.onJobEvent(id, done);
        function done() {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
      view = await find(id);
    }
    return view;
  }

  async function cancel(id: string): Promise<TrainingJobView> {
    const view = await get(id);
    if (TERMINAL.has(view.status)) {
      throw new AppError('JOB_FINISHED', `Training job ${id} has already ${view.status === 'cancelled' ? 'been cancelled' : view.status}`, {
        status: view.status,
      });
    }
    // The flag first: a queued job that a worker picks up in the meantime stops at its first check.
    await call(() => queue.setCancelFlag(id));
    if (view.status === 'queued') {
      const now = new Date().toISOString();
      const snapshot: TrainingJobView = {
        ...view,
        status: 'cancelled',
        error: { code: 'CANCELLED', message: 'Cancelled by request before it started' },
        lastError: null,
        finishedAt: now,
      };
      await call(() => queue.recordCancelled(id, JSON.stringify(snapshot)));
      if (await call(() => queue.remove(id))) return snapshot;
      // A worker took it between our read and the removal: it is running now and sees the flag.
      await call(() => queue.forgetCancelled(id));
    }
    const after = (await waitUntilStopped(id, Date.now() + cancelWaitMs)) ?? view;
    if (after.status === 'completed' || after.status === 'failed') {
      // It ended on its own before it saw the cancel.
      throw new AppError('JOB_FINISHED', `Training job ${id} ${after.status} before it could be cancelled`, { status: after.status });
    }
    return after;
  }

  async function* events(id: string, signal: AbortSignal): AsyncGenerator<TrainingJobEvent> {
    let view = await get(id);
    yield { type: 'status', data: view };
    let lastProgressAt = view.progress?.updatedAt;
    let lastEpochs = view.history.length;
    let lastStatus = view.status;
    let pending = false;
    let wake: (() => void) | undefined;
    const off = queue.onJobEvent(id, () => {
      pending = true;
      wake?.();
    });
    try {
      while (!TERMINAL.has(view.status) && !signal.aborted) {
        if (!pending) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, pollMs);
            const onAbort = () => done();
            signal.addEventListener('abort', onAbort, { once: true });
            wake = done;
            function done() {
              clearTimeout(timer);
              signal.removeEventListener('abort', onAbort);
              wake = undefined;
              resolve();
            }
          });
        }
        pending = false;
        if (signal.aborted) return;
        let next: TrainingJobView | null;
        try {
          next = await find(id);
        } catch {
          continue; // Redis hiccup: keep the stream open and try again on the next tick
        }
        if (!next) {
          // Removed without a snapshot (e.g. trimmed): nothing more will happen to it.
          return;
        }
        view = next;
        const progress = view.progress;
        if (progress && progress.updatedAt !== lastProgressAt && view.status === 'running') {
          lastProgressAt = progress.updatedAt;
          const epochMetrics = view.history.length > lastEpochs ? view.history[view.history.length - 1] : undefined;
          lastEpochs = view.history.length;
          yield { type: 'progress', data: { jobId: id, ...progress, ...(epochMetrics ? { epochMetrics } : {}) } };
        }
        if (view.status !== lastStatus) {
          lastStatus = view.status;
          if (!TERMINAL.has(view.status)) yield { type: 'status', data: view };
        }
      }
      if (TERMINAL.has(view.status)) yield { type: view.status as 'completed' | 'failed' | 'cancelled', data: view };
    } finally {
      off();
    }
  }

  return {
    submit,
    get,
    list,
    cancel,
    events,
    async datasetInUse(datasetId) {
      const recs = await call(() => queue.list([...QUEUED_STATES, 'active'], 0, -1));
      return recs.some((r) => r.data?.datasetId === datasetId);
    },
    async counts() {
      const [c, reasons, snapshots] = await Promise.all([
        call(() => queue.counts()),
        call(() => queue.failedReasons()),
        call(() => queue.allCancelled()),
      ]);
      const cancelledRunning = [...reasons.values()].filter((r) => r === CANCELLED_REASON).length;
      const n = (k: string) => c[k] ?? 0;
      return {
        queued: n('waiting') + n('delayed') + n('prioritized') + n('waiting-children'),
        running: n('active'),
        completed: n('completed'),
        failed: Math.max(0, n('failed') - cancelledRunning),
        cancelled: cancelledRunning + snapshots.size,
      };
    },
    async workers() {
      return call(() => queue.queue.getWorkersCount());
    },
    async close() {
      if (closed) return;
      closed = true;
      await queue.close();
      await closeRedis(redis);
    },
  };
}
