import { useEffect, useState } from 'preact/hooks';
import { ApiError, auth, canAdmin, deleteDataset, describeError, getDataset, listDatasets, uploadDataset, type UploadProgress } from '../api.ts';
import { ConfirmDialog } from '../components/ConfirmDialog.tsx';
import { Notice } from '../components/Notice.tsx';
import { bytes, when } from '../format.ts';
import { useStore } from '../store.ts';
import type { Dataset } from '../types.ts';

const SPLITS = ['train', 'validation', 'test'] as const;
const SKIPPED_SHOWN = 50;

/** Upload (with byte progress, then import), list, inspect and delete datasets. */
export function DatasetsView() {
  const admin = canAdmin(useStore(auth));
  const [datasets, setDatasets] = useState<Dataset[] | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [selected, setSelected] = useState<Dataset | null>(null);
  const [toDelete, setToDelete] = useState<Dataset | null>(null);
  const [deleting, setDeleting] = useState(false);
  const [deleteError, setDeleteError] = useState<string | null>(null);

  const refresh = () =>
    listDatasets().then(
      (d) => {
        setDatasets(d);
        setListError(null);
      },
      (err) => setListError(describeError(err)),
    );
  useEffect(() => void refresh(), []);

  const show = async (id: string) => {
    try {
      setSelected(await getDataset(id));
    } catch (err) {
      setListError(describeError(err));
    }
  };

  const confirmDelete = async () => {
    if (!toDelete) return;
    setDeleting(true);
    try {
      await deleteDataset(toDelete.id);
      if (selected?.id === toDelete.id) setSelected(null);
      setDeleteError(null);
      await refresh();
    } catch (err) {
      setDeleteError(
        err instanceof ApiError && err.status === 409
          ? `Not deleted: ${err.message}. A training job that is queued or running reads this dataset; cancel it under Training, or wait until it finishes, then delete again.`
          : describeError(err),
      );
    } finally {
      setDeleting(false);
      setToDelete(null);
    }
  };

  return (
    <div class="view">
      <h1>Datasets</h1>
      <UploadForm
        disabled={!admin}
        onImported={(d) => {
          setSelected(d);
          void refresh();
        }}
      />
      {deleteError && (
        <Notice kind="error" testId="delete-error">
          {deleteError}
        </Notice>
      )}
      {listError && <Notice kind="error">{listError}</Notice>}
      <section aria-labelledby="ds-list">
        <h2 id="ds-list">Uploaded</h2>
        {datasets === null ? (
          <p class="muted">Loading…</p>
        ) : datasets.length === 0 ? (
          <p class="empty">No dataset yet: upload a zip of NORMAL/ and PNEUMONIA/ folders above.</p>
        ) : (
          <div class="table-wrap">
            <table data-testid="datasets-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Images</th>
                  <th scope="col">Per class</th>
                  <th scope="col">Per split</th>
                  <th scope="col">Skipped</th>
                  <th scope="col">Uploaded</th>
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {datasets.map((d) => (
                  <tr key={d.id} data-dataset={d.id}>
                    <td>
                      {d.name}
                      <div class="muted mono">{d.id}</div>
                    </td>
                    <td>{d.counts.images}</td>
                    <td>{classText(d)}</td>
                    <td>{splitText(d)}</td>
                    <td>{d.counts.skipped}</td>
                    <td>{when(d.createdAt)}</td>
                    <td class="row-actions">
                      <button type="button" onClick={() => void show(d.id)}>
                        Details
                      </button>
                      <button type="button" class="danger" disabled={!admin} title={admin ? undefined : 'needs an admin key'} onClick={() => setToDelete(d)}>
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {selected && <DatasetDetail dataset={selected} />}
      {toDelete && (
        <ConfirmDialog title={`Delete dataset “${toDelete.name}”?`} confirmLabel="Delete dataset" danger busy={deleting} onConfirm={() => void confirmDelete()} onCancel={() => setToDelete(null)}>
          <p>
            Its {toDelete.counts.images} images and the uploaded archive are removed from the service. Model versions trained on it stay and keep
            their metrics, but cannot be retrained from it. The API refuses (409) while a training job uses it.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function classText(d: Dataset): string {
  return d.classNames.map((c) => `${c} ${d.counts.byClass[c] ?? 0}`).join(' · ');
}

function splitText(d: Dataset): string {
  const parts = SPLITS.filter((s) => d.counts.bySplit[s] !== undefined).map((s) => `${s} ${d.counts.bySplit[s]}`);
  return parts.length ? parts.join(' · ') : 'split when training';
}

function UploadForm({ disabled, onImported }: { disabled: boolean; onImported: (d: Dataset) => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [positive, setPositive] = useState('');
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<Dataset | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!file) return setError('Choose a zip file first.');
    const form = new FormData();
    if (name.trim()) form.append('name', name.trim());
    if (positive.trim()) form.append('positiveClass', positive.trim());
    // Text fields first, then the archive.
    form.append('file', file, file.name);
    setError(null);
    setDone(null);
    setProgress({ phase: 'sending', loaded: 0, total: file.size });
    try {
      const d = await uploadDataset(form, setProgress);
      setDone(d);
      onImported(d);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setProgress(null);
    }
  };

  const busy = progress !== null;
  return (
    <form class="card" onSubmit={(e) => void submit(e)} aria-labelledby="upload-title">
      <h2 id="upload-title">Upload a zip</h2>
      <p class="muted">
        Class folders (NORMAL/, PNEUMONIA/), optionally under train/, val/ and test/. Every entry is checked; images that do not decode are skipped
        and listed with the reason.
      </p>
      <div class="fields">
        <div class="field">
          <label for="ds-file">Zip archive</label>
          <input id="ds-file" type="file" accept=".zip,application/zip" disabled={disabled || busy} onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
        </div>
        <div class="field">
          <label for="ds-name">Name (optional)</label>
          <input id="ds-name" type="text" maxLength={100} value={name} placeholder="the file name" disabled={disabled || busy} onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="ds-positive">Positive class (optional)</label>
          <input id="ds-positive" type="text" maxLength={100} value={positive} placeholder="PNEUMONIA" disabled={disabled || busy} onInput={(e) => setPositive(e.currentTarget.value)} />
        </div>
      </div>
      <div class="actions">
        <button type="submit" class="primary" disabled={disabled || busy || !file}>
          Upload and import
        </button>
        {disabled && <span class="muted">Uploading needs an admin key.</span>}
      </div>
      {progress && <UploadBar progress={progress} />}
      {error && (
        <Notice kind="error" testId="upload-error">
          Upload refused: {error}
        </Notice>
      )}
      {done && (
        <Notice kind="ok" testId="upload-done">
          Imported “{done.name}”: {done.counts.images} images ({classText(done)}), {done.counts.skipped} skipped.
        </Notice>
      )}
    </form>
  );
}

function UploadBar({ progress }: { progress: UploadProgress }) {
  if (progress.phase === 'importing') {
    return (
      <div class="upload-progress" data-testid="upload-progress" data-phase="importing">
        <label for="upload-bar">Importing: checking and decoding every image…</label>
        <progress id="upload-bar" />
      </div>
    );
  }
  const share = progress.total ? progress.loaded / progress.total : 0;
  return (
    <div class="upload-progress" data-testid="upload-progress" data-phase="sending">
      <label for="upload-bar">
        Sending {bytes(progress.loaded)} of {progress.total ? bytes(progress.total) : '?'} ({Math.round(share * 100)}%)
      </label>
      <progress id="upload-bar" max={1} value={share} />
    </div>
  );
}

function DatasetDetail({ dataset: d }: { dataset: Dataset }) {
  const [all, setAll] = useState(false);
  const skipped = d.skipped ?? [];
  const shown = all ? skipped : skipped.slice(0, SKIPPED_SHOWN);
  return (
    <section class="card" aria-labelledby="ds-detail" data-testid="dataset-detail">
      <h2 id="ds-detail">
        {d.name} <span class="muted mono">{d.id}</span>
      </h2>
      <dl class="facts">
        <dt>Images</dt>
        <dd>{d.counts.images}</dd>
        <dt>Per class</dt>
        <dd>
          {classText(d)} (positive: {d.positiveClass})
        </dd>
        <dt>Per split</dt>
        <dd>
          {splitText(d)}
          {Object.keys(d.counts.bySplit).length === 0 && (
            <span class="muted"> (the archive has no train/ val/ test/ folders: each job splits it, seeded and stratified)</span>
          )}
        </dd>
        <dt>Duplicates removed</dt>
        <dd>{d.counts.duplicates}</dd>
        <dt>Source</dt>
        <dd>
          {d.source.filename ?? d.source.kind}, {bytes(d.source.bytes)}
        </dd>
        <dt>Cached at</dt>
        <dd>
          {d.size}×{d.size} grey
        </dd>
        <dt>Patients per split</dt>
        <dd class="muted">not recorded by the API</dd>
      </dl>
      <h3>Skipped entries ({skipped.length})</h3>
      {skipped.length === 0 ? (
        <p class="muted">None: every entry was imported.</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="skipped-table">
            <thead>
              <tr>
                <th scope="col">Entry</th>
                <th scope="col">Code</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((s) => (
                <tr key={s.source}>
                  <td class="mono">{s.source}</td>
                  <td>{s.code}</td>
                  <td>{s.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {skipped.length > shown.length && (
            <button type="button" onClick={() => setAll(true)}>
              Show all {skipped.length}
            </button>
          )}
        </div>
      )}
    </section>
  );
}
