/**
 * Peak memory must not grow with the number of images: builds datasets of 1,000 and 10,000
 * generated 256x256 images on disk, then in one child process each trains one epoch over all of
 * them, streaming batches from disk, stopped after a fixed number of batches (same work for both),
 * and compares the children's peak RSS. `npx tsx bench/train/bench-memory.ts [flags]`.
 *
 * Flags:
 *   --counts 1000,10000   dataset sizes
 *   --batches 30          training batches per child
 *   --source raw|store    raw: write the uint8 pixel cache directly (image i at offset
 *                         i*size*size) and read it with positional reads - the cache format of
 *                         the dataset store, without PNG encoding/decoding of 10k images;
 *                         store: import a folder of PNGs through src/storage/dataset-store.ts
 *                         (default: store when that module exists, else raw)
 *   --dir DIR             where datasets are built (default: a fresh directory under the OS tmp)
 *   --keep                keep the generated datasets
 *   --no-malloc           run children without the malloc setting (default: with it, as launched)
 * No assertions: it reports the ratio.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { childEnv, fillXray, flag, fmt, hasFlag, importIfPresent, runNodeWorker, writeResults, type ChildResult } from './common.ts';

const argv = process.argv.slice(2);
const counts = (flag(argv, 'counts') ?? '1000,10000').split(',').map((s) => Number(s.trim()));
const batches = Number(flag(argv, 'batches') ?? 30);
const size = 256;
const keep = hasFlag(argv, 'keep');
const malloc = !hasFlag(argv, 'no-malloc');
const extraEnv: Record<string, string> = {};

function buildRawCache(file: string, n: number): void {
  const bytes = size * size;
  const chunk = 256;
  const buf = new Uint8Array(chunk * bytes);
  const fd = fs.openSync(file, 'w');
  try {
    for (let start = 0; start < n; start += chunk) {
      const m = Math.min(chunk, n - start);
      for (let j = 0; j < m; j++) {
        const i = start + j;
        fillXray(buf.subarray(j * bytes, (j + 1) * bytes), size, i % 2 === 1, 1_000_003 + i);
      }
      fs.writeSync(fd, buf, 0, m * bytes, start * bytes);
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function main(): Promise<void> {
  const storeMod = await importIfPresent('src/storage/dataset-store.ts');
  const storeUsable = !!storeMod && typeof storeMod.createDatasetStore === 'function';
  const requested = flag(argv, 'source');
  const source = requested ?? (storeUsable ? 'store' : 'raw');
  if (source === 'store' && !storeUsable) throw new Error('--source store: src/storage/dataset-store.ts (createDatasetStore) is not there');
  const dir = flag(argv, 'dir') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'chestxray-bench-memory-'));
  fs.mkdirSync(dir, { recursive: true });
  console.log(
    `bench:memory  ${counts.join(' vs ')} images at ${size}x${size}; ${batches} batches of 16 per child; ` +
      `source ${source}${source === 'raw' ? ' (uint8 pixel cache written directly, read with positional reads)' : ' (dataset store import)'}; ` +
      `malloc setting ${malloc ? 'on' : 'off'}; dir ${dir}; load average ${os.loadavg()[0]!.toFixed(2)}`,
  );

  const rows: Array<{ count: number; build: number; r: ChildResult }> = [];
  for (const n of counts) {
    const t0 = performance.now();
    let args: string[];
    if (source === 'raw') {
      const file = path.join(dir, `cache-${n}.u8`);
      buildRawCache(file, n);
      args = ['--kind', 'raw', '--cache', file, '--count', String(n)];
    } else {
      const { buildStoreDataset } = await import('./store-dataset.ts');
      const built = await buildStoreDataset(storeMod!, path.join(dir, `store-${n}`), n, size);
      console.log(`  ${n} PNGs written in ${built.pngSeconds.toFixed(1)} s, imported by the dataset store in ${built.importSeconds.toFixed(1)} s`);
      args = ['--kind', 'store', '--data-dir', built.dataDir, '--dataset', built.datasetId];
    }
    const build = (performance.now() - t0) / 1000;
    console.log(`- ${n} images: dataset built in ${build.toFixed(1)} s; training ${batches} batches in a child ...`);
    const r = await runNodeWorker('bench/train/worker-memory.ts', childEnv(malloc, extraEnv), `mem-${n}`, [
      ...args,
      '--batches',
      String(batches),
      '--size',
      String(size),
    ]);
    console.log(
      r.ok && r.json
        ? `  ${n}: peak RSS ${fmt(r.json.peakRssMb, 0)} MB (${fmt(r.json.peakRssBeforeTrainMb, 0)} MB before training), ` +
            `${String(r.json.batches)} batches, ${fmt(r.json.imagesPerSecond)} img/s; ${String(r.json.mode)}`
        : `  ${n}: FAILED - ${r.reason}`,
    );
    rows.push({ count: n, build, r });
  }
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });

  console.log(`\n${'images'.padStart(8)}  ${'peak RSS MB'.padStart(11)}  ${'before train MB'.padStart(15)}  ${'img/s'.padStart(6)}`);
  for (const { count, r } of rows) {
    console.log(
      `${String(count).padStart(8)}  ${fmt(r.json?.peakRssMb, 0).padStart(11)}  ${fmt(r.json?.peakRssBeforeTrainMb, 0).padStart(15)}  ${fmt(r.json?.imagesPerSecond).padStart(6)}`,
    );
  }
  const first = rows[0]?.r.json?.peakRssMb;
  const last = rows[rows.length - 1]?.r.json?.peakRssMb;
  const ratio = typeof first === 'number' && typeof last === 'number' ? last / first : undefined;
  if (rows.length > 1) {
    console.log(
      `\npeak RSS ${rows[rows.length - 1]!.count} / ${rows[0]!.count} images: ${fmt(ratio, 2)}x ` +
        `(${rows[rows.length - 1]!.count / rows[0]!.count}x the images; ~1.0x means memory does not grow with the dataset)`,
    );
  }
  const file = writeResults('memory', {
    date: new Date().toISOString(),
    source,
    size,
    batches,
    malloc,
    rows: rows.map(({ count, build, r }) => ({ count, buildSeconds: build, ok: r.ok, reason: r.reason, result: r.json })),
    ratio,
  });
  console.log(`results: ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
