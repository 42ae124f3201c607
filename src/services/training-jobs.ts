import type { Config } from '../config.ts';
import { silentLogger, type Logger } from '../domain/logger.ts';
import { exceedsMemoryBudget } from '../domain/training-memory.ts';
import { resolveTrainingRequest } from '../domain/training-params.ts';
import { AppError } from '../errors.ts';
import type { TrainingJobData } from '../queue/names.ts';
import type { TrainingQueue } from '../queue/training-queue.ts';
import { createJobCancel } from './job-cancel.ts';
import { createJobEvents, type TrainingJobEvent } from './job-events.ts';
import { createJobListing } from './job-listing.ts';
import { createJobReader } from './job-reader.ts';
import { toView, type JobStatus, type TrainingJobView } from './job-view.ts';

/**
 * Training jobs as the API sees them: submit (validated, refused when it cannot fit in memory),
 * read, list, cancel and follow. The queue (src/queue/training-queue.ts) holds the jobs; views,
 * listing, the cancel protocol and the event stream live in the job-*.ts modules beside this one.
 */

export type { JobError, JobStatus, ProgressView, TrainingJobView } from './job-view.ts';
export { JOB_STATUSES, parseFailedReason, statusOf, toView } from './job-view.ts';
export type { TrainingJobEvent } from './job-events.ts';

/** The request body of POST /v1/training-jobs (validated strictly by resolveTrainingRequest). */
export type TrainingJobRequest = unknown;

export interface TrainingJobService {
  /**
   * Validates the parameters (VALIDATION_FAILED), that the dataset exists (DATASET_NOT_FOUND) and
   * that the job fits the memory budget (TRAINING_TOO_LARGE); QUEUE_UNAVAILABLE at once when Redis is down.
   */
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
  /** The job queue (createTrainingQueue); the service closes it. */
  readonly queue: TrainingQueue;
  /** Anything with get(id) that throws DATASET_NOT_FOUND (the dataset store or service). */
  readonly datasets: { get(id: string): Promise<unknown> };
  /** How long cancel() waits for a running job to stop before answering (default 5000 ms). */
  readonly cancelWaitMs?: number;
  /** events(): re-read the job at least this often even without a queue event (default 1000 ms). */
  readonly pollMs?: number;
  readonly logger?: Logger;
}

export function createTrainingJobService(opts: TrainingJobServiceOptions): TrainingJobService {
  const { config, queue } = opts;
  const log = opts.logger ?? silentLogger;
  const reader = createJobReader(queue);
  const listing = createJobListing(queue, reader);
  const cancel = createJobCancel(queue, reader, opts.cancelWaitMs ?? 5000);
  const events = createJobEvents(queue, reader, { pollMs: opts.pollMs ?? 1000, log });
  let closed = false;

  async function submit(body: TrainingJobRequest): Promise<TrainingJobView> {
    const req = resolveTrainingRequest(body, { modelName: config.defaultModelName });
    const budgetBytes = config.worker.memoryBudgetBytes;
    const tooLarge = exceedsMemoryBudget(req.params, budgetBytes);
    if (tooLarge) throw new AppError('TRAINING_TOO_LARGE', tooLarge.message, { estimatedBytes: tooLarge.estimatedBytes, budgetBytes });
    await opts.datasets.get(req.datasetId); // DATASET_NOT_FOUND
    const data: TrainingJobData = {
      v: 1,
      datasetId: req.datasetId,
      modelName: req.modelName,
      params: req.params,
      submittedAt: new Date().toISOString(),
    };
    return toView(await queue.add(data))!;
  }

  return {
    submit,
    get: (id) => reader.get(id),
    list: (filter) => listing.list(filter),
    cancel,
    events,
    datasetInUse: (datasetId) => listing.datasetInUse(datasetId),
    counts: () => listing.counts(),
    workers: () => queue.workers(),
    async close() {
      if (closed) return;
      closed = true;
      await queue.close();
    },
  };
}
