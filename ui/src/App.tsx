import { useEffect, useState } from 'preact/hooks';
import { auth, describeError, probeRole } from './api.ts';
import { Notice } from './components/Notice.tsx';
import { useStore } from './store.ts';
import { CompareView } from './views/CompareView.tsx';
import { DatasetsView } from './views/DatasetsView.tsx';
import { HealthBar } from './views/HealthBar.tsx';
import { KeyPanel } from './views/KeyPanel.tsx';
import { ModelsView } from './views/ModelsView.tsx';
import { TrainingView } from './views/TrainingView.tsx';
import { TryView } from './views/TryView.tsx';
import { VersionView } from './views/VersionView.tsx';

type Route =
  | { view: 'datasets' }
  | { view: 'training'; jobId?: string }
  | { view: 'models'; name?: string }
  | { view: 'version'; name: string; version: number }
  | { view: 'compare'; name: string; a: number; b: number }
  | { view: 'try' };

/** Hash routes: #/datasets, #/training[/job], #/models[/name[/version]], #/compare/name/a/b, #/try. */
export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [view, x, y, z] = parts;
  if (view === 'datasets') return { view };
  if (view === 'training') return { view, jobId: x };
  if (view === 'try') return { view };
  if (view === 'compare' && x && Number(y) > 0 && Number(z) > 0) return { view, name: x, a: Number(y), b: Number(z) };
  if (view === 'models' && x && Number(y) > 0) return { view: 'version', name: x, version: Number(y) };
  if (view === 'models') return { view, name: x };
  return { view: 'models' };
}

const TABS = [
  { view: 'datasets', label: 'Datasets' },
  { view: 'training', label: 'Training' },
  { view: 'models', label: 'Models' },
  { view: 'try', label: 'Try it' },
] as const;

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function App() {
  const route = useRoute();
  const state = useStore(auth);
  const [startError, setStartError] = useState<string | null>(null);
  useEffect(() => {
    probeRole().catch((err: unknown) => setStartError(describeError(err)));
  }, []);

  const tab = route.view === 'version' || route.view === 'compare' ? 'models' : route.view;
  const locked = state.role === 'unknown' && state.problem !== null;
  const ready = state.role !== 'unknown';
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <div class="brand">
          <strong>ChestXRayNet</strong> <span class="muted">research use only</span>
        </div>
        <nav aria-label="Views">
          {TABS.map((t) => (
            <a key={t.view} href={`#/${t.view}`} aria-current={tab === t.view ? 'page' : undefined}>
              {t.label}
            </a>
          ))}
          <a href="/docs" class="muted">
            API docs
          </a>
        </nav>
        <KeyPanel />
      </header>
      <HealthBar />
      <main id="main" tabIndex={-1}>
        {startError && <Notice kind="error">{startError}</Notice>}
        {locked ? (
          <Notice kind="info" testId="needs-key">
            This service needs an API key ({state.problem}). Enter it above: it is kept for this tab only and sent as the x-api-key header. An admin
            key may do everything; a predict key may read and try images.
          </Notice>
        ) : !ready ? (
          !startError && <p class="muted">Connecting…</p>
        ) : (route.view === 'datasets' || route.view === 'training') && state.role === 'predict' ? (
          <Notice kind="info" testId="admin-only">
            {route.view === 'datasets' ? 'Datasets' : 'Training jobs'} are open to admin keys only; this tab's key has the predict role. It may read
            the models, predict and explain (Models, Try it). Enter an admin key above to upload, train, promote or delete.
          </Notice>
        ) : route.view === 'datasets' ? (
          <DatasetsView />
        ) : route.view === 'training' ? (
          <TrainingView jobId={route.jobId} />
        ) : route.view === 'version' ? (
          <VersionView name={route.name} version={route.version} />
        ) : route.view === 'compare' ? (
          <CompareView name={route.name} a={route.a} b={route.b} />
        ) : route.view === 'try' ? (
          <TryView />
        ) : (
          <ModelsView name={route.name} />
        )}
      </main>
    </>
  );
}
