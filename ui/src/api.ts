/**
 * The one client of the public API (the same routes a REST client uses; see openapi.yaml).
 * Every call sends the tab's API key (sessionStorage) as x-api-key, turns error bodies
 * ({"error":{"code","message"}}) into ApiError, and reports 401/403 to the auth store so the
 * whole page can say what they mean.
 */
import { createStore } from './store.ts';
import type {
  AliasHistoryEntry,
  ApiErrorBody,
  Evaluation,
  Dataset,
  ExplainResponse,
  Job,
  JobStatus,
  ModelCard,
  ModelDetail,
  ModelSummary,
  ModelVersion,
  PredictResponse,
  ProgressEvent,
  Readiness,
} from './types.ts';

const KEY_STORAGE = 'cxr.apiKey';

export type Role = 'open' | 'admin' | 'predict' | 'unknown';

export interface AuthState {
  /** The tab's key ('' when none). */
  key: string;
  /** open: the service has no API keys; admin/predict: the key's role; unknown: not found out yet. */
  role: Role;
  /** Set when the API answered 401: no key, or a key it does not know. */
  problem: string | null;
}

function storedKey(): string {
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

export const auth = createStore<AuthState>({ key: storedKey(), role: 'unknown', problem: null });

/** True when admin actions (uploads, training, aliases, deletes) may be tried. */
export const canAdmin = (s: AuthState): boolean => s.role === 'open' || s.role === 'admin';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** What an error means to the person at the screen. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401) return `Not signed in: ${err.message}. Enter an API key above.`;
    if (err.status === 403) return `Not allowed with this key: ${err.message}.`;
    if (err.status === 0) return err.message;
    return `${err.message} (${err.code}, HTTP ${err.status})`;
  }
  if (err instanceof DOMException && err.name === 'AbortError') return 'Stopped.';
  return err instanceof Error ? err.message : String(err);
}

function authHeaders(): Record<string, string> {
  const { key } = auth.get();
  return key ? { 'x-api-key': key } : {};
}

function noteAuthFailure(status: number, message: string): void {
  if (status === 401) auth.set({ ...auth.get(), problem: message, role: 'unknown' });
  else if (status === 403 && auth.get().role !== 'open') auth.set({ ...auth.get(), role: 'predict' });
}

async function errorFrom(res: Response): Promise<ApiError> {
  let body: Partial<ApiErrorBody> = {};
  try {
    body = (await res.json()) as ApiErrorBody;
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  const e = body.error;
  const err = new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? (res.statusText || 'request failed'), e?.details);
  noteAuthFailure(err.status, err.message);
  return err;
}

interface RequestOptions {
  method?: string;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

async function send(path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders(), ...opts.headers };
  let body = opts.body;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  let res: Response;
  try {
    res = await fetch(path, { method: opts.method ?? 'GET', headers, body, signal: opts.signal });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK', 'The API did not answer: is the service running?');
  }
  if (!res.ok) throw await errorFrom(res);
  return res;
}

async function json<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(path, opts);
  return res.status === 204 ? (undefined as T) : ((await res.json()) as T);
}

/** Sets the tab's key (kept in sessionStorage only) and finds out its role. */
export async function setApiKey(key: string): Promise<Role> {
  const trimmed = key.trim();
  try {
    if (trimmed) sessionStorage.setItem(KEY_STORAGE, trimmed);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage disabled: the key lives in memory for this page.
  }
  auth.set({ key: trimmed, role: 'unknown', problem: null });
  return probeRole();
}

/**
 * Finds out whether the service wants keys and what the tab's key may do. The API has no
 * "who am I" route, so the role comes from two harmless requests: reading the models list (any
 * key), then an empty training-job submission, which an admin key gets as 400 (no dataset named,
 * nothing queued) and a predict key as 403.
 */
export async function probeRole(): Promise<Role> {
  try {
    await send('/v1/models');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return 'unknown';
    throw err;
  }
  let role: Role;
  if (!auth.get().key) role = 'open';
  else {
    const res = await fetch('/v1/training-jobs', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...authHeaders() },
      body: '{}',
    });
    role = res.status === 403 ? 'predict' : 'admin';
  }
  auth.set({ ...auth.get(), role, problem: null });
  return role;
}

// ---- operations

export interface HealthReport {
  ready: Readiness | null;
  /** Jobs by state from /metrics (the queue read at scrape time); null when not exposed. */
  queue: Partial<Record<JobStatus, number>> | null;
  error: string | null;
}

/** /health/ready (200 or 503 with the same report) and the job gauges of /metrics. */
export async function health(): Promise<HealthReport> {
  let ready: Readiness | null = null;
  let error: string | null = null;
  try {
    const res = await fetch('/health/ready', { headers: { accept: 'application/json', ...authHeaders() } });
    const body = (await res.json()) as Readiness & Partial<ApiErrorBody>;
    if (res.ok || res.status === 503) ready = body;
    if (!res.ok) error = body.error?.message ?? `HTTP ${res.status}`;
  } catch {
    error = 'The API did not answer';
  }
  let queue: HealthReport['queue'] = null;
  try {
    const res = await fetch('/metrics', { headers: authHeaders() });
    if (res.ok) queue = parseJobGauges(await res.text());
  } catch {
    // /metrics may be closed to this key or absent; the bar shows what it has.
  }
  return { ready, queue, error };
}

const GAUGE_LINE = /^cxr_training_jobs\{state="([a-z]+)"\} (\d+)$/;

/** The `cxr_training_jobs{state="..."} N` lines of the Prometheus text. */
export function parseJobGauges(text: string): Partial<Record<JobStatus, number>> | null {
  const out: Partial<Record<JobStatus, number>> = {};
  let found = false;
  for (const line of text.split('\n')) {
    const m = GAUGE_LINE.exec(line.trim());
    if (m) {
      out[m[1] as JobStatus] = Number(m[2]);
      found = true;
    }
  }
  return found ? out : null;
}

// ---- datasets

export const listDatasets = () => json<{ datasets: Dataset[] }>('/v1/datasets').then((r) => r.datasets);
export const getDataset = (id: string) => json<Dataset>(`/v1/datasets/${encodeURIComponent(id)}`);
export const deleteDataset = (id: string) => json<void>(`/v1/datasets/${encodeURIComponent(id)}`, { method: 'DELETE' });

export interface UploadProgress {
  /** sending: bytes are going out; importing: all sent, the server checks and decodes every entry. */
  phase: 'sending' | 'importing';
  loaded: number;
  total: number;
}

/**
 * POST /v1/datasets with XMLHttpRequest, whose upload events give real byte counts (fetch
 * has none for request bodies).
 */
export function uploadDataset(form: FormData, onProgress: (p: UploadProgress) => void, signal?: AbortSignal): Promise<Dataset> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/datasets');
    xhr.setRequestHeader('accept', 'application/json');
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => onProgress({ phase: 'sending', loaded: e.loaded, total: e.lengthComputable ? e.total : 0 });
    xhr.upload.onload = () => onProgress({ phase: 'importing', loaded: 1, total: 1 });
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'The upload was cut off: the API did not answer'));
    xhr.onabort = () => reject(new DOMException('Upload cancelled', 'AbortError'));
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // handled below
      }
      if (xhr.status >= 200 && xhr.status < 300 && body) return resolve(body as Dataset);
      const e = (body as Partial<ApiErrorBody> | null)?.error;
      const err = new ApiError(xhr.status, e?.code ?? `HTTP_${xhr.status}`, e?.message ?? (xhr.statusText || 'upload failed'), e?.details);
      noteAuthFailure(err.status, err.message);
      reject(err);
    };
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

// ---- training jobs

export const listJobs = (limit = 50) => json<{ jobs: Job[] }>(`/v1/training-jobs?limit=${limit}`).then((r) => r.jobs);
export const getJob = (id: string) => json<Job>(`/v1/training-jobs/${encodeURIComponent(id)}`);
export const submitJob = (body: unknown) => json<Job>('/v1/training-jobs', { method: 'POST', json: body });
export const cancelJob = (id: string) => json<Job>(`/v1/training-jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' });

export type JobEvent =
  | { type: 'status' | 'completed' | 'failed' | 'cancelled'; job: Job }
  | { type: 'progress'; progress: ProgressEvent };

const FINAL = new Set(['completed', 'failed', 'cancelled']);

/**
 * Follows GET /v1/training-jobs/{id}/events. Read with fetch rather than EventSource so the API
 * key goes in a header; reconnects after a dropped connection (each new stream starts with the
 * whole job) until a final event arrives or `signal` aborts.
 */
export async function followJob(id: string, onEvent: (e: JobEvent) => void, signal: AbortSignal): Promise<void> {
  let retryMs = 2000;
  while (!signal.aborted) {
    let finished = false;
    try {
      const res = await send(`/v1/training-jobs/${encodeURIComponent(id)}/events`, { headers: { accept: 'text/event-stream' }, signal });
      if (!res.body) throw new Error('no event stream');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, '\n');
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const parsed = parseSseBlock(block);
          if (parsed.retry) retryMs = parsed.retry;
          if (!parsed.event || parsed.data === undefined) continue;
          const data = JSON.parse(parsed.data) as unknown;
          if (parsed.event === 'progress') onEvent({ type: 'progress', progress: data as ProgressEvent });
          else onEvent({ type: parsed.event as 'status', job: data as Job });
          if (FINAL.has(parsed.event)) finished = true;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw err;
    }
    if (finished) return;
    await new Promise((r) => setTimeout(r, retryMs));
  }
}

/** One SSE block: `event:`, `data:` (joined), `retry:`; comment lines are ignored. */
export function parseSseBlock(block: string): { event?: string; data?: string; retry?: number } {
  const out: { event?: string; data?: string; retry?: number } = {};
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') out.event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'retry' && /^\d+$/.test(value)) out.retry = Number(value);
  }
  if (data.length) out.data = data.join('\n');
  if (out.data !== undefined && !out.event) out.event = 'message';
  return out;
}

// ---- models

export const listModels = () => json<{ defaultModel: string; models: ModelSummary[] }>('/v1/models');
export const getModel = (name: string) => json<ModelDetail>(`/v1/models/${encodeURIComponent(name)}`);
export const getVersion = (name: string, version: number) =>
  json<ModelVersion>(`/v1/models/${encodeURIComponent(name)}/versions/${version}`);
export const deleteVersion = (name: string, version: number) =>
  json<void>(`/v1/models/${encodeURIComponent(name)}/versions/${version}`, { method: 'DELETE' });
/** PUT the alias; `force` overrides the promotion guard (409 PROMOTION_WORSE otherwise). */
export const setAlias = (name: string, alias: string, version: number, force = false) =>
  json<{ alias: string; version: number; previous: number | null }>(
    `/v1/models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias)}`,
    { method: 'PUT', json: force ? { version, force: true } : { version } },
  );
export const aliasHistory = (name: string, limit = 20) =>
  json<{ name: string; entries: AliasHistoryEntry[] }>(`/v1/models/${encodeURIComponent(name)}/aliases/history?limit=${limit}`).then((r) => r.entries);
export const getCard = (name: string, version: number) =>
  json<ModelCard>(`/v1/models/${encodeURIComponent(name)}/versions/${version}/card`);

// ---- external evaluations

const evaluationsPath = (name: string, version: number) => `/v1/models/${encodeURIComponent(name)}/versions/${version}/evaluations`;
export const listEvaluations = (name: string, version: number) =>
  json<{ evaluations: Evaluation[] }>(evaluationsPath(name, version)).then((r) => r.evaluations);
export const getEvaluation = (name: string, version: number, id: string) =>
  json<Evaluation>(`${evaluationsPath(name, version)}/${encodeURIComponent(id)}`);
export const startEvaluation = (name: string, version: number, body: { datasetId: string; groupPattern?: string }) =>
  json<Evaluation>(evaluationsPath(name, version), { method: 'POST', json: body });

// ---- predictions

/** Which version answers: an alias, a version number, or the service's default (production, else latest). */
export type Target = { version: number } | { alias: string } | null;

function targetQuery(target: Target, model?: string): string {
  const q = new URLSearchParams();
  if (model) q.set('model', model);
  if (target && 'version' in target) q.set('version', String(target.version));
  if (target && 'alias' in target) q.set('alias', target.alias);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** POST /v1/models/{name}/predict with every file as an `image` part; answers in file order. */
export function predict(model: string, files: File[], target: Target): Promise<PredictResponse> {
  const form = new FormData();
  for (const f of files) form.append('image', f, f.name);
  return json<PredictResponse>(`/v1/models/${encodeURIComponent(model)}/predict${targetQuery(target)}`, { method: 'POST', body: form });
}

/** POST /v1/explain (JSON answer): probability and the Grad-CAM overlay as base64 PNG. */
export function explain(model: string, file: File, target: Target): Promise<ExplainResponse> {
  const form = new FormData();
  form.append('image', file, file.name);
  return json<ExplainResponse>(`/v1/explain${targetQuery(target, model)}`, { method: 'POST', body: form });
}
