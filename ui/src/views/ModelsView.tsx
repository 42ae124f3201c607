import { useEffect, useState } from 'preact/hooks';
import { ApiError, auth, canAdmin, deleteVersion, describeError, getModel, listModels, setAlias } from '../api.ts';
import { ConfirmDialog } from '../components/ConfirmDialog.tsx';
import { Notice } from '../components/Notice.tsx';
import { delta, num, pct, when } from '../format.ts';
import { useStore } from '../store.ts';
import type { ModelDetail, ModelSummary, ModelVersion } from '../types.ts';

const ALIAS = 'production';

/** Versions of a model with their metrics and aliases; promote, roll back, compare, delete. */
export function ModelsView({ name }: { name?: string }) {
  const admin = canAdmin(useStore(auth));
  const [models, setModels] = useState<{ defaultModel: string; models: ModelSummary[] } | null>(null);
  const [detail, setDetail] = useState<ModelDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [promote, setPromote] = useState<ModelVersion | null>(null);
  const [remove, setRemove] = useState<ModelVersion | null>(null);
  const [busy, setBusy] = useState(false);
  const [compare, setCompare] = useState<number[]>([]);

  const current = name ?? models?.defaultModel;
  const hasModel = !!models?.models.some((m) => m.name === current);
  const load = async () => {
    try {
      const m = await listModels();
      setModels(m);
      const n = name ?? m.defaultModel;
      setDetail(m.models.some((x) => x.name === n) ? await getModel(n) : null);
      setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  };
  useEffect(() => void load(), [name]);

  const production = detail?.aliases[ALIAS];
  const versions = [...(detail?.versions ?? [])].reverse();
  const byVersion = new Map(detail?.versions.map((v) => [v.version, v]));

  const doPromote = async () => {
    if (!promote || !detail) return;
    setBusy(true);
    try {
      const r = await setAlias(detail.name, ALIAS, promote.version);
      setNotice(`${ALIAS} now points at v${r.version}${r.previous ? ` (was v${r.previous})` : ''}. Every API replica loads and warms it, then switches.`);
      await load();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
      setPromote(null);
    }
  };

  const doRemove = async () => {
    if (!remove || !detail) return;
    setBusy(true);
    try {
      await deleteVersion(detail.name, remove.version);
      setNotice(`v${remove.version} deleted.`);
      await load();
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 409
          ? `Not deleted: ${err.message}. Move the alias to another version first (promote or roll back), then delete.`
          : describeError(err),
      );
    } finally {
      setBusy(false);
      setRemove(null);
    }
  };

  const toggleCompare = (v: number) => setCompare((c) => (c.includes(v) ? c.filter((x) => x !== v) : [...c, v].slice(-2)));

  return (
    <div class="view">
      <h1>Models</h1>
      {models && models.models.length > 1 && (
        <nav class="model-picker" aria-label="Models">
          {models.models.map((m) => (
            <a key={m.name} href={`#/models/${m.name}`} aria-current={m.name === current ? 'page' : undefined}>
              {m.name} ({m.versionCount})
            </a>
          ))}
        </nav>
      )}
      {error && <Notice kind="error">{error}</Notice>}
      {notice && (
        <Notice kind="ok" testId="models-notice">
          {notice}
        </Notice>
      )}
      {models && !hasModel && (
        <p class="empty" data-testid="no-model">
          No model yet: <a href="#/datasets">upload a dataset</a> and <a href="#/training">train</a>. The first completed job publishes{' '}
          {current} v1.
        </p>
      )}
      {detail && (
        <section aria-labelledby="versions-title">
          <div class="card-head">
            <h2 id="versions-title">
              {detail.name}: {detail.versions.length} version{detail.versions.length === 1 ? '' : 's'}
            </h2>
            <a
              class={`button${compare.length === 2 ? '' : ' disabled'}`}
              href={compare.length === 2 ? `#/compare/${detail.name}/${Math.min(...compare)}/${Math.max(...compare)}` : undefined}
              aria-disabled={compare.length === 2 ? undefined : 'true'}
              data-testid="compare-link"
            >
              Compare {compare.length === 2 ? `v${Math.min(...compare)} and v${Math.max(...compare)}` : 'two versions (tick them)'}
            </a>
          </div>
          <p class="muted">
            {production ? `POST /v1/predict answers from v${production} (${ALIAS}).` : `No ${ALIAS} alias: POST /v1/predict answers from the latest version.`}
          </p>
          <div class="table-wrap">
            <table data-testid="versions-table">
              <thead>
                <tr>
                  <th scope="col">Compare</th>
                  <th scope="col">Version</th>
                  <th scope="col">Trained</th>
                  <th scope="col">Dataset</th>
                  <th scope="col">Test AUC</th>
                  <th scope="col">Sensitivity</th>
                  <th scope="col">Specificity</th>
                  <th scope="col">Threshold</th>
                  <th scope="col">Input, epochs</th>
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {versions.map((v) => {
                  const t = v.metadata.metrics?.test;
                  const isProd = v.version === production;
                  return (
                    <tr key={v.version} data-version={v.version}>
                      <td>
                        <input
                          type="checkbox"
                          aria-label={`Compare v${v.version}`}
                          checked={compare.includes(v.version)}
                          onChange={() => toggleCompare(v.version)}
                        />
                      </td>
                      <th scope="row">
                        <a href={`#/models/${detail.name}/${v.version}`}>v{v.version}</a>{' '}
                        {v.aliases.map((a) => (
                          <span key={a} class={`badge alias${a === ALIAS ? ' alias-production' : ''}`}>
                            {a}
                          </span>
                        ))}
                      </th>
                      <td>{when(v.createdAt)}</td>
                      <td>{v.metadata.dataset?.name ?? v.metadata.dataset?.id ?? '–'}</td>
                      <td>{num(t?.auc)}</td>
                      <td>{pct(t?.sensitivity)}</td>
                      <td>{pct(t?.specificity)}</td>
                      <td>{num(v.metadata.threshold)}</td>
                      <td>
                        {v.metadata.params?.inputSize ?? '–'}px, {v.metadata.history?.length ?? v.metadata.params?.epochs ?? '–'}
                      </td>
                      <td class="row-actions">
                        {!isProd && (
                          <button type="button" class="primary" disabled={!admin} title={admin ? undefined : 'needs an admin key'} onClick={() => setPromote(v)}>
                            {production !== undefined && v.version < production ? `Roll back to v${v.version}` : `Promote v${v.version}`}
                          </button>
                        )}
                        <button type="button" class="danger" disabled={!admin} title={admin ? undefined : 'needs an admin key'} onClick={() => setRemove(v)} aria-label={`Delete v${v.version}`}>
                          Delete
                        </button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </section>
      )}
      {promote && detail && (
        <ConfirmDialog
          title={production === undefined ? `Set ${ALIAS} to v${promote.version}?` : promote.version < production ? `Roll back ${ALIAS} to v${promote.version}?` : `Promote v${promote.version} to ${ALIAS}?`}
          confirmLabel={production !== undefined && promote.version < production ? `Roll back to v${promote.version}` : `Promote v${promote.version}`}
          busy={busy}
          onConfirm={() => void doPromote()}
          onCancel={() => setPromote(null)}
        >
          <PromoteText target={promote} from={production !== undefined ? byVersion.get(production) : undefined} latest={detail.versions.at(-1)?.version} />
        </ConfirmDialog>
      )}
      {remove && detail && (
        <ConfirmDialog title={`Delete ${detail.name} v${remove.version}?`} confirmLabel={`Delete v${remove.version}`} danger busy={busy} onConfirm={() => void doRemove()} onCancel={() => setRemove(null)}>
          <p>
            Its weights and metadata are removed for good; version numbers are not reused. The API refuses (409) while an alias points at it
            {remove.aliases.length ? ` (now: ${remove.aliases.join(', ')})` : ''}.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function PromoteText({ target, from, latest }: { target: ModelVersion; from?: ModelVersion; latest?: number }) {
  const a = from?.metadata.metrics?.test;
  const b = target.metadata.metrics?.test;
  return (
    <>
      <p data-testid="promote-text">
        {from
          ? `${ALIAS} moves from v${from.version} to v${target.version}.`
          : `${ALIAS} is not set; until now the latest version (v${latest}) answered. It will point at v${target.version}.`}{' '}
        Every caller that names no version (POST /v1/predict, /predict, explain and Try it by default) then gets v{target.version}'s answers. Each API
        replica loads and warms v{target.version} before it switches; requests in flight finish on the old version. Nothing is deleted: you can move
        it back.
      </p>
      {from && (
        <table class="compact">
          <caption>Test metrics, v{from.version} → v{target.version}</caption>
          <tbody>
            {(['auc', 'sensitivity', 'specificity'] as const).map((k) => (
              <tr key={k}>
                <th scope="row">{k === 'auc' ? 'ROC AUC' : k}</th>
                <td>{num(a?.[k])}</td>
                <td>→ {num(b?.[k])}</td>
                <td>({delta(a?.[k], b?.[k])})</td>
              </tr>
            ))}
            <tr>
              <th scope="row">threshold</th>
              <td>{num(from.metadata.threshold)}</td>
              <td>→ {num(target.metadata.threshold)}</td>
              <td />
            </tr>
          </tbody>
        </table>
      )}
      {from && from.metadata.dataset?.id !== target.metadata.dataset?.id && (
        <p class="muted">
          The two were trained and tested on different datasets ({from.metadata.dataset?.name ?? '?'} and {target.metadata.dataset?.name ?? '?'}): their
          test metrics are not measured on the same images.
        </p>
      )}
    </>
  );
}
