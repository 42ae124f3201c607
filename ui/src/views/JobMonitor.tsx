import { useEffect, useMemo, useState } from 'preact/hooks';
import { auth, canAdmin, cancelJob, describeError, followJob } from '../api.ts';
import { Chart } from '../components/Chart.tsx';
import { Notice } from '../components/Notice.tsx';
import { duration, num, pct } from '../format.ts';
import { useStore } from '../store.ts';
import type { EpochMetrics, Job, Progress } from '../types.ts';

interface CurvePoint {
  x: number;
  batchLoss?: number;
  batchAcc?: number;
  loss?: number;
  acc?: number;
  valLoss?: number;
  valAcc?: number;
}

type Curves = Map<string, CurvePoint>;

function merge(curves: Curves, p: CurvePoint): Curves {
  const key = p.x.toFixed(4);
  const next = new Map(curves);
  next.set(key, { ...curves.get(key), ...p });
  return next;
}

function withEpochs(curves: Curves, history: readonly EpochMetrics[]): Curves {
  let c = curves;
  for (const h of history) c = merge(c, { x: h.epoch, loss: h.loss, acc: h.accuracy, valLoss: h.valLoss, valAcc: h.valAccuracy });
  return c;
}

/** Fractional epochs: batch 40 of 265 in epoch 2 is x = 1.15. */
function withBatch(curves: Curves, p: Progress): Curves {
  if (p.phase !== 'training' || p.epoch < 1 || p.batchesPerEpoch <= 0 || p.loss === null) return curves;
  return merge(curves, { x: p.epoch - 1 + p.batch / p.batchesPerEpoch, batchLoss: p.loss, batchAcc: p.accuracy ?? undefined });
}

const ACTIVE = new Set(['queued', 'running']);

/** One job live: its event stream drawn as loss and accuracy curves, speed, ETA, and cancel. */
export function JobMonitor({ jobId, onChange }: { jobId: string; onChange?: (job: Job) => void }) {
  const admin = canAdmin(useStore(auth));
  const [job, setJob] = useState<Job | null>(null);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [curves, setCurves] = useState<Curves>(new Map());
  const [error, setError] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);

  useEffect(() => {
    setJob(null);
    setProgress(null);
    setCurves(new Map());
    setError(null);
    const ctrl = new AbortController();
    followJob(
      jobId,
      (e) => {
        if (e.type === 'progress') {
          setProgress(e.progress);
          setCurves((c) => {
            const b = withBatch(c, e.progress);
            return e.progress.epochMetrics ? withEpochs(b, [e.progress.epochMetrics]) : b;
          });
        } else {
          setJob(e.job);
          if (e.job.progress) setProgress(e.job.progress);
          setCurves((c) => withEpochs(c, e.job.history));
          onChange?.(e.job);
        }
      },
      ctrl.signal,
    ).catch((err: unknown) => setError(describeError(err)));
    return () => ctrl.abort();
    // onChange is a notification only; the stream follows the job id.
  }, [jobId]);

  const points = useMemo(() => [...curves.values()].sort((a, b) => a.x - b.x), [curves]);
  const lossData = useMemo(
    () => [points.map((p) => p.x), points.map((p) => p.batchLoss ?? null), points.map((p) => p.loss ?? null), points.map((p) => p.valLoss ?? null)],
    [points],
  );
  const accData = useMemo(
    () => [points.map((p) => p.x), points.map((p) => p.batchAcc ?? null), points.map((p) => p.acc ?? null), points.map((p) => p.valAcc ?? null)],
    [points],
  );

  const cancel = async () => {
    setCancelling(true);
    try {
      const j = await cancelJob(jobId);
      setJob(j);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setCancelling(false);
    }
  };

  const p = progress;
  const status = job?.status;
  const overall = p && p.epochs ? Math.min(1, (Math.max(0, p.epoch - 1) + (p.batchesPerEpoch ? p.batch / p.batchesPerEpoch : 0)) / p.epochs) : 0;
  return (
    <section class="card" aria-labelledby="monitor-title" data-testid="job-monitor" data-status={status ?? 'connecting'}>
      <div class="card-head">
        <h2 id="monitor-title">
          Job <span class="mono">{jobId.slice(0, 8)}</span> {status && <span class={`badge status-${status}`}>{status}</span>}
          {job?.cancelRequested && status === 'running' && <span class="badge">stopping</span>}
        </h2>
        {status && ACTIVE.has(status) && (
          <button type="button" class="danger" disabled={!admin || cancelling || job?.cancelRequested} title={admin ? undefined : 'needs an admin key'} onClick={() => void cancel()}>
            {cancelling ? 'Cancelling…' : 'Cancel job'}
          </button>
        )}
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      {status === 'queued' && (
        <p class="muted">
          Queued: waiting for a free worker.{job?.lastError && ` The previous attempt failed (${job.lastError.code}: ${job.lastError.message}); it will be retried.`}
        </p>
      )}
      {p && status !== 'queued' && (
        <>
          <dl class="stats" aria-label="Progress">
            <div>
              <dt>Phase</dt>
              <dd>{status === 'completed' || status === 'failed' || status === 'cancelled' ? status : p.phase}</dd>
            </div>
            <div>
              <dt>Epoch</dt>
              <dd>
                {p.epoch}/{p.epochs}
              </dd>
            </div>
            <div>
              <dt>Batch</dt>
              <dd>
                {p.batch}/{p.batchesPerEpoch}
              </dd>
            </div>
            <div>
              <dt>Loss</dt>
              <dd>{num(p.loss)}</dd>
            </div>
            <div>
              <dt>Accuracy</dt>
              <dd>{pct(p.accuracy)}</dd>
            </div>
            <div>
              <dt>Val. loss</dt>
              <dd>{num(p.valLoss)}</dd>
            </div>
            <div>
              <dt>Val. accuracy</dt>
              <dd>{pct(p.valAccuracy)}</dd>
            </div>
            <div>
              <dt>Images/s</dt>
              <dd data-testid="images-per-second">{num(p.imagesPerSecond, 1)}</dd>
            </div>
            <div>
              <dt>ETA</dt>
              <dd data-testid="eta">{status === 'running' ? duration(p.etaSeconds) : '–'}</dd>
            </div>
          </dl>
          <label class="sr-only" for="job-progress">
            Training progress
          </label>
          <progress id="job-progress" class="wide" max={1} value={status === 'completed' ? 1 : overall} />
        </>
      )}
      {points.length > 0 ? (
        <div class="charts">
          <Chart
            testId="loss-chart"
            title="Loss: running mean over the epoch's batches, per epoch, and on validation"
            xLabel="epoch"
            yLabel="loss"
            data={lossData}
            series={[
              { label: 'train (batches)', stroke: '#7aa6d6', width: 1.5 },
              { label: 'train (epoch)', stroke: '#1f5fa8', points: true },
              { label: 'validation', stroke: '#d9480f', dash: [6, 4], points: true },
            ]}
          />
          <Chart
            testId="accuracy-chart"
            title="Accuracy: running mean over the epoch's batches, per epoch, and on validation"
            xLabel="epoch"
            yLabel="accuracy"
            yRange={[0, 1]}
            data={accData}
            series={[
              { label: 'train (batches)', stroke: '#8fc79a', width: 1.5 },
              { label: 'train (epoch)', stroke: '#2b8a3e', points: true },
              { label: 'validation', stroke: '#d9480f', dash: [6, 4], points: true },
            ]}
          />
        </div>
      ) : (
        status === 'running' && <p class="muted">Waiting for the first batch…</p>
      )}
      {status === 'completed' && job?.result && (
        <Notice kind="ok" testId="job-result">
          Published{' '}
          <a href={`#/models/${job.result.model.name}/${job.result.model.version}`}>
            {job.result.model.name} v{job.result.model.version}
          </a>
          : test AUC {num(job.result.metrics.test.auc)}, sensitivity {pct(job.result.metrics.test.sensitivity)}, specificity{' '}
          {pct(job.result.metrics.test.specificity)} at threshold {num(job.result.threshold)} (best epoch {job.result.bestEpoch}
          {job.result.stoppedEarly ? ', stopped early' : ''}), in {duration(job.result.seconds)}.
        </Notice>
      )}
      {status === 'failed' && job?.error && (
        <Notice kind="error" testId="job-failure">
          Failed: {job.error.message} ({job.error.code})
        </Notice>
      )}
      {status === 'cancelled' && (
        <Notice kind="info" testId="job-cancelled">
          Cancelled{job?.error ? `: ${job.error.message}` : ''}. Nothing was published.
        </Notice>
      )}
    </section>
  );
}
