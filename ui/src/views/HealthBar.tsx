import { useEffect, useState } from 'preact/hooks';
import { health, type HealthReport } from '../api.ts';
import { duration } from '../format.ts';

const POLL_MS = 5000;

/** Engine, workers, queue, loaded versions and Redis, from /health/ready and /metrics. */
export function HealthBar() {
  const [report, setReport] = useState<HealthReport | null>(null);
  useEffect(() => {
    let live = true;
    const tick = () =>
      void health().then((r) => {
        if (live) setReport(r);
      });
    tick();
    const timer = setInterval(tick, POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);

  const r = report?.ready;
  const q = report?.queue;
  const loaded = r?.models.loaded ?? [];
  return (
    <section class="healthbar" aria-label="Service health" data-testid="health">
      <span class={`pill ${r?.status === 'ready' ? 'pill-ok' : report ? 'pill-bad' : ''}`}>
        {!report ? 'checking…' : r?.status === 'ready' ? 'ready' : 'not ready'}
      </span>
      <Item label="Redis" value={r ? (r.redis ? 'up' : 'down') : '–'} bad={r ? !r.redis : false} />
      <Item label="Engine" value={r ? r.engine.name : '–'} title={r ? `${r.engine.description}; TensorFlow.js ${r.engine.tfjsVersion}${r.engine.fallbackReason ? `; fallback: ${r.engine.fallbackReason}` : ''}` : undefined} bad={r?.engine.name !== undefined && r.engine.name !== 'tensorflow'} />
      <Item label="Workers" value={r ? (r.workers === null ? 'unknown' : String(r.workers)) : '–'} bad={r?.workers === 0} />
      <Item label="Queued" value={q ? String(q.queued ?? 0) : 'n/a'} title={q ? undefined : '/metrics is not readable with this key'} />
      <Item label="Running" value={q ? String(q.running ?? 0) : 'n/a'} />
      <Item
        label="Loaded here"
        value={loaded.length ? loaded.map((m) => `${m.name} v${m.version}`).join(', ') : 'none yet'}
        title="Model versions loaded and warm in the API process that answered"
      />
      <Item label="Up" value={r ? duration(r.uptimeSeconds) : '–'} />
      {report?.error && <span class="health-error">{report.error}</span>}
    </section>
  );
}

function Item({ label, value, title, bad }: { label: string; value: string; title?: string; bad?: boolean }) {
  return (
    <span class={`health-item${bad ? ' health-bad' : ''}`} title={title}>
      <span class="muted">{label}</span> <strong>{value}</strong>
    </span>
  );
}
