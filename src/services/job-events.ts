import type { Logger } from '../domain/logger.ts';
import type { EpochMetrics } from '../ml/types.ts';
import type { TrainingQueue } from '../queue/training-queue.ts';
import type { JobReader } from './job-reader.ts';
import { TERMINAL, type ProgressView, type TrainingJobView } from './job-view.ts';

export type TrainingJobEvent =
  | { readonly type: 'status'; readonly data: TrainingJobView }
  | { readonly type: 'progress'; readonly data: ProgressView & { readonly jobId: string; readonly epochMetrics?: EpochMetrics } }
  | { readonly type: 'completed' | 'failed' | 'cancelled'; readonly data: TrainingJobView };

/**
 * A job's status and progress as a stream of events (the SSE route's source): the current status
 * first, then a progress event whenever the progress changes, a status event when the status
 * does, and the final state last. Woken by queue events and re-read at least every `pollMs`.
 */
export function createJobEvents(
  queue: TrainingQueue,
  reader: JobReader,
  opts: { pollMs: number; log: Pick<Logger, 'warn'> },
): (id: string, signal: AbortSignal) => AsyncGenerator<TrainingJobEvent> {
  const { pollMs, log } = opts;
  return async function* events(id, signal) {
    let view = await reader.get(id);
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
    let failing = false;
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
          next = await reader.find(id);
          if (failing) log.warn({ jobId: id }, 'job events: reading the job works again');
          failing = false;
        } catch (err) {
          // Redis hiccup: keep the stream open and try again on the next tick (logged once per run of failures).
          if (!failing) log.warn({ jobId: id, err: err instanceof Error ? err.message : String(err) }, 'job events: could not read the job; retrying');
          failing = true;
          continue;
        }
        // Removed without a snapshot (e.g. trimmed): nothing more will happen to it.
        if (!next) return;
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
  };
}
