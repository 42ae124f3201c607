import { AppError } from '../errors.ts';
import { QUEUED_STATES, type ListableState } from '../queue/job-records.ts';
import { CANCELLED_REASON } from '../queue/names.ts';
import type { TrainingQueue } from '../queue/training-queue.ts';
import type { JobReader } from './job-reader.ts';
import { byNewest, JOB_STATUSES, parseSnapshot, toView, type JobStatus, type TrainingJobView } from './job-view.ts';

/** Listing and counting jobs by status, newest first. */
export interface JobListing {
  list(filter: { status?: JobStatus; limit?: number }): Promise<TrainingJobView[]>;
  counts(): Promise<Record<JobStatus, number>>;
  datasetInUse(datasetId: string): Promise<boolean>;
}

/** Failed jobs are scanned in pages of this many, at most MAX_SCAN deep, to split cancelled from failed. */
const PAGE = 100;
const MAX_SCAN = 5000;

export function createJobListing(queue: TrainingQueue, reader: JobReader): JobListing {
  /** Failed jobs, split by whether they were cancelled, newest first, until `want` are found. */
  async function failedJobs(cancelled: boolean, want: number): Promise<TrainingJobView[]> {
    const out: TrainingJobView[] = [];
    for (let start = 0; out.length < want && start < MAX_SCAN; start += PAGE) {
      const recs = await queue.list('failed', start, start + PAGE - 1);
      for (const r of recs) {
        const v = toView(r);
        if (v && (v.status === 'cancelled') === cancelled) out.push(v);
      }
      if (recs.length < PAGE) break;
    }
    return out.slice(0, want);
  }

  async function cancelledSnapshots(): Promise<TrainingJobView[]> {
    const all = await queue.allCancelled();
    return [...all.values()].map(parseSnapshot).filter((v): v is TrainingJobView => v !== null);
  }

  return {
    async list(filter) {
      const limit = Math.max(1, Math.min(filter.limit ?? 20, 100));
      const status = filter.status;
      if (status !== undefined && !JOB_STATUSES.includes(status)) {
        throw new AppError('VALIDATION_FAILED', `status must be one of ${JOB_STATUSES.join(', ')}`);
      }
      const views: TrainingJobView[] = [];
      // Evaluation jobs share the queue and have no view here: page on until `limit` training jobs are found.
      const fromStates = async (states: readonly ListableState[]) => {
        for (const state of states) {
          let found = 0;
          for (let start = 0; found < limit && start < MAX_SCAN; start += limit) {
            const recs = await queue.list(state, start, start + limit - 1);
            for (const r of recs) {
              const v = await reader.viewOf(r);
              if (v) {
                views.push(v);
                found++;
              }
            }
            if (recs.length < limit) break;
          }
        }
      };
      if (!status || status === 'queued') await fromStates(QUEUED_STATES);
      if (!status || status === 'running') await fromStates(['active']);
      if (!status || status === 'completed') await fromStates(['completed']);
      if (!status) await fromStates(['failed']);
      if (status === 'failed') views.push(...(await failedJobs(false, limit)));
      if (status === 'cancelled') views.push(...(await failedJobs(true, limit)));
      if (!status || status === 'cancelled') views.push(...(await cancelledSnapshots()));
      const unique = new Map(views.map((v) => [v.id, v]));
      return [...unique.values()].sort(byNewest).slice(0, limit);
    },

    async counts() {
      const [c, reasons, snapshots] = await Promise.all([queue.counts(), queue.failedReasons(), queue.allCancelled()]);
      const cancelledRunning = [...reasons.values()].filter((r) => r === CANCELLED_REASON).length;
      const n = (k: ListableState) => c[k] ?? 0;
      return {
        queued: n('waiting') + n('delayed') + n('prioritized') + n('waiting-children'),
        running: n('active'),
        completed: n('completed'),
        failed: Math.max(0, n('failed') - cancelledRunning),
        cancelled: cancelledRunning + snapshots.size,
      };
    },

    // Evaluation jobs too: they share the queue and carry the datasetId they read.
    async datasetInUse(datasetId) {
      for (const state of [...QUEUED_STATES, 'active'] as const) {
        const recs = await queue.list(state, 0, -1);
        if (recs.some((r) => r.data?.datasetId === datasetId)) return true;
      }
      return false;
    },
  };
}
