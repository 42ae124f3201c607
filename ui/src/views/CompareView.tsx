import { useEffect, useState } from 'preact/hooks';
import { describeError, getModel } from '../api.ts';
import { Chart } from '../components/Chart.tsx';
import { Notice } from '../components/Notice.tsx';
import { num } from '../format.ts';
import { rocData } from '../metrics-view.ts';
import type { ModelDetail, TrainingParams } from '../types.ts';
import { MetricsTable } from './VersionView.tsx';

/** Two versions side by side: test ROC curves overlaid, metric deltas, what differed in training. */
export function CompareView({ name, a, b }: { name: string; a: number; b: number }) {
  const [detail, setDetail] = useState<ModelDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    getModel(name).then(setDetail, (err) => setError(describeError(err)));
  }, [name]);

  if (error) return <Notice kind="error">{error}</Notice>;
  if (!detail) return <p class="muted">Loading…</p>;
  const va = detail.versions.find((v) => v.version === a);
  const vb = detail.versions.find((v) => v.version === b);
  const pick = (which: 'a' | 'b', value: string) => {
    location.hash = `#/compare/${name}/${which === 'a' ? value : a}/${which === 'b' ? value : b}`;
  };
  const ta = va?.metadata.metrics?.test;
  const tb = vb?.metadata.metrics?.test;
  const pa = (va?.metadata.params ?? {}) as Partial<TrainingParams>;
  const pb = (vb?.metadata.params ?? {}) as Partial<TrainingParams>;
  const keys = [...new Set([...Object.keys(pa), ...Object.keys(pb)])] as (keyof TrainingParams)[];
  const differing = keys.filter((k) => JSON.stringify(pa[k]) !== JSON.stringify(pb[k]));
  const sameData = va?.metadata.dataset?.id === vb?.metadata.dataset?.id;

  return (
    <div class="view" data-testid="compare-view">
      <p>
        <a href={`#/models/${name}`}>← {name} versions</a>
      </p>
      <h1>Compare {name} versions</h1>
      <div class="fields">
        {(['a', 'b'] as const).map((w) => (
          <div class="field" key={w}>
            <label for={`cmp-${w}`}>{w === 'a' ? 'Baseline' : 'Candidate'}</label>
            <select id={`cmp-${w}`} value={String(w === 'a' ? a : b)} onChange={(e) => pick(w, e.currentTarget.value)}>
              {detail.versions.map((v) => (
                <option key={v.version} value={v.version}>
                  v{v.version}
                  {v.aliases.length ? ` (${v.aliases.join(', ')})` : ''}
                </option>
              ))}
            </select>
          </div>
        ))}
      </div>
      {(!va || !vb) && <Notice kind="error">One of the versions does not exist (any more).</Notice>}
      {!sameData && va && vb && (
        <Notice kind="info">
          Different datasets ({va.metadata.dataset?.name ?? '?'} and {vb.metadata.dataset?.name ?? '?'}): the test metrics come from different
          images, so differences are only indicative.
        </Notice>
      )}
      <div class="grid2">
        <section class="card" aria-labelledby="cmp-metrics">
          <h2 id="cmp-metrics">
            Test metrics, v{a} → v{b}
          </h2>
          <MetricsTable columns={[{ label: `v${a}`, m: ta }, { label: `v${b}`, m: tb }]} deltas />
        </section>
        <section class="card" aria-labelledby="cmp-roc">
          <h2 id="cmp-roc">ROC curves (test)</h2>
          <Chart
            testId="compare-roc"
            title={`Test ROC of v${a} (AUC ${num(ta?.auc)}) and v${b} (AUC ${num(tb?.auc)})`}
            xLabel="false-positive rate"
            yLabel="true-positive rate"
            xRange={[0, 1]}
            yRange={[0, 1]}
            diagonal
            height={280}
            data={rocData([ta?.roc, tb?.roc])}
            series={[
              { label: `v${a}`, stroke: '#868e96', dash: [6, 4] },
              { label: `v${b}`, stroke: '#1f5fa8' },
            ]}
          />
        </section>
      </div>
      <section class="card" aria-labelledby="cmp-params">
        <h2 id="cmp-params">What differed in training</h2>
        {differing.length === 0 ? (
          <p class="muted">Same training parameters{sameData ? ' and dataset' : ''}.</p>
        ) : (
          <table class="compact">
            <thead>
              <tr>
                <th scope="col">Parameter</th>
                <th scope="col">v{a}</th>
                <th scope="col">v{b}</th>
              </tr>
            </thead>
            <tbody>
              {differing.map((k) => (
                <tr key={k}>
                  <th scope="row">{k}</th>
                  <td class="mono">{JSON.stringify(pa[k])}</td>
                  <td class="mono">{JSON.stringify(pb[k])}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
