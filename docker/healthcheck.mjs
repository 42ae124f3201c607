// Container health check (Dockerfile HEALTHCHECK, docker-compose.yml). The same image runs both
// processes: an api is healthy when GET /health/ready answers 200 (Redis answers); a worker has
// no HTTP port and is healthy while it runs (the container stops when its process does).
/* global fetch, AbortSignal */
import { readFileSync } from 'node:fs';

let pid1 = [];
try {
  pid1 = readFileSync('/proc/1/cmdline', 'utf8').split('\0');
} catch {
  // not Linux: assume an api
}
if (pid1.includes('worker')) process.exit(0);

// When API keys are on and operational routes are closed, probe with the first key.
const key = (process.env.API_KEYS ?? '').split(',').map((s) => s.trim()).filter(Boolean)[0];
const headers = key ? { 'x-api-key': key.replace(/:(admin|predict)$/, '') } : {};
const url = `http://127.0.0.1:${process.env.PORT || 3000}/health/ready`;
try {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(4000) });
  if (!res.ok) console.error(`${url} answered ${res.status}`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  console.error(`${url}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
