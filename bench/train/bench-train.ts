/**
 * Training and prediction throughput of ChestXRayNet at 256x256, batch 16, on the engine in use,
 * next to the same net in PyTorch measured in the same run; each with and without the malloc
 * setting; peak RSS of each. `npm run bench:train [-- flags]`.
 *
 * Every measurement runs in its own child process, because the malloc setting only works when it
 * is in the environment at process start: tfjs children are `node --import tsx
 * bench/train/worker-train.ts`, PyTorch children are `/usr/bin/python3 bench/train/torch_reference.py`.
 * Children run one after another (two cores: never in parallel). Each prints one JSON line.
 *
 * Flags (or the env vars in brackets):
 *   --warmup N (BENCH_WARMUP, 3)     warm-up training batches, not timed
 *   --batches N (BENCH_BATCHES, 45)  timed training batches (15 spread by 25% on a drifting VM)
 *   --predict-iters N (BENCH_PREDICT_ITERS, 30)  timed predictions at batch 1 (a third at batch 16)
 *   --repeat N (BENCH_REPEAT, 1)     run every configuration N times, interleaved; report the median
 *   --no-torch                       skip the PyTorch reference
 *   --only-malloc                    only the runs with the malloc setting
 *   --no-augment                     skip the tfjs run with RECOMMENDED_AUGMENTATION (src/ml/types.ts),
 *                                    which otherwise runs with the malloc setting beside the one without
 *   --env KEY=VALUE                  extra environment for every child (repeatable), e.g.
 *                                    --env TF_NUM_INTEROP_THREADS=1
 *   --isa avx2|avx512                oneDNN in every child (tfjs and PyTorch) capped at AVX2, or at
 *                                    AVX-512 without VNNI/BF16/AMX: an AVX2-only machine's kernels
 *                                    on this one (bench/cpu.ts isaCapEnv)
 *   --tag NAME                       name of the results file (bench/results/train-NAME-*.json)
 *   --python PATH (TORCH_PYTHON, /usr/bin/python3)
 *   --wait-quiet S (BENCH_WAIT_QUIET, 30)  before each child, wait up to S seconds for the machine
 *                                    to be idle (3 s under 15% busy); 0 = don't wait
 * The "other CPU" column is the share of all cores that OTHER processes used while a child ran;
 * above 10% the numbers are disturbed (PyTorch's spinning OpenMP threads suffer most).
 * No timed assertions: it reports; it never fails on speed.
 */
import fs from 'node:fs';
import os from 'node:os';
import { MALLOC_ENV } from '../../src/malloc-env.ts';
import { cpuInfo, cpuLine, isaCapEnv } from '../cpu.ts';
import {
  childEnv,
  envFlags,
  envInt,
  flag,
  fmt,
  hasFlag,
  runChild,
  runNodeWorker,
  waitQuiet,
  writeResults,
  type ChildResult,
} from './common.ts';

const argv = process.argv.slice(2);
const num = (name: string, envName: string, dflt: number) => {
  const v = flag(argv, name);
  if (v === undefined) return envInt(envName, dflt);
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`--${name} wants a non-negative integer (got "${v}")`);
  return n;
};
const warmup = num('warmup', 'BENCH_WARMUP', 3);
const batches = num('batches', 'BENCH_BATCHES', 45);
const predictIters = num('predict-iters', 'BENCH_PREDICT_ITERS', 30);
const repeat = Math.max(1, num('repeat', 'BENCH_REPEAT', 1));
const noTorch = hasFlag(argv, 'no-torch');
const onlyMalloc = hasFlag(argv, 'only-malloc');
const noAugment = hasFlag(argv, 'no-augment');
const extraEnv = { ...isaCapEnv(argv), ...envFlags(argv) };
const tag = flag(argv, 'tag');
const python = flag(argv, 'python') ?? process.env.TORCH_PYTHON ?? '/usr/bin/python3';
const waitQuietSeconds = num('wait-quiet', 'BENCH_WAIT_QUIET', 30);
const DISTURBED = 0.1;
/** Issue 10's goals: tfjs training / PyTorch's, and training with augmentation / without. */
const TRAIN_GOAL = 1.05;
const AUGMENT_GOAL = 0.9;

const countsEnv = {
  BENCH_WARMUP: String(warmup),
  BENCH_BATCHES: String(batches),
  BENCH_PREDICT_ITERS: String(predictIters),
};

interface Run {
  readonly key: string;
  readonly engine: 'tfjs' | 'pytorch';
  readonly malloc: boolean;
  readonly augment?: boolean;
}

const mallocs = onlyMalloc ? [true] : [true, false];
const runs: Run[] = [];
for (const malloc of mallocs) {
  runs.push({ key: `tfjs${malloc ? '+malloc' : ''}`, engine: 'tfjs', malloc });
  if (malloc && !noAugment) runs.push({ key: 'tfjs+malloc+augment', engine: 'tfjs', malloc, augment: true });
  if (!noTorch) runs.push({ key: `pytorch${malloc ? '+malloc' : ''}`, engine: 'pytorch', malloc });
}

function banner(line: string): void {
  const bar = '='.repeat(line.length + 4);
  console.log(`\n${bar}\n| ${line} |\n${bar}`);
}

function median(xs: number[]): number | undefined {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1]! + v[m]!) / 2;
}

const get = (j: Record<string, unknown> | undefined, ...keys: string[]): number | undefined => {
  let cur: unknown = j;
  for (const k of keys) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined;
  return typeof cur === 'number' ? cur : undefined;
};

async function runOne(run: Run, i: number): Promise<ChildResult> {
  const env = childEnv(run.malloc, { ...countsEnv, ...extraEnv, ...(run.augment ? { BENCH_AUGMENT: '1' } : {}) });
  const label = `${run.key}#${i + 1}`;
  const waited = waitQuietSeconds > 0 ? await waitQuiet(waitQuietSeconds) : 0;
  console.log(`- ${label}: running ...${waited < 0 ? ` (machine still busy after waiting ${waitQuietSeconds} s)` : ''}`);
  let r: ChildResult;
  if (run.engine === 'tfjs') {
    r = await runNodeWorker('bench/train/worker-train.ts', env, label);
  } else if (!fs.existsSync(python)) {
    r = { ok: false, reason: `${python} not found (apt-get install -y python3-torch)`, seconds: 0 };
  } else {
    r = await runChild(python, ['bench/train/torch_reference.py'], env, label);
    if (r.json && r.json.available === false) r = { ok: false, reason: String(r.json.reason), seconds: r.seconds };
  }
  const j = r.json;
  console.log(
    r.ok && j
      ? `  ${label}: train ${fmt(get(j, 'trainImagesPerSecond'))} img/s, predict b1 ${fmt(get(j, 'predictImagesPerSecond', '1'))}, ` +
          `b16 ${fmt(get(j, 'predictImagesPerSecond', '16'))}, peak RSS ${fmt(get(j, 'peakRssMb'), 0)} MB (${r.seconds.toFixed(1)} s` +
          `${r.foreignCpu !== undefined ? `, other processes ${(r.foreignCpu * 100).toFixed(0)}% CPU` : ''})`
      : `  ${label}: FAILED - ${r.reason}`,
  );
  return r;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const load0 = os.loadavg()[0]!;
  console.log(
    `bench:train  ChestXRayNet 256x256 batch 16; warm-up ${warmup} + ${batches} timed batches; ` +
      `predict ${predictIters} x b1, ${Math.max(3, Math.round(predictIters / 3))} x b16; repeat ${repeat}; ` +
      `${os.cpus().length} CPUs; load average ${load0.toFixed(2)}` +
      (Object.keys(extraEnv).length ? `; extra env ${JSON.stringify(extraEnv)}` : ''),
  );
  console.log(cpuLine());
  console.log(`malloc setting: ${Object.entries(MALLOC_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  if (load0 > 0.7) console.log(`WARNING: load average ${load0.toFixed(2)} before starting: other work is on the CPUs; numbers will be low and noisy`);

  const results = new Map<string, ChildResult[]>(runs.map((r) => [r.key, []]));
  for (let i = 0; i < repeat; i++) {
    for (const run of runs) results.get(run.key)!.push(await runOne(run, i));
  }

  const summary: Record<string, { train?: number; p1?: number; p16?: number; rss?: number; foreign?: number; detail: ChildResult[] }> = {};
  for (const [key, rs] of results) {
    const ok = rs.filter((r) => r.ok && r.json);
    summary[key] = {
      train: median(ok.map((r) => get(r.json, 'trainImagesPerSecond')!)),
      p1: median(ok.map((r) => get(r.json, 'predictImagesPerSecond', '1')!)),
      p16: median(ok.map((r) => get(r.json, 'predictImagesPerSecond', '16')!)),
      rss: median(ok.map((r) => get(r.json, 'peakRssMb')!)),
      foreign: ok.some((r) => r.foreignCpu !== undefined) ? Math.max(...ok.map((r) => r.foreignCpu ?? 0)) : undefined,
      detail: rs,
    };
  }

  const firstTfjs = results.get(runs[0]!.key)!.find((r) => r.json)?.json;
  const engineName = typeof firstTfjs?.engine === 'string' ? firstTfjs.engine : 'unknown (tfjs worker failed)';
  banner(`ENGINE IN USE: ${engineName.toUpperCase()}${firstTfjs?.engineDescription ? ` - ${String(firstTfjs.engineDescription)}` : ''}`);
  if (firstTfjs) {
    console.log(`training code: ${String(firstTfjs.trainMode)}`);
    console.log(`standardisation: ${String(firstTfjs.standardisation)}`);
    console.log(`prediction: ${String(firstTfjs.predictMode)}`);
  }

  const torchFail = runs.some((r) => r.engine === 'pytorch')
    ? results.get(runs.find((r) => r.engine === 'pytorch')!.key)!.find((r) => !r.ok)
    : undefined;
  const torchUnavailable = noTorch
    ? 'skipped (--no-torch)'
    : torchFail && !runs.filter((r) => r.engine === 'pytorch').some((r) => summary[r.key]!.train !== undefined)
      ? torchFail.reason
      : undefined;
  const torchJson = runs.filter((r) => r.engine === 'pytorch').flatMap((r) => results.get(r.key)!).find((r) => r.json?.available)?.json;
  console.log(
    torchUnavailable
      ? `PyTorch reference: unavailable (${torchUnavailable})`
      : `PyTorch reference: torch ${String(torchJson?.version)} on ${python} (python ${String(torchJson?.python)}), ${String(torchJson?.threads)} threads`,
  );

  const header = ['run', 'train img/s', 'predict b1 img/s', 'predict b16 img/s', 'peak RSS MB', 'other CPU'];
  const rows = runs.map((r) => {
    const s = summary[r.key]!;
    const other = s.foreign === undefined ? '-' : `${(s.foreign * 100).toFixed(0)}%${s.foreign > DISTURBED ? ' !' : ''}`;
    return [r.key, fmt(s.train), fmt(s.p1), fmt(s.p16), fmt(s.rss, 0), other];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const row of rows) console.log(line(row));

  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  const ratios: Record<string, Record<string, number | undefined>> = {};
  if (!torchUnavailable) {
    console.log('\nratios tfjs / PyTorch (same run):');
    for (const malloc of mallocs) {
      const t = summary[`tfjs${malloc ? '+malloc' : ''}`]!;
      const p = summary[`pytorch${malloc ? '+malloc' : ''}`]!;
      const name = malloc ? 'both with malloc setting' : 'both without malloc setting';
      ratios[name] = { train: ratio(t.train, p.train), predict1: ratio(t.p1, p.p1), predict16: ratio(t.p16, p.p16) };
      console.log(
        `  ${name.padEnd(28)} train ${fmt(ratios[name]!.train, 2)}x   predict b1 ${fmt(ratios[name]!.predict1, 2)}x   predict b16 ${fmt(ratios[name]!.predict16, 2)}x`,
      );
    }
    if (!onlyMalloc) {
      const t = summary['tfjs']!;
      const p = summary['pytorch+malloc']!;
      ratios['tfjs without vs PyTorch with malloc'] = { train: ratio(t.train, p.train) };
      console.log(`  ${'tfjs without / PyTorch with'.padEnd(28)} train ${fmt(ratio(t.train, p.train), 2)}x`);
    }
  }
  const worst = Math.max(0, ...Object.values(summary).map((s) => s.foreign ?? 0));
  const disturbed = worst > DISTURBED;
  if (disturbed) {
    console.log(
      `\nWARNING: other processes used up to ${(worst * 100).toFixed(0)}% of the CPUs during the runs marked '!': ` +
        'those numbers are low and the ratios unreliable; rerun on a quiet machine (or with --repeat 3).',
    );
  }
  const goal = ratio(summary['tfjs+malloc']?.train, summary['pytorch+malloc']?.train);
  const goalAugmented = ratio(summary['tfjs+malloc+augment']?.train, summary['pytorch+malloc']?.train);
  const augmentCost = ratio(summary['tfjs+malloc+augment']?.train, summary['tfjs+malloc']?.train);
  const unreliable = disturbed ? ' [UNRELIABLE: machine was busy]' : '';
  console.log(
    `\ngoal: training >= ${TRAIN_GOAL}x PyTorch with malloc setting -> ` +
      (goal === undefined ? 'not measured (no PyTorch reference)' : `reached ${goal.toFixed(2)}x (${goal >= TRAIN_GOAL ? 'met' : 'not met'})${unreliable}`),
  );
  if (augmentCost !== undefined) {
    console.log(
      `goal: with RECOMMENDED_AUGMENTATION at most ${Math.round((1 - AUGMENT_GOAL) * 100)}% slower -> ` +
        `${Math.round((1 - augmentCost) * 100)}% slower (${augmentCost >= AUGMENT_GOAL ? 'met' : 'not met'})` +
        `${goalAugmented !== undefined ? `; with it ${goalAugmented.toFixed(2)}x PyTorch` : ''}${unreliable}`,
    );
  }
  const load1 = os.loadavg()[0]!;
  const seconds = (performance.now() - t0) / 1000;
  console.log(`load average at end ${load1.toFixed(2)}; ${seconds.toFixed(0)} s in all`);

  const file = writeResults(tag ? `train-${tag}` : 'train', {
    date: new Date().toISOString(),
    host: { cpu: cpuInfo(), loadAverageStart: load0, loadAverageEnd: load1 },
    settings: { warmup, batches, predictIters, repeat, extraEnv, mallocEnv: MALLOC_ENV, python, waitQuietSeconds },
    disturbed: { worstForeignCpu: worst, unreliable: disturbed },
    engine: engineName,
    torch: torchUnavailable ? { available: false, reason: torchUnavailable } : { available: true, version: torchJson?.version },
    summary: Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, { train: v.train, predict1: v.p1, predict16: v.p16, peakRssMb: v.rss, foreignCpu: v.foreign, runs: v.detail }])),
    ratios,
    goal: { text: `training >= ${TRAIN_GOAL}x PyTorch with malloc setting`, ratio: goal },
    augmentation: { withOverWithout: augmentCost, goal: AUGMENT_GOAL, vsPyTorch: goalAugmented },
    seconds,
  });
  console.log(`results: ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
