import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, describeError, explain, getModel, listModels, predict, type Target } from '../api.ts';
import { Notice } from '../components/Notice.tsx';
import { num, pct } from '../format.ts';
import type { ModelDetail, Prediction } from '../types.ts';

interface Item {
  id: number;
  file: File;
  url: string;
  prediction?: Prediction & { version: number };
  overlay?: string;
  error?: string;
  overlayError?: string;
  opacity: number;
  noPreview?: boolean;
}

const ACCEPT = 'image/png,image/jpeg,.png,.jpg,.jpeg,.dcm,application/dicom';
const MAX_FILES = 64;
let nextId = 1;

function isDicom(file: File): boolean {
  return file.type === 'application/dicom' || /\.dcm$/i.test(file.name);
}

function parseTarget(v: string): Target {
  if (v.startsWith('v:')) return { version: Number(v.slice(2)) };
  if (v.startsWith('a:')) return { alias: v.slice(2) };
  return null;
}

/** Drop X-rays: probability, label and threshold per image, and the Grad-CAM overlay. */
export function TryView() {
  const [model, setModel] = useState<string | null>(null);
  const [detail, setDetail] = useState<ModelDetail | null>(null);
  const [target, setTarget] = useState('');
  const [items, setItems] = useState<Item[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [dragging, setDragging] = useState(false);
  const urls = useRef<string[]>([]);

  useEffect(() => {
    listModels()
      .then(async (m) => {
        setModel(m.defaultModel);
        if (m.models.some((x) => x.name === m.defaultModel)) setDetail(await getModel(m.defaultModel));
      })
      .catch((err: unknown) => setError(describeError(err)));
    return () => urls.current.forEach((u) => URL.revokeObjectURL(u));
  }, []);

  const update = (id: number, patch: Partial<Item>) => setItems((all) => all.map((it) => (it.id === id ? { ...it, ...patch } : it)));

  const run = async (files: File[]) => {
    if (!model || files.length === 0) return;
    if (files.length > MAX_FILES) {
      setError(`At most ${MAX_FILES} images at a time (the API's per-request limit); ${files.length} were dropped.`);
      files = files.slice(0, MAX_FILES);
    } else setError(null);
    const fresh = files.map((file) => {
      const url = URL.createObjectURL(file);
      urls.current.push(url);
      return { id: nextId++, file, url, opacity: 0.6 } satisfies Item;
    });
    setItems((all) => [...fresh, ...all]);
    setBusy(true);
    const t = parseTarget(target);
    try {
      try {
        const r = await predict(model, files, t);
        r.predictions.forEach((p, i) => update(fresh[i]!.id, { prediction: { ...p, version: r.model.version } }));
      } catch (err) {
        // One bad image fails the whole request (its index is in the details): ask one by one.
        if (!(err instanceof ApiError) || err.status === 503 || err.status === 401 || err.status === 403 || fresh.length === 1) throw err;
        for (const it of fresh) {
          try {
            const r = await predict(model, [it.file], t);
            update(it.id, { prediction: { ...r.predictions[0]!, version: r.model.version } });
          } catch (e) {
            update(it.id, { error: describeError(e) });
          }
        }
      }
      for (const it of fresh) {
        try {
          const r = await explain(model, it.file, t);
          update(it.id, { overlay: `data:image/png;base64,${r.heatmap}` });
        } catch (e) {
          update(it.id, { overlayError: describeError(e) });
        }
      }
    } catch (err) {
      const msg = describeError(err);
      for (const it of fresh) update(it.id, { error: msg });
    } finally {
      setBusy(false);
    }
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    void run([...(e.dataTransfer?.files ?? [])]);
  };

  const versions = [...(detail?.versions ?? [])].reverse();
  return (
    <div class="view">
      <h1>Try it</h1>
      <p class="disclaimer">Research use only: not a medical device. Never use these outputs to diagnose, treat or triage a patient.</p>
      {error && <Notice kind="error">{error}</Notice>}
      {model && !detail && (
        <p class="empty" data-testid="no-model">
          No model yet: <a href="#/datasets">upload a dataset</a> and <a href="#/training">train</a>, then come back.
        </p>
      )}
      {detail && (
        <>
          <div class="field inline">
            <label for="try-target">Answer from</label>
            <select id="try-target" value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
              <option value="">
                {model} default ({detail.aliases.production ? `production, v${detail.aliases.production}` : `latest, v${detail.versions.at(-1)?.version}`})
              </option>
              {Object.entries(detail.aliases).map(([a, v]) => (
                <option key={a} value={`a:${a}`}>
                  alias {a} (v{v})
                </option>
              ))}
              {versions.map((v) => (
                <option key={v.version} value={`v:${v.version}`}>
                  v{v.version}
                </option>
              ))}
            </select>
          </div>
          <div
            class={`dropzone${dragging ? ' dragging' : ''}`}
            onDragOver={(e) => {
              e.preventDefault();
              setDragging(true);
            }}
            onDragLeave={() => setDragging(false)}
            onDrop={onDrop}
          >
            <label for="try-files">Drop chest X-rays here (PNG, JPEG or DICOM, up to {MAX_FILES}), or choose files:</label>
            <input
              id="try-files"
              type="file"
              multiple
              accept={ACCEPT}
              disabled={busy}
              onChange={(e) => {
                const files = [...(e.currentTarget.files ?? [])];
                e.currentTarget.value = '';
                void run(files);
              }}
            />
            {busy && <span role="status">Classifying…</span>}
          </div>
          <p class="heatmap-note" data-testid="heatmap-note">
            <strong>What the heat map means:</strong> Grad-CAM colours the regions whose features pushed this model's score towards{' '}
            {detail.versions.at(-1)?.metadata.positiveClass ?? 'the positive class'} for this one image; warm is more. It is coarse (computed on a
            small feature grid, then enlarged), it is not a segmentation of disease, and it does not show that the model "looked at" anatomy: hot spots
            on borders, text or side markers mean the model may be using shortcuts.
          </p>
        </>
      )}
      <div class="results">
        {items.map((it) => (
          <ResultCard key={it.id} item={it} onOpacity={(o) => update(it.id, { opacity: o })} onNoPreview={() => update(it.id, { noPreview: true })} />
        ))}
      </div>
    </div>
  );
}

function ResultCard({ item: it, onOpacity, onNoPreview }: { item: Item; onOpacity: (o: number) => void; onNoPreview: () => void }) {
  const p = it.prediction;
  const sliderId = `opacity-${it.id}`;
  return (
    <article class="card result" aria-label={`Result for ${it.file.name}`} data-testid="try-result">
      <h2 class="result-title">{it.file.name}</h2>
      {it.error && <Notice kind="error">{it.error}</Notice>}
      {p && (
        <div class="prediction" data-testid="prediction">
          <span class={`badge ${p.probability >= p.threshold ? 'label-positive' : 'label-negative'}`}>{p.label}</span>
          <span>
            probability <strong data-testid="probability">{pct(p.probability)}</strong>
          </span>
          <span class="muted">
            threshold {num(p.threshold)} · v{p.version}
          </span>
          <meter min={0} max={1} value={p.probability} aria-label="probability" />
        </div>
      )}
      {!p && !it.error && <p class="muted">Classifying…</p>}
      <div class="xray-pair">
        <figure>
          {it.noPreview ? (
            <div class="no-preview">
              {isDicom(it.file)
                ? 'A DICOM file: the browser cannot draw it. The overlay shows its frame as the service decoded it (Modality and VOI LUTs applied).'
                : 'The browser cannot show this file type.'}
            </div>
          ) : (
            <img src={it.url} alt={`Original: ${it.file.name}`} onError={onNoPreview} />
          )}
          <figcaption>Original</figcaption>
        </figure>
        <figure>
          <div class="overlay-stack">
            {!it.noPreview && <img src={it.url} alt="" />}
            {it.overlay && (
              <img
                class={it.noPreview ? 'heat heat-alone' : 'heat'}
                src={it.overlay}
                alt={`Grad-CAM heat map over ${it.file.name}`}
                style={`opacity: ${it.noPreview ? 1 : it.opacity}`}
                data-testid="overlay"
              />
            )}
          </div>
          <figcaption>{it.overlay ? 'Grad-CAM overlay' : it.overlayError ? `No heat map: ${it.overlayError}` : 'Heat map…'}</figcaption>
        </figure>
      </div>
      {it.overlay && !it.noPreview && (
        <div class="field inline">
          <label for={sliderId}>Heat map opacity</label>
          <input id={sliderId} type="range" min={0} max={100} value={Math.round(it.opacity * 100)} onInput={(e) => onOpacity(Number(e.currentTarget.value) / 100)} />
          <output for={sliderId}>{Math.round(it.opacity * 100)}%</output>
        </div>
      )}
    </article>
  );
}
