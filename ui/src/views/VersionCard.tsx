import { useEffect, useRef, useState } from 'preact/hooks';
import { auth, canAdmin, describeError, getCard, getEvaluation, listDatasets, listEvaluations, startEvaluation } from '../api.ts';
import { Notice } from '../components/Notice.tsx';
import { num, pct, when } from '../format.ts';
import { useStore } from '../store.ts';
import type { CardEvaluation, CardValue, Dataset, Evaluation, ModelCard } from '../types.ts';

const interval = (v: CardValue | null | undefined, percent: boolean) => {
  if (!v) return '–';
  const f = percent ? (x: number) => pct(x) : (x: number) => num(x);
  return v.low !== null && v.high !== null ? `${f(v.value)} (95% CI ${f(v.low)}–${f(v.high)})` : f(v.value);
};

/** The version's model card (GET .../card): intended use, data, internal evaluation, operating point, limitations. */
export function ModelCardSection({ name, version }: { name: string; version: number }) {
  const [card, setCard] = useState<ModelCard | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setCard(null);
    setError(null);
    getCard(name, version).then(setCard, (err) => setError(describeError(err)));
  }, [name, version]);

  return (
    <section class="card" aria-labelledby="card-title" data-testid="model-card">
      <h2 id="card-title">Model card</h2>
      {error && <Notice kind="error">Model card not available: {error}</Notice>}
      {!card && !error && <p class="muted">Loading the model card…</p>}
      {card && (
        <>
          <dl class="facts">
            <dt>Intended use</dt>
            <dd data-testid="card-use">{card.intendedUse.use}</dd>
            <dt>Not for</dt>
            <dd>{card.intendedUse.notFor}</dd>
            <dt>Before local use</dt>
            <dd>{card.intendedUse.localValidation}</dd>
            <dt>Training data</dt>
            <dd>
              {card.trainingData.dataset.name ?? 'not recorded'}
              {card.trainingData.dataset.images !== null && ` (${card.trainingData.dataset.images} images)`}; {card.trainingData.split.description}
            </dd>
            <dt>Operating point</dt>
            <dd>
              threshold {num(card.operatingPoint.threshold)}
              {card.operatingPoint.policy && ` (${card.operatingPoint.policy})`}
              {card.operatingPoint.validationSensitivity !== null &&
                `; validation sensitivity ${pct(card.operatingPoint.validationSensitivity)}, specificity ${pct(card.operatingPoint.validationSpecificity)}`}
            </dd>
            <dt>Calibration</dt>
            <dd>{card.calibration.method ? `${card.calibration.method}${card.calibration.fittedOn ? ` on ${card.calibration.fittedOn}` : ''}` : 'none recorded'}</dd>
          </dl>
          <div class="table-wrap">
            <table class="metrics" data-testid="card-internal">
              <caption>Internal evaluation with 95% intervals. {card.internalEvaluation.note}</caption>
              <thead>
                <tr>
                  <th scope="col">Metric</th>
                  <th scope="col">Validation</th>
                  <th scope="col">Test</th>
                </tr>
              </thead>
              <tbody>
                {(
                  [
                    ['ROC AUC', 'auc', false],
                    ['Sensitivity', 'sensitivity', true],
                    ['Specificity', 'specificity', true],
                    ['Accuracy', 'accuracy', true],
                  ] as const
                ).map(([label, k, percent]) => (
                  <tr key={k}>
                    <th scope="row">{label}</th>
                    {[card.internalEvaluation.validation, card.internalEvaluation.test].map((e: CardEvaluation | null, i) => (
                      <td key={i}>{interval(e?.[k], percent)}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {card.limitations.length > 0 && (
            <>
              <h3>Limitations</h3>
              <ul data-testid="card-limitations">
                {card.limitations.map((l) => (
                  <li key={l}>{l}</li>
                ))}
              </ul>
            </>
          )}
          {card.warnings.length > 0 && (
            <Notice kind="info" testId="card-warnings">
              <ul class="plain">
                {card.warnings.map((w) => (
                  <li key={w}>{w}</li>
                ))}
              </ul>
            </Notice>
          )}
          {card.notRecorded.length > 0 && <p class="muted">Not recorded by this (older) version: {card.notRecorded.join(', ')}.</p>}
          <p class="muted">
            The whole card, with parameters, calibration and library versions: <span class="mono break">GET /v1/models/{name}/versions/{version}/card</span>{' '}
            (JSON, or Markdown with <span class="mono">Accept: text/markdown</span>).
          </p>
        </>
      )}
    </section>
  );
}

const FINAL = new Set(['completed', 'failed', 'cancelled']);
const POLL_MS = 1500;

/** External evaluations of the version (newest first) and a form to start one on an uploaded dataset. */
export function EvaluationsSection({ name, version }: { name: string; version: number }) {
  const admin = canAdmin(useStore(auth));
  const [evals, setEvals] = useState<Evaluation[] | null>(null);
  const [datasets, setDatasets] = useState<Dataset[] | null>(null);
  const [datasetId, setDatasetId] = useState('');
  const [groupPattern, setGroupPattern] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const alive = useRef(true);

  const load = () =>
    listEvaluations(name, version).then(
      (list) => alive.current && setEvals(list),
      (err) => alive.current && setError(describeError(err)),
    );
  useEffect(() => {
    alive.current = true;
    setEvals(null);
    setError(null);
    void load();
    return () => {
      alive.current = false;
    };
  }, [name, version]);
  useEffect(() => {
    if (!admin) return;
    listDatasets().then(
      (d) => {
        setDatasets(d);
        setDatasetId((cur) => cur || d[0]?.id || '');
      },
      () => setDatasets([]),
    );
  }, [admin]);

  // Poll the unfinished ones until they are done.
  const pending = (evals ?? []).filter((e) => !FINAL.has(e.status)).map((e) => e.id);
  useEffect(() => {
    if (!pending.length) return;
    const t = setTimeout(async () => {
      try {
        const fresh = await Promise.all(pending.map((id) => getEvaluation(name, version, id)));
        if (alive.current) setEvals((cur) => cur?.map((e) => fresh.find((f) => f.id === e.id) ?? e) ?? null);
      } catch (err) {
        if (alive.current) setError(describeError(err));
      }
    }, POLL_MS);
    return () => clearTimeout(t);
  }, [evals]);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!datasetId) return;
    setBusy(true);
    setFormError(null);
    try {
      const rec = await startEvaluation(name, version, { datasetId, ...(groupPattern.trim() ? { groupPattern: groupPattern.trim() } : {}) });
      setEvals((cur) => [rec, ...(cur ?? []).filter((x) => x.id !== rec.id)]);
    } catch (err) {
      setFormError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="evals-title" data-testid="evaluations">
      <h2 id="evals-title">External evaluations</h2>
      {error && <Notice kind="error">{error}</Notice>}
      {!evals && !error && <p class="muted">Loading evaluations…</p>}
      {evals && evals.length === 0 && (
        <p class="empty" data-testid="no-evaluations">
          No external evaluation yet: the metrics above come from this version's own test split. Evaluate it on a labelled dataset from another
          site to see how it does there{admin ? ' (form below)' : ' (needs an admin key)'}.
        </p>
      )}
      {evals && evals.length > 0 && (
        <div class="table-wrap">
          <table data-testid="evaluations-table">
            <caption class="sr-only">Evaluations of v{version}, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Dataset</th>
                <th scope="col">Status</th>
                <th scope="col">Images</th>
                <th scope="col">ROC AUC (95% CI)</th>
                <th scope="col">Sensitivity</th>
                <th scope="col">Specificity</th>
                <th scope="col">Accuracy</th>
                <th scope="col">Finished</th>
              </tr>
            </thead>
            <tbody>
              {evals.map((ev) => {
                const m = ev.result?.metrics;
                return (
                  <tr key={ev.id} data-evaluation={ev.id} data-status={ev.status}>
                    <th scope="row">
                      {ev.dataset.name} <span class="mono muted">{ev.id}</span>
                    </th>
                    <td>
                      <span class={`badge status-${ev.status}`}>{ev.status}</span>
                      {ev.progress && !FINAL.has(ev.status) && (
                        <span class="muted">
                          {' '}
                          {ev.progress.done}/{ev.progress.total}
                        </span>
                      )}
                      {ev.error && <div class="field-error">{ev.error.message} ({ev.error.code})</div>}
                    </td>
                    <td>{ev.result?.images ?? ev.progress?.total ?? '–'}</td>
                    <td data-testid="evaluation-auc">{m ? `${num(m.auc.value)} (${num(m.auc.low)}–${num(m.auc.high)})` : '–'}</td>
                    <td>{pct(m?.sensitivity.value)}</td>
                    <td>{pct(m?.specificity.value)}</td>
                    <td>{pct(m?.accuracy.value)}</td>
                    <td>{when(ev.finishedAt)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {admin && (
        <form class="inline-form" onSubmit={(e) => void submit(e)} aria-labelledby="eval-form-title" data-testid="evaluation-form">
          <h3 id="eval-form-title">Evaluate v{version} on a dataset</h3>
          {datasets && datasets.length === 0 ? (
            <p class="empty">
              No dataset uploaded: <a href="#/datasets">upload a labelled one</a> with the same two classes.
            </p>
          ) : (
            <>
              <label for="eval-dataset">Dataset</label>
              <select id="eval-dataset" value={datasetId} onChange={(e) => setDatasetId((e.target as HTMLSelectElement).value)} disabled={!datasets}>
                {(datasets ?? []).map((d) => (
                  <option key={d.id} value={d.id}>
                    {d.name} ({d.counts.images} images, {d.id})
                  </option>
                ))}
              </select>
              <label for="eval-group">Patient pattern (optional)</label>
              <input
                id="eval-group"
                type="text"
                value={groupPattern}
                placeholder="e.g. (person\d+)_"
                aria-describedby="eval-group-help"
                onInput={(e) => setGroupPattern((e.target as HTMLInputElement).value)}
              />
              <p id="eval-group-help" class="muted">
                A regular expression with one capture group naming the patient in each image path; the result then counts patients.
              </p>
              <button type="submit" class="primary" disabled={busy || !datasetId}>
                {busy ? 'Starting…' : 'Start evaluation'}
              </button>
            </>
          )}
          {formError && (
            <Notice kind="error" testId="evaluation-error">
              {formError}
            </Notice>
          )}
        </form>
      )}
    </section>
  );
}
