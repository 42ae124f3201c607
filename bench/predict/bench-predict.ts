/**
 * npm run bench:predict [-- --duration 10 --connections 1,8,32 --size 256 --quality 90 --profile --no-malloc]
 *
 * Requests/s and p50/p99 latency of POST /v1/predict with a 2000x2000 grey JPEG (raw image/jpeg
 * body) at 1, 8 and 32 concurrent connections (autocannon, fixed duration each), against the real
 * API (src/server.ts) in a child process on a free port with a published ChestXRayNet (random
 * init, 256x256), next to what the same code does without HTTP in the same run (decode +
 * preprocess + predict in a loop over the same JPEG, batch 16), printed as a ratio.
 * Both children get the malloc setting (MALLOC_ENV) unless --no-malloc. Needs Redis at REDIS_URL
 * (the API's queue and model events; predictions themselves never touch it).
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { MALLOC_ENV } from '../../src/malloc-env.ts';
import { cpuLine } from '../cpu.ts';
import { flagReader, runJson as runJsonIn, startApi } from './common.ts';

const argv = process.argv.slice(2);
const flag = flagReader(argv);
const DURATION = Number(flag('duration', '10'));
const CONNECTIONS = flag('connections', '1,8,32').split(',').map(Number);
const SIZE = Number(flag('size', '256'));
const MALLOC = !argv.includes('--no-malloc');
const PROFILE = argv.includes('--profile');
const QUALITY = Number(flag('quality', '90'));

const runJson = (script: string, args: string[]) => runJsonIn(script, args, childEnv());

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', ...extra };
  for (const k of Object.keys(MALLOC_ENV)) delete env[k];
  if (MALLOC) Object.assign(env, MALLOC_ENV);
  return env;
}

/** CPU seconds (user + system) a process used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

async function batchCounters(base: string): Promise<{ count: number; sum: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { count: read('cxr_prediction_batch_size_count'), sum: read('cxr_prediction_batch_size_sum') };
}

const r1 = (x: number) => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cxr-bench-predict-'));
  const dataDir = path.join(dir, 'data');
  const jpegPath = path.join(dir, 'xray-2000.jpg');
  const worker = path.join('bench', 'predict', 'worker-direct.ts');
  let api: ChildProcess | undefined;
  try {
    const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');
    console.log(cpuLine());
    console.log(`${cpus().length} cores, load average ${load()} (other processes on these cores skew every number)`);
    console.log(`malloc env: ${MALLOC ? Object.entries(MALLOC_ENV).map(([k, v]) => `${k}=${v}`).join(' ') : 'OFF'}`);
    const prepared = await runJson(worker, ['prepare', dataDir, jpegPath, String(SIZE), String(QUALITY)]);
    console.log(`engine: ${String(prepared.engine)}; model ${SIZE}x${SIZE} (random init); JPEG 2000x2000 grey, quality ${QUALITY}, ${prepared.jpegBytes} bytes`);

    console.log(`\nwithout HTTP (${DURATION} s): decodeXray x16 concurrently, then predict the batch of 16 ...`);
    const before = await runJson(worker, ['direct', dataDir, jpegPath, String(DURATION), ...(PROFILE ? ['--profile'] : [])]);
    console.log(JSON.stringify(before, null, 1));

    let base: string;
    ({ api, base } = await startApi(dataDir, 'bench-predict', childEnv()));
    const jpeg = await readFile(jpegPath);
    const request = { url: `${base}/v1/predict`, method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg };
    const first = await fetch(request.url, { method: 'POST', headers: request.headers, body: jpeg });
    if (!first.ok) throw new Error(`first predict answered ${first.status}: ${await first.text()}`);
    console.log(`\nAPI up on ${base}; first answer: ${await first.text()}`);
    // Which runtime answers: the version's own (tfjs when it has no model.onnx), else the process's.
    const ready = (await (await fetch(`${base}/health/ready`)).json()) as { runtime?: string; models?: { loaded?: { runtime?: string }[] } };
    const servedBy = ready.models?.loaded?.[0]?.runtime ?? ready.runtime ?? 'unknown';
    console.log(`the API serves this version on ${servedBy}; the no-HTTP loop ran on ${String(before.runtime)}`);
    await autocannon({ ...request, connections: 8, duration: 3 }); // warm up (JIT, allocator, threads)

    // HTTP + upload + JSON error answer, without decode or model: a 404 for a version that is not there.
    const overheadCpu0 = cpuSeconds(api.pid!);
    const overhead = await autocannon({ ...request, url: `${request.url}?version=999`, connections: 8, duration: Math.max(3, DURATION / 2) });
    const overheadCpuMs = r1(((cpuSeconds(api.pid!) - overheadCpu0) * 1000) / Math.max(1, overhead.non2xx));

    const rows: Record<string, number>[] = [];
    for (const connections of CONNECTIONS) {
      const b0 = await batchCounters(base);
      const cpu0 = cpuSeconds(api.pid!);
      const self0 = process.cpuUsage();
      const res = await autocannon({ ...request, connections, duration: DURATION, timeout: 30 });
      const b1 = await batchCounters(base);
      const self = process.cpuUsage(self0);
      rows.push({
        connections,
        requestsPerSecond: r1(res.requests.average),
        p50: res.latency.p50,
        p99: res.latency.p99,
        max: res.latency.max,
        ok: res['2xx'],
        failed: res.non2xx + res.errors + res.timeouts,
        meanBatch: r1((b1.sum - b0.sum) / Math.max(1, b1.count - b0.count)),
        apiCpuCores: r1((cpuSeconds(api.pid!) - cpu0) / res.duration),
        apiCpuMsPerRequest: r1(((cpuSeconds(api.pid!) - cpu0) * 1000) / Math.max(1, res['2xx'])),
        clientCpuCores: r1((self.user + self.system) / 1e6 / res.duration),
      });
      console.log(JSON.stringify(rows.at(-1)));
    }

    api.kill('SIGTERM');
    await new Promise((r) => api!.once('exit', r));
    api = undefined;

    console.log(`\nwithout HTTP again (machine drift check) ...`);
    const after = await runJson(worker, ['direct', dataDir, jpegPath, String(DURATION)]);
    const loopRate = (d: Record<string, unknown>) => (d.loop as { imagesPerSecond: number }).imagesPerSecond;
    const pipeRate = (d: Record<string, unknown>) => (d.pipelined as { imagesPerSecond: number }).imagesPerSecond;
    const reference = (loopRate(before) + loopRate(after)) / 2;
    const pipelined = (pipeRate(before) + pipeRate(after)) / 2;

    console.log(`\n/v1/predict, 2000x2000 JPEG body, ${DURATION} s per level, malloc ${MALLOC ? 'on' : 'off'}, load average now ${load()}`);
    console.log('conns |  req/s | p50 ms | p99 ms | max ms | failed | mean batch | API cores | API CPU ms/req | client cores | vs no-HTTP loop');
    for (const r of rows) {
      console.log(
        `${String(r.connections).padStart(5)} | ${String(r.requestsPerSecond).padStart(6)} | ${String(r.p50).padStart(6)} | ${String(r.p99).padStart(6)} | ${String(r.max).padStart(6)} | ${String(r.failed).padStart(6)} | ${String(r.meanBatch).padStart(10)} | ${String(r.apiCpuCores).padStart(9)} | ${String(r.apiCpuMsPerRequest).padStart(14)} | ${String(r.clientCpuCores).padStart(12)} | ${Math.round((r.requestsPerSecond! / reference) * 100)}%`,
      );
    }
    const loopCpu = (d: Record<string, unknown>) => (d.loop as { cpuMsPerImage: number }).cpuMsPerImage;
    console.log(`no-HTTP loop (decode x16 then predict 16): ${loopRate(before)} / ${loopRate(after)} images/s (before / after), ${loopCpu(before)} / ${loopCpu(after)} CPU ms per image`);
    console.log(`no-HTTP pipelined (decode next 16 while predicting): ${pipeRate(before)} / ${pipeRate(after)} images/s`);
    console.log(`HTTP + upload + 404 JSON only (8 conns): ${r1(overhead.requests.average)} req/s, p50 ${overhead.latency.p50} ms, ${overheadCpuMs} API CPU ms per request`);
    const at32 = rows.find((r) => r.connections === 32);
    const at8 = rows.find((r) => r.connections === 8);
    if (at32) console.log(`issue 10 goal 4: 32 conns >= 85% of no-HTTP images/s: ${Math.round((at32.requestsPerSecond! / reference) * 100)}% (${Math.round((at32.requestsPerSecond! / pipelined) * 100)}% of the pipelined loop)`);
    if (at8) console.log(`issue 10 goal 4: 8 conns p99 <= 50 ms: ${at8.p99} ms`);
    console.log(
      JSON.stringify({ malloc: MALLOC, servedBy, size: SIZE, jpegBytes: prepared.jpegBytes, duration: DURATION, rows, noHttp: { before, after }, overhead: { requestsPerSecond: r1(overhead.requests.average), p50: overhead.latency.p50, p99: overhead.latency.p99, cpuMsPerRequest: overheadCpuMs } }),
    );
  } finally {
    if (api && api.exitCode === null) api.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
