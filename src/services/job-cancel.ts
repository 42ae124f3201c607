import { AppError } from '../errors.ts';
import type { TrainingQueue } from '../queue/training-queue.ts';
import type { JobReader } from './job-reader.ts';
import { TERMINAL, type TrainingJobView } from './job-view.ts';

/**
 * The cancel protocol. The cancel flag is set first, so a queued job a worker picks up meanwhile
 * stops at its first check. A queued job is then recorded as cancelled and removed; if a worker
 * took it in between, it is running and sees the flag. A running job stops within one batch: the
 * answer waits up to `waitMs` for it.
 */
export function createJobCancel(queue: TrainingQueue, reader: JobReader, waitMs: number): (id: string) => Promise<TrainingJobView> {
  async function waitUntilStopped(id: string, deadline: number): Promise<TrainingJobView | null> {
    let view = await reader.find(id);
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
      view = await reader.find(id);
    }
    return view;
  }

  return async function cancel(id) {
    const view = await reader.get(id);
    if (TERMINAL.has(view.status)) {
      throw new AppError('JOB_FINISHED', `Training job ${id} has already ${view.status === 'cancelled' ? 'been cancelled' : view.status}`, {
        status: view.status,
      });
    }
    await queue.setCancelFlag(id);
    if (view.status === 'queued') {
      const snapshot: TrainingJobView = {
        ...view,
        status: 'cancelled',
        error: { code: 'CANCELLED', message: 'Cancelled by request before it started' },
        lastError: null,
        finishedAt: new Date().toISOString(),
      };
      await queue.recordCancelled(id, JSON.stringify(snapshot));
      if (await queue.remove(id)) return snapshot;
      await queue.forgetCancelled(id);
    }
    const after = (await waitUntilStopped(id, Date.now() + waitMs)) ?? view;
    if (after.status === 'completed' || after.status === 'failed') {
      // It ended on its own before it saw the cancel.
      throw new AppError('JOB_FINISHED', `Training job ${id} ${after.status} before it could be cancelled`, { status: after.status });
    }
    return after;
  };
}
