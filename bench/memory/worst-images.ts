/**
 * Peak RSS of a real API process fed the most memory-hungry images we can make, against the same
 * process's baseline measured in the same run:
 *   - refused before decoding: 10000x10000 16-bit RGBA interlaced PNG (0.78 MB file, 800 MB of
 *     pixels), 10000x10000 progressive 4:4:4 JPEG (1.2 MB, 600 MB of coefficients), a 10,000,000x10
 *     16-bit RGBA PNG (4.7 GB through libvips' pipeline); 60 per request, several requests at once;
 *   - accepted and decoded: the costliest images under the per-image budget (interlaced 8-bit grey
 *     PNG, progressive grey JPEG and 16-bit RGBA PNG, all 10000x10000), 12 per request, 4 requests
 *     at once, to /v1/predict and in a dataset upload.
 * Before the decode budget, one 16-bit RGBA interlaced PNG raised the API's RSS by ~786 MB and four
 * in one request peaked at 3.8 GB.
 *
 *   npx tsx bench/memory/worst-images.ts        (needs Redis at REDIS_URL, default 127.0.0.1:6379)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DECODE_BUDGET_BYTES, DEFAULT_MAX_DECODE_BYTES } from '../../src/imaging/decode-budget.ts';
import { blankPng, flatJpeg, xrayFile } from '../../test/helpers/image-files.ts';
import { startApiChild, type ApiChild } from './api-child.ts';
import { publishUntrainedModel, worstDatasetZip } from './worst-inputs.ts';

const MB = 1024 * 1024;
const INPUT_SIZE = 64;

function multipart(images: readonly Buffer[]): FormData {
  const form = new FormData();
  for (const [i, img] of images.entries()) form.append('image', new Blob([new Uint8Array(img)]), `image-${i}`);
  return form;
}

async function predict(api: ApiChild, images: readonly Buffer[]): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${api.url}/v1/predict`, { method: 'POST', body: multipart(images) });
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, ...(body.error ? { code: body.error.code } : {}) };
}

async function phase(api: ApiChild, name: string, run: () => Promise<string[]>): Promise<number> {
  await api.resetPeak();
  const before = await api.rss();
  const outcomes = await run();
  const peak = await api.peakRss();
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
  console.log(
    `${name.padEnd(58)} peak ${(peak / MB).toFixed(0).padStart(5)} MB  (+${((peak - before) / MB).toFixed(0).padStart(4)} MB over ${(before / MB).toFixed(0)} MB)  ${[...counts].map(([o, n]) => `${n}x ${o}`).join(', ')}`,
  );
  return peak - before;
}

async function main(): Promise<void> {
  console.log('making the images ...');
  const [interlaced16, progressive444, wide16, interlacedGrey, progressiveGrey, plain16] = await Promise.all([
    blankPng(10000, 10000, { bitDepth: 16, colourType: 6, interlaced: true }),
    flatJpeg(10000, 10000, { progressive: true }),
    blankPng(10_000_000, 10, { bitDepth: 16, colourType: 6 }),
    blankPng(10000, 10000, { interlaced: true }),
    flatJpeg(10000, 10000, { progressive: true, grey: true }),
    blankPng(10000, 10000, { bitDepth: 16, colourType: 6 }),
  ]);
  const small = await xrayFile(1, true, 256);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'cxr-memory-bench-'));
  await publishUntrainedModel(dataDir, INPUT_SIZE);
  const api = await startApiChild({
    DATA_DIR: dataDir,
    QUEUE_PREFIX: `bench-memory-${process.pid}`,
    LOG_LEVEL: 'warn',
    // The API runs without the trainer's malloc setting, as `npm start` should give it.
    MALLOC_MMAP_THRESHOLD_: undefined,
    MALLOC_TRIM_THRESHOLD_: undefined,
  });
  try {
    console.log(`API pid ${api.pid}; per-image limit ${DEFAULT_MAX_DECODE_BYTES / MB} MiB, process decode budget ${DECODE_BUDGET_BYTES / MB} MiB\n`);
    const baseline = await phase(api, 'baseline: 4 requests x 12 small X-rays (256x256)', () =>
      Promise.all(Array.from({ length: 4 }, () => predict(api, Array(12).fill(small)).then((r) => String(r.status)))),
    );
    const refused = [
      ['16-bit RGBA interlaced PNG', interlaced16],
      ['progressive 4:4:4 JPEG', progressive444],
      ['10,000,000x10 16-bit RGBA PNG', wide16],
    ] as const;
    for (const [name, img] of refused) {
      // As many as fit in one request body (REQUEST_LIMIT, 50 MiB), up to MAX_IMAGES_PER_REQUEST.
      const n = Math.min(64, Math.floor((46 * MB) / img.length));
      await phase(api, `refused: 4 requests x ${n} ${name}`, () =>
        Promise.all(Array.from({ length: 4 }, () => predict(api, Array(n).fill(img)).then((r) => `${r.status} ${r.code}`))),
      );
    }
    const accepted = [interlacedGrey, progressiveGrey, plain16];
    const worst = await phase(api, 'accepted: 4 requests x 12 of the costliest images allowed', () =>
      Promise.all(
        Array.from({ length: 4 }, () =>
          predict(api, Array.from({ length: 12 }, (_, i) => accepted[i % 3]!)).then((r) => String(r.status)),
        ),
      ),
    );
    const zip = await worstDatasetZip();
    await phase(api, 'dataset upload: costly + refused images among 12 X-rays', async () => {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(zip)]), 'worst.zip');
      const res = await fetch(`${api.url}/v1/datasets`, { method: 'POST', body: form });
      return [String(res.status)];
    });
    console.log(
      `\nworst accepted phase over the baseline phase: +${(worst / MB).toFixed(0)} MB vs +${(baseline / MB).toFixed(0)} MB; ` +
        `bound: per-process decode budget ${DECODE_BUDGET_BYTES / MB} MiB (+ the request bodies)`,
    );
  } finally {
    await api.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
