/**
 * Helpers shared by the training benchmarks: child-process plumbing, peak RSS, generated images,
 * an in-memory ImageSource, and loading the project's training/prediction code when it exists
 * (those modules are written in parallel with this bench; until they land the workers fall back
 * to a bare loop and say so in their output).
 */
import { createRng } from '../../src/ml/random.ts';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ImageSource } from '../../src/ml/types.ts';
import { MALLOC_ENV } from '../../src/malloc-env.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

/** Peak resident set size of this process in MB (VmHWM), or null off Linux. */
export function peakRssMb(): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : null;
  } catch {
    return null;
  }
}

export function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer (got "${v}")`);
  return n;
}

/** `--name value` or `--name=value` from argv, else undefined. */
export function flag(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) return argv[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

export function hasFlag(argv: readonly string[], name: string): boolean {
  return argv.includes(`--${name}`);
}

/** Every `--env KEY=VALUE` from argv. */
export function envFlags(argv: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const kv = a === '--env' ? argv[i + 1] : a.startsWith('--env=') ? a.slice(6) : undefined;
    if (kv === undefined) continue;
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--env wants KEY=VALUE (got "${kv}")`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** The parent's environment with the malloc setting added, or with it removed. */
export function childEnv(malloc: boolean, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of Object.keys(MALLOC_ENV)) delete env[k];
  if (malloc) Object.assign(env, MALLOC_ENV);
  env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  return env;
}

/** libtensorflow start-up chatter that TF_CPP_MIN_LOG_LEVEL does not silence. */
const NOISE = /absl::InitializeLog|oneDNN custom operations are on/;

export interface ChildResult {
  readonly ok: boolean;
  readonly json?: Record<string, unknown>;
  readonly reason?: string;
  readonly seconds: number;
  /**
   * Share of the machine's CPU time (all cores) used by OTHER processes while the child ran:
   * busy time from /proc/stat minus the child's own CPU time (its `cpuSeconds`). Above ~0.1 the
   * child competed for cores and its numbers are low and noisy. Undefined when unknown.
   */
  readonly foreignCpu?: number;
}

/** Busy and total CPU time of the whole machine (all cores) in seconds, from /proc/stat. */
export function machineCpu(): { busy: number; total: number } | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: (total - idle) / 100, total: total / 100 };
  } catch {
    return undefined;
  }
}

/** This process's CPU seconds (user + system, all threads). */
export function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return Math.round(((u.user + u.system) / 1e6) * 100) / 100;
}

/**
 * Waits until the machine is quiet: `need` consecutive one-second samples with less than
 * `threshold` of all cores busy, for at most maxSeconds. Returns seconds waited, or -1 on timeout.
 */
export async function waitQuiet(maxSeconds: number, threshold = 0.15, need = 3): Promise<number> {
  const t0 = performance.now();
  let streak = 0;
  let prev = machineCpu();
  if (!prev) return 0;
  while ((performance.now() - t0) / 1000 < maxSeconds) {
    await new Promise((r) => setTimeout(r, 1000));
    const cur = machineCpu()!;
    const share = (cur.busy - prev.busy) / Math.max(cur.total - prev.total, 1e-9);
    prev = cur;
    streak = share < threshold ? streak + 1 : 0;
    if (streak >= need) return (performance.now() - t0) / 1000;
  }
  return -1;
}

/**
 * Runs a child to completion and returns the last stdout line that parses as a JSON object.
 * stderr is passed through (prefixed) so progress and engine banners stay visible.
 */
export function runChild(
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  label: string,
  timeoutMs = 600_000,
): Promise<ChildResult> {
  const t0 = performance.now();
  const cpu0 = machineCpu();
  const foreign = (json: Record<string, unknown> | undefined): number | undefined => {
    const cpu1 = machineCpu();
    const own = json?.cpuSeconds;
    if (!cpu0 || !cpu1 || typeof own !== 'number') return undefined;
    const share = (cpu1.busy - cpu0.busy - own) / Math.max(cpu1.total - cpu0.total, 1e-9);
    return Math.round(Math.max(0, share) * 1000) / 1000;
  };
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      resolve({ ok: false, reason: `spawn ${cmd} failed: ${String(err)}`, seconds: 0 });
      return;
    }
    let stdout = '';
    let stderrTail = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderrTail = (stderrTail + d).slice(-2000);
      for (const line of d.split('\n')) {
        if (line.trim() && !NOISE.test(line)) process.stderr.write(`  [${label}] ${line}\n`);
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, reason: `${cmd}: ${err.message}`, seconds: (performance.now() - t0) / 1000 });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      const lines = stdout.trim().split('\n').reverse();
      for (const line of lines) {
        try {
          const parsed: unknown = JSON.parse(line);
          if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
            const json = parsed as Record<string, unknown>;
            resolve({ ok: code === 0, json, seconds, foreignCpu: foreign(json) });
            return;
          }
        } catch {
          /* not the result line */
        }
      }
      const why = signal ? `killed by ${signal}` : `exit code ${code}`;
      const tail = stderrTail.trim().split('\n').slice(-3).join(' | ');
      resolve({ ok: false, reason: `${why}, no JSON result${tail ? `: ${tail}` : ''}`, seconds });
    });
  });
}

/** Spawns `node --import tsx <script>` (how the tfjs workers run). */
export function runNodeWorker(script: string, env: NodeJS.ProcessEnv, label: string, args: readonly string[] = []) {
  return runChild(process.execPath, ['--import', 'tsx', path.join(ROOT, script), ...args], env, label);
}

/** Deterministic PRNG: the ML code's own. */
export const mulberry32 = createRng;

/**
 * A cheap X-ray-like picture (two lighter lobes, noise; positives get a bright patch) written into
 * `out`. Cheaper than test/helpers/synthetic-xray.ts so that 10,000 images at 256x256 take seconds.
 */
export function fillXray(out: Uint8Array, size: number, positive: boolean, seed: number): void {
  const rand = mulberry32(seed);
  const shift = Math.round((rand() - 0.5) * size * 0.04);
  const pcx = (rand() < 0.5 ? 0.32 : 0.68) * size + (rand() - 0.5) * size * 0.1;
  const pcy = 0.5 * size + (rand() - 0.5) * size * 0.3;
  const pr2 = (0.1 * size) ** 2;
  const lx = [0.32 * size + shift, 0.68 * size + shift];
  const rx2 = (0.16 * size) ** 2;
  const ry2 = (0.3 * size) ** 2;
  const cy = 0.5 * size;
  let noise = (rand() * 4294967296) >>> 0;
  for (let y = 0; y < size; y++) {
    const dy2 = ((y - cy) * (y - cy)) / ry2;
    for (let x = 0; x < size; x++) {
      let val = 40;
      for (const cx of lx) {
        const d = ((x - cx) * (x - cx)) / rx2 + dy2;
        if (d < 1) val += 70 * (1 - d);
      }
      if (positive) {
        const d2 = ((x - pcx) * (x - pcx) + (y - pcy) * (y - pcy)) / pr2;
        if (d2 < 9) val += 110 * (1 - d2 / 9);
      }
      noise = (Math.imul(noise, 1664525) + 1013904223) >>> 0;
      val += ((noise >>> 24) - 128) / 8;
      out[y * size + x] = val < 0 ? 0 : val > 255 ? 255 : val;
    }
  }
}

/** An ImageSource over n generated images held in memory (labels alternate 0/1). */
export function memoryImageSource(n: number, size: number, seed = 1): ImageSource {
  const px = new Uint8Array(n * size * size);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    fillXray(px.subarray(i * size * size, (i + 1) * size * size), size, labels[i] === 1, seed * 100_003 + i);
  }
  const bytes = size * size;
  return {
    size,
    count: n,
    labels,
    readBatch(indices: readonly number[]): Promise<Uint8Array> {
      const out = new Uint8Array(indices.length * bytes);
      indices.forEach((idx, j) => {
        if (!(idx >= 0 && idx < n)) throw new RangeError(`image index ${idx} out of range`);
        out.set(px.subarray(idx * bytes, (idx + 1) * bytes), j * bytes);
      });
      return Promise.resolve(out);
    },
  };
}

/**
 * Imports a project module if its file exists; null when it does not (yet). Goes through a
 * runtime URL so the bench type-checks before the module is written.
 */
export async function importIfPresent(rel: string): Promise<Record<string, unknown> | null> {
  const file = path.join(ROOT, rel);
  if (!fs.existsSync(file)) return null;
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

export function writeResults(name: string, data: unknown): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = path.join(RESULTS_DIR, `${name}-${stamp}.json`);
  fs.writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
  fs.writeFileSync(path.join(RESULTS_DIR, `${name}-latest.json`), JSON.stringify(data, null, 2) + '\n');
  return file;
}

export function fmt(n: unknown, digits = 1): string {
  return typeof n === 'number' && Number.isFinite(n) ? n.toFixed(digits) : '-';
}
