import { useEffect, useState } from 'preact/hooks';
import { aliasHistory, ApiError, auth, canAdmin, deleteVersion, describeError, getModel, listModels, setAlias } from '../api.ts';
import { ConfirmDialog } from '../components/ConfirmDialog.tsx';
import { Notice } from '../components/Notice.tsx';
import { delta, num, pct, when } from '../format.ts';
import { useStore } from '../store.ts';
import type { AliasHistoryEntry, ModelDetail, ModelSummary, ModelVersion } from '../types.ts';

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
  /** The API's 409 PROMOTION_WORSE message for the version in the dialog: the dialog then offers "promote anyway". */
  const [guard, setGuard] = useState<string | null>(null);
  const [history, setHistory] = useState<AliasHistoryEntry[] | null>(null);
  const [historyError, setHistoryError] = useState<string | null>(null);

  const current = name ?? models?.defaultModel;
  const hasModel = !!models?.models.some((m) => m.name === current);
  const load = async () => {
    try {
      const m = await listModels();
      setModels(m);
      const n = name ?? m.defaultModel;
      const exists = m.models.some((x) => x.name === n);
      setDetail(exists ? await getModel(n) : null);
      setError(null);
      if (exists)
        aliasHistory(n).then(
          (h) => {
            setHistory(h);
            setHistoryError(null);
          },
          (err) => setHistoryError(describeError(err)),
        );
      else setHistory(null);
    } catch (err) {
      setError(describeError(err));
    }
  };
  useEffect(() => void load(), [name]);

  const production = detail?.aliases[ALIAS];
  const versions = [...(detail?.versions ?? [])].reverse();
  const byVersion = new Map(detail?.versions.map((v) => [v.version, v]));

  const closePromote = () => {
    setPromote(null);
    setGuard(null);
  };

  const doPromote = async (force = false) => {
    if (!promote || !detail) return;
    setBusy(true);
    try {
      const r = await setAlias(detail.name, ALIAS, promote.version, force);
      setNotice(
        `${ALIAS} now points at v${r.version}${r.previous ? ` (was v${r.previous})` : ''}${force ? ', promoted anyway over the guard' : ''}. Every API replica loads and warms it, then switches.`,
      );
      closePromote();
      await load();
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && err.code === 'PROMOTION_WORSE') {
        // Keep the dialog open: say why the API refused and offer to override it.
        setGuard(err.message);
      } else {
        setError(describeError(err));
        closePromote();
      }
    } finally {
      setBusy(false);
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
      {detail && <AliasHistorySection entries={history} error={historyError} />}
      {promote && detail && (
        <ConfirmDialog
          title={
            guard
              ? `v${promote.version} scored worse: promote anyway?`
              : production === undefined
                ? `Set ${ALIAS} to v${promote.version}?`
                : promote.version < production
                  ? `Roll back ${ALIAS} to v${promote.version}?`
                  : `Promote v${promote.version} to ${ALIAS}?`
          }
          confirmLabel={
            guard ? 'Promote anyway' : production !== undefined && promote.version < production ? `Roll back to v${promote.version}` : `Promote v${promote.version}`
          }
          danger={!!guard}
          busy={busy}
          onConfirm={() => void doPromote(!!guard)}
          onCancel={closePromote}
        >
          {guard && (
            <div class="dialog-guard" role="alert" data-testid="promotion-worse">
              <p>
                <strong>The API refused the move (409 PROMOTION_WORSE):</strong> {guard}
              </p>
              <p>"Promote anyway" sends the move again with force; the alias history records that it was forced.</p>
            </div>
          )}
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
        <table class="compact" data-testid="promote-deltas">
          <caption>Test metrics, v{from.version} → v{target.version}</caption>
          <tbody>
            <tr>
              <th scope="col">Metric</th>
              <th scope="col">v{from.version} (now)</th>
              <th scope="col">v{target.version}</th>
              <th scope="col">Change</th>
            </tr>
            {(['auc', 'sensitivity', 'specificity', 'accuracy'] as const).map((k) => {
              const d = a?.[k] !== undefined && b?.[k] !== undefined ? b[k] - a[k] : undefined;
              return (
                <tr key={k} data-metric={k}>
                  <th scope="row">{k === 'auc' ? 'ROC AUC' : k}</th>
                  <td>{num(a?.[k])}</td>
                  <td>→ {num(b?.[k])}</td>
                  <td class={d === undefined || d === 0 ? '' : d > 0 ? 'better' : 'worse'} data-testid={`delta-${k}`}>
                    {delta(a?.[k], b?.[k])}
                  </td>
                </tr>
              );
            })}
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

const GUARD_TEXT: Record<NonNullable<AliasHistoryEntry['guard']>['outcome'], string> = {
  'not-applicable': 'no check (new alias)',
  'no-common-dataset': 'no check (no dataset evaluated in common)',
  passed: 'guard passed',
  overridden: 'guard overridden',
};

/** GET /v1/models/{name}/aliases/history: who moved which alias, when, from and to which version. */
function AliasHistorySection({ entries, error }: { entries: AliasHistoryEntry[] | null; error: string | null }) {
  return (
    <section class="card" aria-labelledby="alias-history-title" data-testid="alias-history">
      <h2 id="alias-history-title">Alias history</h2>
      {error && <Notice kind="error">{error}</Notice>}
      {!entries && !error && <p class="muted">Loading…</p>}
      {entries && entries.length === 0 && <p class="empty">No alias has been set or moved yet.</p>}
      {entries && entries.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Alias moves, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Alias</th>
                <th scope="col">Change</th>
                <th scope="col">By</th>
                <th scope="col">Guard</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e, i) => (
                <tr key={`${e.at}-${i}`}>
                  <td>{when(e.at)}</td>
                  <td>{e.alias}</td>
                  <td>
                    {e.action === 'delete' ? `removed (was v${e.from})` : e.from === null ? `set to v${e.to}` : `v${e.from} → v${e.to}`}
                  </td>
                  <td>
                    {e.by.name}
                    {e.by.role ? ` (${e.by.role})` : ''}
                  </td>
                  <td>
                    {e.forced && <span class="badge status-failed">forced</span>} {e.guard ? GUARD_TEXT[e.guard.outcome] : '–'}
                    {e.guard?.datasets?.length ? <span class="muted"> on {e.guard.datasets.join(', ')}</span> : null}
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
