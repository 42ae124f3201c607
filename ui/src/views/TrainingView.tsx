import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, auth, canAdmin, cancelJob, describeError, listDatasets, listJobs, listModels, submitJob } from '../api.ts';
import { Notice } from '../components/Notice.tsx';
import { num, when } from '../format.ts';
import { useStore } from '../store.ts';
import { defaultValues, FORM_FIELDS, rangeText, requestBody, validate, fieldErrors, type FormField, type FormValues } from '../training-form.ts';
import type { Dataset, Job } from '../types.ts';
import { JobMonitor } from './JobMonitor.tsx';

const JOBS_POLL_MS = 3000;

/** Start a job (every parameter, checked as the API checks it), follow it live, list jobs. */
export function TrainingView({ jobId }: { jobId?: string }) {
  const admin = canAdmin(useStore(auth));
  const [datasets, setDatasets] = useState<Dataset[] | null>(null);
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const refreshJobs = () =>
    listJobs().then(
      (j) => setJobs(j),
      (err) => setError(describeError(err)),
    );
  useEffect(() => {
    listDatasets().then(setDatasets, (err) => setError(describeError(err)));
    void refreshJobs();
    const t = setInterval(() => void refreshJobs(), JOBS_POLL_MS);
    return () => clearInterval(t);
  }, []);

  const names = useMemo(() => new Map((datasets ?? []).map((d) => [d.id, d.name])), [datasets]);
  return (
    <div class="view">
      <h1>Training</h1>
      {error && <Notice kind="error">{error}</Notice>}
      <div class="split">
        <TrainingForm
          datasets={datasets}
          disabled={!admin}
          onSubmitted={(job) => {
            location.hash = `#/training/${job.id}`;
            void refreshJobs();
          }}
        />
        <div class="stack">
          {jobId ? (
            <JobMonitor jobId={jobId} onChange={() => void refreshJobs()} />
          ) : (
            <p class="empty card">Start a job, or choose one from the list below to follow it live.</p>
          )}
        </div>
      </div>
      <JobList jobs={jobs} names={names} admin={admin} selected={jobId} onCancelled={() => void refreshJobs()} />
    </div>
  );
}

function TrainingForm({ datasets, disabled, onSubmitted }: { datasets: Dataset[] | null; disabled: boolean; onSubmitted: (job: Job) => void }) {
  const [datasetId, setDatasetId] = useState('');
  const [values, setValues] = useState<FormValues>(() => defaultValues());
  const [touched, setTouched] = useState(false);
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);

  useEffect(() => {
    if (!datasetId && datasets?.[0]) setDatasetId(datasets[0].id);
  }, [datasets]);
  useEffect(() => {
    listModels().then(
      (m) => setValues((v) => (v['model.name'] ? v : { ...v, 'model.name': m.defaultModel })),
      () => undefined,
    );
  }, []);

  const body = requestBody(datasetId, values);
  const clientErrors = validate(body);
  const errors = touched ? { ...clientErrors, ...serverErrors } : serverErrors;

  const set = (key: string, value: string | boolean) => {
    setValues((v) => ({ ...v, [key]: value }));
    setTouched(true);
    setServerErrors({});
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setTouched(true);
    setSubmitError(null);
    if (Object.keys(clientErrors).length > 0) {
      formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
      return;
    }
    setBusy(true);
    try {
      const job = await submitJob(body);
      onSubmitted(job);
    } catch (err) {
      const list = err instanceof ApiError && Array.isArray(err.details?.errors) ? (err.details.errors as string[]) : null;
      if (list) setServerErrors(fieldErrors(list));
      setSubmitError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const groups = [...new Set(FORM_FIELDS.map((f) => f.group))];
  return (
    <form ref={formRef} class="card training-form" onSubmit={(e) => void submit(e)} aria-labelledby="train-title" noValidate data-testid="training-form">
      <h2 id="train-title">Start a training job</h2>
      {datasets !== null && datasets.length === 0 ? (
        <p class="empty">
          No dataset yet: <a href="#/datasets">upload one</a> first.
        </p>
      ) : (
        <div class="field">
          <label for="f-datasetId">Dataset</label>
          <select id="f-datasetId" value={datasetId} disabled={disabled} onChange={(e) => setDatasetId(e.currentTarget.value)} aria-invalid={errors.datasetId ? 'true' : undefined}>
            {(datasets ?? []).map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} ({d.counts.images} images)
              </option>
            ))}
          </select>
          {errors.datasetId && <span class="field-error">{errors.datasetId}</span>}
        </div>
      )}
      {groups.map((g) => (
        <fieldset key={g} disabled={disabled}>
          <legend>{g}</legend>
          <div class="fields">
            {FORM_FIELDS.filter((f) => f.group === g).map((f) => (
              <Field key={f.key} field={f} value={values[f.key]!} error={errors[f.key]} onChange={(v) => set(f.key, v)} />
            ))}
          </div>
        </fieldset>
      ))}
      {errors[''] && <Notice kind="error">{errors['']}</Notice>}
      {submitError && (
        <Notice kind="error" testId="submit-error">
          Not started: {submitError}
        </Notice>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={disabled || busy || !datasetId}>
          {busy ? 'Submitting…' : 'Start training'}
        </button>
        <button type="button" disabled={disabled || busy} onClick={() => setValues((v) => defaultValues({ 'model.name': v['model.name'] }))}>
          Reset to defaults
        </button>
        {disabled && <span class="muted">Training needs an admin key.</span>}
      </div>
    </form>
  );
}

function Field({ field: f, value, error, onChange }: { field: FormField; value: string | boolean; error?: string; onChange: (v: string | boolean) => void }) {
  const id = `f-${f.key.replace('.', '-')}`;
  const hint = [rangeText(f), f.description, f.default !== undefined ? `default ${String(f.default)}` : ''].filter(Boolean).join('. ');
  const described = `${id}-hint${error ? ` ${id}-error` : ''}`;
  if (f.kind === 'boolean') {
    return (
      <div class="field field-check">
        <input id={id} type="checkbox" checked={value === true} onChange={(e) => onChange(e.currentTarget.checked)} aria-describedby={described} />
        <label for={id}>{f.label}</label>
        <span id={`${id}-hint`} class="hint">
          {hint}
        </span>
        {error && (
          <span id={`${id}-error`} class="field-error">
            {error}
          </span>
        )}
      </div>
    );
  }
  const common = {
    id,
    'aria-describedby': described,
    'aria-invalid': error ? ('true' as const) : undefined,
    'data-field': f.key,
  };
  return (
    <div class="field">
      <label for={id}>{f.label}</label>
      {f.kind === 'choice' ? (
        <select {...common} value={String(value)} onChange={(e) => onChange(e.currentTarget.value)}>
          {f.choices!.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      ) : (
        <input
          {...common}
          type={f.kind === 'text' ? 'text' : 'number'}
          inputMode={f.kind === 'integer' ? 'numeric' : f.kind === 'number' ? 'decimal' : undefined}
          step={f.kind === 'integer' ? (f.multipleOf ?? 1) : 'any'}
          min={f.min ?? f.exclusiveMin}
          max={f.max ?? f.exclusiveMax}
          value={String(value)}
          onInput={(e) => onChange(e.currentTarget.value)}
        />
      )}
      <span id={`${id}-hint`} class="hint">
        {hint}
      </span>
      {error && (
        <span id={`${id}-error`} class="field-error" data-testid={`error-${f.key}`}>
          {error}
        </span>
      )}
    </div>
  );
}

function outcome(j: Job): string {
  if (j.status === 'completed' && j.result) return `${j.result.model.name} v${j.result.model.version} · test AUC ${num(j.result.metrics.test.auc)}`;
  if ((j.status === 'failed' || j.status === 'cancelled') && j.error) return `${j.error.code}: ${j.error.message}`;
  if (j.status === 'running' && j.progress) return `${j.progress.phase} · epoch ${j.progress.epoch}/${j.progress.epochs}`;
  if (j.status === 'queued' && j.lastError) return `retry pending after ${j.lastError.code}: ${j.lastError.message}`;
  return '';
}

function JobList({ jobs, names, admin, selected, onCancelled }: { jobs: Job[] | null; names: Map<string, string>; admin: boolean; selected?: string; onCancelled: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const cancel = async (id: string) => {
    try {
      await cancelJob(id);
      setError(null);
    } catch (err) {
      setError(describeError(err));
    }
    onCancelled();
  };
  return (
    <section aria-labelledby="jobs-title">
      <h2 id="jobs-title">Jobs</h2>
      {error && <Notice kind="error">{error}</Notice>}
      {jobs === null ? (
        <p class="muted">Loading…</p>
      ) : jobs.length === 0 ? (
        <p class="empty">No training job yet.</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="jobs-table">
            <thead>
              <tr>
                <th scope="col">Submitted</th>
                <th scope="col">Status</th>
                <th scope="col">Dataset</th>
                <th scope="col">Parameters</th>
                <th scope="col">Outcome</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((j) => (
                <tr key={j.id} data-job={j.id} class={j.id === selected ? 'selected' : undefined}>
                  <td>
                    {when(j.createdAt)}
                    <div class="muted mono">{j.id.slice(0, 8)}</div>
                  </td>
                  <td>
                    <span class={`badge status-${j.status}`}>{j.status}</span>
                    {j.attempts.made > 1 && <div class="muted">attempt {j.attempts.made}/{j.attempts.max}</div>}
                  </td>
                  <td>{names.get(j.datasetId) ?? <span class="mono">{j.datasetId}</span>}</td>
                  <td>
                    {j.model.name}, {j.params.epochs} epochs, {j.params.inputSize}px
                  </td>
                  <td class="outcome">{outcome(j)}</td>
                  <td class="row-actions">
                    <a class="button" href={`#/training/${j.id}`} aria-label={`Follow job ${j.id.slice(0, 8)}`}>
                      Follow
                    </a>
                    {(j.status === 'queued' || j.status === 'running') && (
                      <button type="button" class="danger" disabled={!admin || j.cancelRequested} onClick={() => void cancel(j.id)} aria-label={`Cancel job ${j.id.slice(0, 8)}`}>
                        Cancel
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
