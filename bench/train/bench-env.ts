/**
 * A/B of environment settings for the tfjs training worker: runs worker-train.ts once per variant
 * per round, rounds interleaved (A B C A B C ...) so drift on a shared machine hits every variant
 * alike, and reports the median of each. The malloc setting is on in every variant unless a
 * variant says MALLOC=off. `npx tsx bench/train/bench-env.ts --repeat 3 \
 *    --variant base= --variant intra1=TF_NUM_INTRAOP_THREADS=1 --variant onednn0=TF_ENABLE_ONEDNN_OPTS=0`
 * A variant is NAME=KEY=VALUE[,KEY=VALUE...]; NAME= alone is the baseline. Counts as bench-train
 * (--warmup, --batches, --predict-iters). Pass --torch to add the PyTorch reference as a variant.
 */
import os from 'node:os';
import { childEnv, envInt, flag, fmt, runChild, runNodeWorker, waitQuiet, writeResults, type ChildResult } from './common.ts';

const argv = process.argv.slice(2);
const repeat = Number(flag(argv, 'repeat') ?? 3);
const counts = {
  BENCH_WARMUP: flag(argv, 'warmup') ?? String(envInt('BENCH_WARMUP', 3)),
  BENCH_BATCHES: flag(argv, 'batches') ?? String(envInt('BENCH_BATCHES', 15)),
  BENCH_PREDICT_ITERS: flag(argv, 'predict-iters') ?? String(envInt('BENCH_PREDICT_ITERS', 30)),
};

interface Variant {
  name: string;
  env: Record<string, string>;
  malloc: boolean;
  torch?: boolean;
}

const variants: Variant[] = [];
for (let i = 0; i < argv.length; i++) {
  const spec = argv[i] === '--variant' ? argv[i + 1] : argv[i]!.startsWith('--variant=') ? argv[i]!.slice(10) : undefined;
  if (spec === undefined) continue;
  const eq = spec.indexOf('=');
  const name = eq < 0 ? spec : spec.slice(0, eq);
  const env: Record<string, string> = {};
  let malloc = true;
  for (const kv of (eq < 0 ? '' : spec.slice(eq + 1)).split(',').filter(Boolean)) {
    const [k, ...v] = kv.split('=');
    if (k === 'MALLOC') malloc = v.join('=') !== 'off';
    else env[k!] = v.join('=');
  }
  variants.push({ name, env, malloc });
}
if (variants.length === 0) variants.push({ name: 'base', env: {}, malloc: true });
if (argv.includes('--torch')) variants.push({ name: 'pytorch', env: {}, malloc: true, torch: true });

function median(xs: number[]): number | undefined {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1]! + v[m]!) / 2;
}

async function main(): Promise<void> {
  console.log(`bench:env  ${variants.length} variants x ${repeat} rounds; load average ${os.loadavg()[0]!.toFixed(2)}`);
  const res = new Map<string, ChildResult[]>(variants.map((v) => [v.name, []]));
  for (let r = 0; r < repeat; r++) {
    for (const v of variants) {
      const env = childEnv(v.malloc, { ...counts, ...v.env });
      await waitQuiet(Number(flag(argv, 'wait-quiet') ?? 30));
      const out = v.torch
        ? await runChild('/usr/bin/python3', ['bench/train/torch_reference.py'], env, `${v.name}#${r + 1}`)
        : await runNodeWorker('bench/train/worker-train.ts', env, `${v.name}#${r + 1}`);
      const j = out.json as { trainImagesPerSecond?: number; predictImagesPerSecond?: Record<string, number> } | undefined;
      console.log(
        `  ${v.name}#${r + 1}: ${out.ok ? `train ${fmt(j?.trainImagesPerSecond)} b1 ${fmt(j?.predictImagesPerSecond?.['1'])} b16 ${fmt(j?.predictImagesPerSecond?.['16'])}` : `FAILED ${out.reason}`}` +
          ` (other processes ${out.foreignCpu === undefined ? '?' : `${(out.foreignCpu * 100).toFixed(0)}%`} CPU)`,
      );
      res.get(v.name)!.push(out);
    }
  }
  const summary = variants.map((v) => {
    const rs = res.get(v.name)!.filter((r) => r.ok);
    const js = rs.map((r) => r.json as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
    return {
      name: v.name,
      env: v.env,
      malloc: v.malloc,
      train: median(js.map((j) => j.trainImagesPerSecond as number)),
      trainAll: js.map((j) => j.trainImagesPerSecond as number),
      predict1: median(js.map((j) => j.predictImagesPerSecond?.['1'] as number)),
      predict16: median(js.map((j) => j.predictImagesPerSecond?.['16'] as number)),
      peakRssMb: median(js.map((j) => j.peakRssMb as number)),
      foreignCpuMax: Math.max(0, ...rs.map((r) => r.foreignCpu ?? 0)),
    };
  });
  const base = summary[0]!.train;
  console.log(`\n${'variant'.padEnd(14)} ${'train'.padStart(7)} ${'vs first'.padStart(8)} ${'b1'.padStart(7)} ${'b16'.padStart(7)} ${'RSS MB'.padStart(7)} ${'other'.padStart(5)}  env / all train runs`);
  for (const s of summary) {
    console.log(
      `${s.name.padEnd(14)} ${fmt(s.train).padStart(7)} ${(base && s.train ? `${((s.train / base - 1) * 100).toFixed(0)}%` : '-').padStart(8)} ` +
        `${fmt(s.predict1).padStart(7)} ${fmt(s.predict16).padStart(7)} ${fmt(s.peakRssMb, 0).padStart(7)} ${`${(s.foreignCpuMax * 100).toFixed(0)}%`.padStart(5)}  ` +
        `${s.malloc ? '' : 'MALLOC=off '}${Object.entries(s.env).map(([k, v]) => `${k}=${v}`).join(' ')} [${s.trainAll.map((x) => x.toFixed(0)).join(' ')}]`,
    );
  }
  console.log(`load average at end ${os.loadavg()[0]!.toFixed(2)}`);
  console.log(`results: ${writeResults(`env-${flag(argv, 'tag') ?? 'ab'}`, { date: new Date().toISOString(), counts, repeat, summary })}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
