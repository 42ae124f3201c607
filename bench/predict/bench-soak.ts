/**
 * npx tsx bench/predict/bench-soak.ts [-- --requests 100000 --swaps 50 --connections 8 --size 64 --side 512]
 *
 * A long run of the real API (src/server.ts in a child process, real Redis for model events): it
 * drives `--requests` POST /v1/predict (a `--side` x `--side` grey JPEG body) through HTTP with
 * `--connections` concurrent connections, in `--swaps` + 1 equal segments; between segments it moves
 * the `production` alias to the other of two published versions (PUT .../aliases/production), so
 * every replica-side swap (load, warm, switch, dispose) happens under load. After each segment it
 * reads GET /metrics: resident memory, V8 heap used, TensorFlow.js tensors alive. It prints one row
 * per sample and the growth of each from the end of warm-up (the first 10% of requests) to the end
 * (medians of 5 samples at each end): the goal is <= 5% for each. Failed requests are counted (a swap
 * must not fail any). CPU model and flags come first: numbers differ between CPUs of this kind.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { MALLOC_ENV } from '../../src/malloc-env.ts';
import { cpuLine } from '../cpu.ts';
import { flagReader, runJson as runJsonIn, startApi, waitFor } from './common.ts';

const flag = flagReader(process.argv.slice(2));
const REQUESTS = Number(flag('requests', '100000'));
const SWAPS = Number(flag('swaps', '50'));
const CONNECTIONS = Number(flag('connections', '8'));
const SIZE = Number(flag('size', '64'));
const SIDE = Number(flag('side', '512'));
const MODEL = 'chestxraynet';
const GOAL = 0.05;

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', ...MALLOC_ENV, ...extra };
}

const runJson = (script: string, args: string[]) => runJsonIn(script, args, childEnv({}));

interface Sample {
  readonly requests: number;
  readonly rssMb: number;
  readonly heapMb: number;
  readonly tensors: number;
  readonly version: number;
}

async function sample(base: string, requests: number, version: number): Promise<Sample> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const read = (name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    if (!m) throw new Error(`/metrics has no ${name}`);
    return Number(m[1]);
  };
  const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
  return { requests, rssMb: mb(read('cxr_process_resident_memory_bytes')), heapMb: mb(read('nodejs_heap_size_used_bytes')), tensors: read('cxr_tfjs_tensors'), version };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  console.log(cpuLine());
  console.log(`${REQUESTS} predictions, ${SWAPS} alias swaps, ${CONNECTIONS} connections, model ${SIZE}x${SIZE}, ${SIDE}x${SIDE} JPEG bodies`);
  const dir = await mkdtemp(path.join(tmpdir(), 'cxr-bench-soak-'));
  const dataDir = path.join(dir, 'data');
  const jpegPath = path.join(dir, 'xray.jpg');
  const worker = path.join('bench', 'predict', 'worker-direct.ts');
  let api: ChildProcess | undefined;
  try {
    // Two versions to swap between (random init; the numbers do not matter here, the memory does).
    await runJson(worker, ['prepare', dataDir, jpegPath, String(SIZE)]);
    await runJson(worker, ['prepare', dataDir, jpegPath, String(SIZE)]);
    const sharp = (await import('sharp')).default;
    const body = await sharp(await readFile(jpegPath)).resize(SIDE, SIDE).jpeg({ quality: 90 }).toBuffer();

    let base: string;
    ({ api, base } = await startApi(dataDir, 'bench-soak', childEnv({})));
    const setProduction = async (version: number) => {
      const res = await fetch(`${base}/v1/models/${MODEL}/aliases/production`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ version }),
      });
      if (!res.ok) throw new Error(`moving production to v${version} answered ${res.status}: ${await res.text()}`);
    };
    await setProduction(1);
    await waitFor(`${base}/health/ready`, api);
    const ready = (await (await fetch(`${base}/health/ready`)).json()) as {
      runtime: string;
      predictRuntime: { description: string };
      models: { loaded: { version: number; runtime?: string }[] };
    };
    // The process's runtime, and what each loaded version really runs on (tfjs for one without model.onnx).
    const versions = ready.models.loaded.map((m) => `v${m.version} on ${m.runtime ?? ready.runtime}`).join(', ');
    console.log(`serving runtime: ${ready.runtime} (${ready.predictRuntime.description}); ${versions}`);

    const segment = Math.max(1, Math.floor(REQUESTS / (SWAPS + 1)));
    const request = { url: `${base}/v1/predict`, method: 'POST' as const, headers: { 'content-type': 'image/jpeg' }, body };
    const samples: Sample[] = [await sample(base, 0, 1)];
    let done = 0;
    let failed = 0;
    let version = 1;
    const started = Date.now();
    console.log('requests |  RSS MB | heap MB | tensors | version | req/s');
    for (let s = 0; s <= SWAPS; s++) {
      const amount = s === SWAPS ? REQUESTS - done : segment;
      if (amount <= 0) break;
      const res = await autocannon({ ...request, connections: CONNECTIONS, amount, timeout: 30 });
      done += amount;
      failed += res.non2xx + res.errors + res.timeouts;
      const row = await sample(base, done, version);
      samples.push(row);
      console.log(
        `${String(done).padStart(8)} | ${String(row.rssMb).padStart(7)} | ${String(row.heapMb).padStart(7)} | ${String(row.tensors).padStart(7)} | ${String(version).padStart(7)} | ${Math.round(res.requests.average)}`,
      );
      if (s < SWAPS) {
        version = version === 1 ? 2 : 1;
        await setProduction(version);
      }
    }
    const seconds = (Date.now() - started) / 1000;
    // Both ends are medians of 5 samples (the heap moves with every GC): the 5 from the end of
    // warm-up on, and the last 5.
    const from = Math.max(1, samples.findIndex((x) => x.requests >= REQUESTS * 0.1));
    const warmSet = samples.slice(from, from + 5);
    const last = samples.slice(-5);
    const at = (set: Sample[], pick: (x: Sample) => number) => Math.round(median(set.map(pick)) * 10) / 10;
    const warm = { requests: warmSet[0]!.requests, rssMb: at(warmSet, (x) => x.rssMb), heapMb: at(warmSet, (x) => x.heapMb), tensors: at(warmSet, (x) => x.tensors) };
    const growth = (pick: (x: Sample) => number) => at(last, pick) / Math.max(1e-9, pick(warm as Sample)) - 1;
    const rss = growth((x) => x.rssMb);
    const heap = growth((x) => x.heapMb);
    const tensors = growth((x) => x.tensors);
    const pct = (g: number) => `${(g * 100).toFixed(1)}%`;
    const verdict = (g: number) => (g <= GOAL ? 'ok' : 'OVER');
    console.log(`\n${done} predictions and ${SWAPS} swaps in ${seconds.toFixed(0)} s (${Math.round(done / seconds)} req/s), ${failed} failed`);
    console.log(`growth from the end of warm-up (5 samples from ${warm.requests} requests on) to the last 5 samples (medians), goal <= ${pct(GOAL)}:`);
    console.log(`  RSS     ${warm.rssMb} -> ${at(last, (x) => x.rssMb)} MB: ${pct(rss)} ${verdict(rss)}`);
    console.log(`  heap    ${warm.heapMb} -> ${at(last, (x) => x.heapMb)} MB: ${pct(heap)} ${verdict(heap)}`);
    console.log(`  tensors ${warm.tensors} -> ${at(last, (x) => x.tensors)}: ${pct(tensors)} ${verdict(tensors)}`);
    console.log(JSON.stringify({ requests: done, swaps: SWAPS, failed, seconds, growth: { rss, heap, tensors }, samples }));
  } finally {
    if (api && api.exitCode === null) {
      api.kill('SIGTERM');
      await new Promise((r) => api!.once('exit', r));
    }
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
