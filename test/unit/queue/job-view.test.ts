import { describe, expect, it } from 'vitest';
import { CANCELLED_REASON, INTERRUPTED_REASON, type TrainingJobData } from '../../../src/queue/names.ts';
import { DEFAULT_TRAINING_PARAMS } from '../../../src/domain/training-params.ts';
import type { JobRecord, QueueState } from '../../../src/queue/job-records.ts';
import { parseFailedReason, statusOf, toView } from '../../../src/services/training-jobs.ts';

const data: TrainingJobData = {
  v: 1,
  datasetId: 'ds_abcdefghijklmnop',
  modelName: 'chestxraynet',
  params: DEFAULT_TRAINING_PARAMS,
  submittedAt: '2026-01-01T00:00:00.000Z',
};
const rec = (state: QueueState, extra: Partial<JobRecord> = {}): JobRecord => ({
  id: 'job_aaaaaaaaaaaaaaaa',
  state,
  data,
  progress: null,
  result: null,
  failedReason: null,
  attemptsMade: 0,
  attemptsStarted: 0,
  maxAttempts: 3,
  createdAt: Date.parse('2026-01-01T00:00:00Z'),
  processedOn: null,
  finishedOn: null,
  ...extra,
});

describe('job status and view', () => {
  it('maps BullMQ states to queued | running | completed | failed | cancelled', () => {
    expect(['waiting', 'delayed', 'prioritized', 'waiting-children'].map((s) => statusOf(rec(s as QueueState)))).toEqual([
      'queued',
      'queued',
      'queued',
      'queued',
    ]);
    expect(statusOf(rec('active'))).toBe('running');
    expect(statusOf(rec('completed'))).toBe('completed');
    expect(statusOf(rec('failed', { failedReason: 'DATASET_TOO_SMALL: x' }))).toBe('failed');
    expect(statusOf(rec('failed', { failedReason: CANCELLED_REASON }))).toBe('cancelled');
    expect(statusOf(rec('unknown'))).toBeNull();
  });

  it('turns failure reasons into codes', () => {
    expect(parseFailedReason('DATASET_NOT_FOUND: dataset "x" not found')).toEqual({ code: 'DATASET_NOT_FOUND', message: 'dataset "x" not found' });
    expect(parseFailedReason(CANCELLED_REASON).code).toBe('CANCELLED');
    expect(parseFailedReason(INTERRUPTED_REASON).code).toBe('WORKER_INTERRUPTED');
    expect(parseFailedReason('job stalled more than allowable limit').code).toBe('WORKER_LOST');
    expect(parseFailedReason('ENOSPC: no space left on device')).toMatchObject({ code: 'ENOSPC' });
    expect(parseFailedReason('something odd')).toEqual({ code: 'TRAINING_FAILED', message: 'something odd' });
  });

  it('shows the previous attempt\'s failure while a retry is pending, and the final error only when finished', () => {
    const retrying = toView(rec('delayed', { attemptsMade: 1, failedReason: INTERRUPTED_REASON, processedOn: 1, finishedOn: 2 }))!;
    expect(retrying).toMatchObject({ status: 'queued', error: null, lastError: { code: 'WORKER_INTERRUPTED' }, attempts: { made: 1, max: 3 }, finishedAt: null });
    const failed = toView(rec('failed', { attemptsMade: 1, failedReason: 'DATASET_ONE_CLASS: one class', finishedOn: 5 }))!;
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'DATASET_ONE_CLASS' }, lastError: null });
    expect(failed.finishedAt).toBe(new Date(5).toISOString());
    const running = toView(rec('active', { processedOn: 3 }), true)!;
    expect(running).toMatchObject({ status: 'running', cancelRequested: true, result: null, history: [] });
    expect(toView(rec('waiting'), true)!.cancelRequested).toBe(false);
  });
});
