import { useEffect, useState } from 'preact/hooks';
import { describeError, getVersion } from '../api.ts';
import { Chart } from '../components/Chart.tsx';
import { ConfusionMatrix } from '../components/ConfusionMatrix.tsx';
import { Notice } from '../components/Notice.tsx';
import { duration, num, pct, when } from '../format.ts';
import { METRIC_ROWS, rocData } from '../metrics-view.ts';
import type { ModelVersion, SplitMetrics } from '../types.ts';
import { EvaluationsSection, ModelCardSection } from './VersionCard.tsx';

/** One version: metrics, ROC, confusion matrices, training curves, data and parameters. */
export function VersionView({ name, version }: { name: string; version: number }) {
  const [v, setV] = useState<ModelVersion | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setV(null);
    getVersion(name, version).then(setV, (err) => setError(describeError(err)));
  }, [name, version]);

  if (error) return <Notice kind="error">{error}</Notice>;
  if (!v) return <p class="muted">Loading…</p>;
  const m = v.metadata;
  const classNames = m.classNames ?? ['negative', 'positive'];
  const history = m.history ?? [];
  const val = m.metrics?.validation;
  const test = m.metrics?.test;
  return (
    <div class="view" data-testid="version-view">
      <p>
        <a href={`#/models/${name}`}>← {name} versions</a>
      </p>
      <h1>
        {name} v{version}{' '}
        {v.aliases.map((a) => (
          <span key={a} class={`badge alias${a === 'production' ? ' alias-production' : ''}`}>
            {a}
          </span>
        ))}
      </h1>
      <dl class="facts">
        <dt>Trained</dt>
        <dd>
          {when(v.createdAt)}
          {m.timings?.totalSeconds !== undefined && ` in ${duration(m.timings.totalSeconds)}`}
        </dd>
        <dt>Dataset</dt>
        <dd>
          {m.dataset?.name ?? '–'} <span class="mono muted">{m.dataset?.id}</span>
          {m.dataset?.byClass && ` (${Object.entries(m.dataset.byClass).map(([c, n]) => `${c} ${n}`).join(' · ')})`}
        </dd>
        <dt>Split</dt>
        <dd>
          {m.split ? `train ${m.split.train}, validation ${m.split.validation}, test ${m.split.test}` : '–'}
          {m.split?.method && <span class="muted"> ({m.split.method})</span>}
        </dd>
        <dt>Decision threshold</dt>
        <dd>
          {num(m.threshold)} <span class="muted">(chosen on validation: Youden's J)</span>
        </dd>
        <dt>Best epoch</dt>
        <dd>
          {m.bestEpoch ?? '–'} of {history.length}
          {m.stoppedEarly ? ' (stopped early)' : ''}
        </dd>
        <dt>Parameters</dt>
        <dd>{m.parameterCount?.toLocaleString() ?? '–'}</dd>
        <dt>Engine</dt>
        <dd>{m.engine?.description ?? m.engine?.name ?? '–'}</dd>
      </dl>

      <div class="grid2">
        <section class="card" aria-labelledby="metrics-title">
          <h2 id="metrics-title">Metrics</h2>
          <MetricsTable columns={[{ label: 'Validation', m: val }, { label: 'Test', m: test }]} />
        </section>
        <section class="card" aria-labelledby="roc-title">
          <h2 id="roc-title">ROC curve</h2>
          {test?.roc || val?.roc ? (
            <Chart
              testId="roc-chart"
              title={`ROC: true-positive vs false-positive rate over every threshold (test AUC ${num(test?.auc)})`}
              xLabel="false-positive rate"
              yLabel="true-positive rate"
              xRange={[0, 1]}
              yRange={[0, 1]}
              diagonal
              height={280}
              data={rocData([test?.roc, val?.roc])}
              series={[
                { label: 'test', stroke: '#1f5fa8' },
                { label: 'validation', stroke: '#d9480f', dash: [6, 4] },
              ]}
            />
          ) : (
            <p class="muted">This version's metadata holds no ROC points.</p>
          )}
        </section>
      </div>

      <div class="grid2">
        {test && <ConfusionMatrix confusion={test.confusion} classNames={classNames} caption={`Test split (${test.count} images) at threshold ${num(test.threshold)}`} />}
        {val && <ConfusionMatrix confusion={val.confusion} classNames={classNames} caption={`Validation split (${val.count} images)`} />}
      </div>

      <section class="card" aria-labelledby="curves-title">
        <h2 id="curves-title">Training curves</h2>
        {history.length ? (
          <div class="charts">
            <Chart
              testId="version-loss-chart"
              title={`Loss per epoch (weights kept from epoch ${m.bestEpoch ?? '?'}, the lowest validation loss)`}
              xLabel="epoch"
              yLabel="loss"
              data={[history.map((h) => h.epoch), history.map((h) => h.loss), history.map((h) => h.valLoss)]}
              series={[
                { label: 'train', stroke: '#1f5fa8', points: true },
                { label: 'validation', stroke: '#d9480f', dash: [6, 4], points: true },
              ]}
            />
            <Chart
              title="Accuracy per epoch"
              xLabel="epoch"
              yLabel="accuracy"
              yRange={[0, 1]}
              data={[history.map((h) => h.epoch), history.map((h) => h.accuracy), history.map((h) => h.valAccuracy)]}
              series={[
                { label: 'train', stroke: '#2b8a3e', points: true },
                { label: 'validation', stroke: '#d9480f', dash: [6, 4], points: true },
              ]}
            />
          </div>
        ) : (
          <p class="muted">No per-epoch history recorded.</p>
        )}
      </section>

      <ModelCardSection name={name} version={version} />
      <EvaluationsSection name={name} version={version} />

      <section class="card" aria-labelledby="metadata-title">
        <h2 id="metadata-title">Metadata</h2>
        <details>
          <summary>All metadata (JSON)</summary>
          <pre class="json">{JSON.stringify(m, (k, val: unknown) => (k === 'roc' && Array.isArray(val) ? `[${val.length} points]` : val), 2)}</pre>
        </details>
      </section>
    </div>
  );
}

export function MetricsTable({ columns, deltas }: { columns: { label: string; m?: SplitMetrics }[]; deltas?: boolean }) {
  return (
    <table class="metrics" data-testid="metrics-table">
      <thead>
        <tr>
          <th scope="col">Metric</th>
          {columns.map((c) => (
            <th key={c.label} scope="col">
              {c.label}
            </th>
          ))}
          {deltas && <th scope="col">Change</th>}
        </tr>
      </thead>
      <tbody>
        {METRIC_ROWS.map((r) => {
          const vals = columns.map((c) => c.m?.[r.key] as number | undefined);
          const d = deltas && vals[0] !== undefined && vals[1] !== undefined ? vals[1] - vals[0] : undefined;
          return (
            <tr key={r.key}>
              <th scope="row">{r.label}</th>
              {vals.map((x, i) => (
                <td key={i}>{r.key === 'count' ? (x ?? '–') : r.percent ? pct(x) : num(x)}</td>
              ))}
              {deltas && (
                <td class={d === undefined || r.key === 'count' || r.key === 'threshold' ? '' : d > 0 ? 'better' : d < 0 ? 'worse' : ''}>
                  {d === undefined ? '–' : r.key === 'count' ? (d > 0 ? `+${d}` : String(d)) : `${d > 0 ? '+' : d < 0 ? '\u2212' : '±'}${r.percent ? `${Math.abs(d * 100).toFixed(1)} pts` : Math.abs(d).toFixed(3)}`}
                </td>
              )}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
