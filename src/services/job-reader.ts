import { isJobId } from '../domain/ids.ts';
import { AppError } from '../errors.ts';
import type { JobRecord } from '../queue/job-records.ts';
import type { TrainingQueue } from '../queue/training-queue.ts';
import { parseSnapshot, toView, type TrainingJobView } from './job-view.ts';

/** Reads one job as the API shows it: the queue's record, or the snapshot of a job cancelled while queued. */
export interface JobReader {
  viewOf(rec: JobRecord): Promise<TrainingJobView | null>;
  /** null when there is no such job (including ids this service never issues). */
  find(id: string): Promise<TrainingJobView | null>;
  /** JOB_NOT_FOUND when there is no such job. */
  get(id: string): Promise<TrainingJobView>;
}

export const jobNotFound = (id: string): AppError =>
  // Only an id of the shape this service issues is echoed; anything else is never put in a message.
  new AppError('JOB_NOT_FOUND', isJobId(id) ? `Training job "${id}" not found` : 'Training job not found (not a job id)');

export function createJobReader(queue: TrainingQueue): JobReader {
  async function viewOf(rec: JobRecord): Promise<TrainingJobView | null> {
    const cancelRequested = rec.state === 'active' ? await queue.hasCancelFlag(rec.id) : false;
    return toView(rec, cancelRequested);
  }
  async function find(id: string): Promise<TrainingJobView | null> {
    if (!isJobId(id)) return null;
    const rec = await queue.get(id);
    if (rec) {
      const view = await viewOf(rec);
      if (view) return view;
    }
    return parseSnapshot(await queue.getCancelled(id));
  }
  return {
    viewOf,
    find,
    async get(id) {
      const view = await find(id);
      if (!view) throw jobNotFound(id);
      return view;
    },
  };
}
