/**
 * Hostile dataset uploads and images, through real HTTP: folder names that are Object.prototype's
 * keys, overlapping-entries zip bombs, images whose headers claim costly decodes, clients that go
 * away mid-upload; and the memory a real API process takes for the worst images, against its own
 * baseline in the same run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiChild, type ApiChild } from '../../bench/memory/api-child.ts';
import { publishUntrainedModel, worstDatasetZip } from '../../bench/memory/worst-inputs.ts';
import { DECODE_BUDGET_BYTES } from '../../src/imaging/decode-budget.ts';
import { decodeActivity } from '../../src/imaging/decode.ts';
import { datasetZip, png, zip, type ZipEntry } from '../helpers/api-archives.ts';
import { startHarness, type Harness } from '../helpers/api-harness.ts';
import { blankPng, flatJpeg, pngHeaderOnly, xrayFile } from '../helpers/image-files.ts';
import { uniquePrefix } from '../helpers/redis.ts';
import { deflatedZeros, rawZip, type RawEntry } from '../helpers/zips.ts';

const MB = 1024 * 1024;
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString'];

let h: Harness;

beforeAll(async () => {
  h = await startHarness(import.meta.url);
});

afterAll(async () => {
  await h?.close();
});

function upload(archive: Buffer, fields: Record<string, string> = {}) {
  const req = h.http.post('/v1/datasets');
  for (const [k, v] of Object.entries(fields)) req.field(k, v);
  return req.attach('file', archive, { filename: 'hostile.zip', contentType: 'application/zip' });
}

async function images(folder: (i: number, positive: boolean) => string, perClass = 6): Promise<ZipEntry[]> {
  const out: ZipEntry[] = [];
  for (let i = 0; i < perClass; i++) {
    for (const positive of [false, true]) out.push({ path: folder(i, positive), data: await png(32, positive, 1000 + i * 2 + Number(positive)) });
  }
  return out;
}

async function expectCleanAndHealthy(datasetsBefore: number): Promise<void> {
  expect(await h.leftovers()).toEqual([]);
  expect((await h.store.list()).length).toBe(datasetsBefore);
  await h.http.get('/health/live').expect(200);
}

describe('folders named like Object.prototype keys', () => {
  it.each(PROTOTYPE_KEYS)('%s/ as a wrapper folder: 201, no split, and the dataset reads back whole', async (name) => {
    const res = await upload(await zip(await images((i, p) => `${name}/${p ? 'PNEUMONIA' : 'NORMAL'}/img-${i}.png`))).expect(201);
    expect(res.body.counts).toEqual({ images: 12, byClass: { NORMAL: 6, PNEUMONIA: 6 }, bySplit: {}, skipped: 0, duplicates: 0 });
    const full = await h.http.get(`/v1/datasets/${res.body.id}?include=images`).expect(200);
    expect(full.body.images).toHaveLength(12);
    for (const img of full.body.images as Record<string, unknown>[]) {
      expect(img).not.toHaveProperty('split');
      expect(img.source).toMatch(new RegExp(`^${name}/(NORMAL|PNEUMONIA)/`));
    }
  });

  it.each(PROTOTYPE_KEYS)('%s/ as a class folder (positiveClass) and as a negative class', async (name) => {
    const positive = await upload(await zip(await images((i, p) => `train/${p ? name : 'other'}/img-${i}.png`)), {
      positiveClass: name,
    }).expect(201);
    expect(positive.body).toMatchObject({
      classNames: ['other', name],
      positiveClass: name,
      counts: { images: 12, bySplit: { train: 12 } },
    });
    expect(Object.entries(positive.body.counts.byClass)).toEqual([
      ['other', 6],
      [name, 6],
    ]);
    const full = await h.http.get(`/v1/datasets/${positive.body.id}?include=images`).expect(200);
    expect(new Set(full.body.images.map((img: { split: string }) => img.split))).toEqual(new Set(['train']));
    const negative = await upload(await zip(await images((i, p) => `${p ? 'sick' : name}/img-${i}.png`)), {
      positiveClass: 'sick',
    }).expect(201);
    expect(negative.body.classNames).toEqual([name, 'sick']);
    await h.http.get(`/v1/datasets/${negative.body.id}?include=images`).expect(200);
  });

  it('an image folder named __proto__ beside NORMAL/ and PNEUMONIA/ is skipped for what it is', async () => {
    const extra = [{ path: 'chest/__proto__/x.png', data: await png(32, true, 77) }];
    const res = await upload(await datasetZip({ extra })).expect(201);
    expect(res.body.skipped).toEqual([
      { source: 'chest/__proto__/x.png', code: 'NOT_IN_CLASS_FOLDER', reason: 'not in a NORMAL/ or PNEUMONIA/ folder' },
    ]);
    const alone = await upload(await zip(await images((i) => `__proto__/img-${i}.png`, 3))).expect(422);
    expect(alone.body.error).toEqual({
      code: 'DATASET_NO_IMAGES',
      message: 'no images in NORMAL/ or PNEUMONIA/ folders (6 images elsewhere, in folders: __proto__); set positiveClass to use other class names',
    });
  });
});

describe('zip bombs made of overlapping entries', () => {
  it('refuses 50 central-directory entries sharing one compressed stream, 413 before inflating, nothing left', async () => {
    const before = (await h.store.list()).length;
    const inflated = 32 * MB;
    const { compressed, crc32 } = await deflatedZeros(inflated);
    const shared = { data: Buffer.alloc(0), method: 8, compressed, crc32, uncompressedSize: inflated };
    const entries: RawEntry[] = [{ name: 'NORMAL/0.png', ...shared }];
    for (let i = 1; i < 50; i++) entries.push({ name: `${i % 2 ? 'PNEUMONIA' : 'NORMAL'}/${i}.png`, ...shared, sharesDataOf: 0 });
    const bomb = rawZip(entries);
    expect(bomb.length).toBeLessThan(256 * 1024);
    const res = await upload(bomb).expect(413);
    expect(res.body.error.code).toBe('ARCHIVE_TOO_LARGE');
    expect(res.body.error.message).toContain('overlapping entries are how zip bombs inflate one compressed stream many times');
    expect(res.body.error.details).toEqual({ entry: 'PNEUMONIA/1.png' });
    await expectCleanAndHealthy(before);
  });
});

describe('images whose decode would cost too much', () => {
  it('are skipped as IMAGE_TOO_COSTLY during import, each refused from its header without being decoded', async () => {
    const tiny = Array.from({ length: 40 }, (_, i) => ({
      path: `chest/${i % 2 ? 'PNEUMONIA' : 'NORMAL'}/claims-huge-${i}.png`,
      data: pngHeaderOnly(10000, 10000, { bitDepth: 16, colourType: 6, interlaced: true, text: String(i) }),
    }));
    const started = decodeActivity().started;
    const res = await upload(await datasetZip({ perClass: 6, extra: tiny })).expect(201);
    expect(decodeActivity().started - started).toBe(12); // the 12 X-rays; none of the 40
    expect(res.body.counts.images).toBe(12);
    expect(res.body.skipped).toHaveLength(40);
    for (const s of res.body.skipped as { code: string; reason: string }[]) {
      expect(s.code).toBe('IMAGE_TOO_COSTLY');
      expect(s.reason).toMatch(/^decoding this 10000x10000 interlaced 16-bit RGBA PNG would take about \d+ MiB of memory/);
    }
  });
});

describe('a client that goes away mid-upload', () => {
  it('leaves no partial upload and no dataset, and the server keeps serving', async () => {
    const before = (await h.store.list()).length;
    const big = await datasetZip({ perClass: 30, size: 64 });
    const boundary = 'gone';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\nContent-Type: application/zip\r\n\r\n`;
    const { port } = h.app.server.address() as net.AddressInfo;
    for (const cut of [0.1, 0.5, 0.99]) {
      await new Promise<void>((resolve, reject) => {
        const sock = net.connect(port, '127.0.0.1', () => {
          sock.write(
            `POST /v1/datasets HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
              `Content-Length: ${head.length + big.length + 100}\r\n\r\n${head}`,
          );
          sock.write(big.subarray(0, Math.floor(big.length * cut)), () => setTimeout(() => sock.destroy(), 50));
        });
        sock.on('close', () => resolve());
        sock.on('error', reject);
      });
      for (let i = 0; i < 100 && (await h.leftovers()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
      await expectCleanAndHealthy(before);
    }
  });
});

describe('memory of a real API process fed the worst images', () => {
  let api: ApiChild;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'cxr-hostile-memory-'));
    await publishUntrainedModel(dataDir, 64);
    api = await startApiChild({
      DATA_DIR: dataDir,
      QUEUE_PREFIX: uniquePrefix(`${import.meta.url}-api`),
      LOG_LEVEL: 'warn',
      MALLOC_MMAP_THRESHOLD_: undefined,
      MALLOC_TRIM_THRESHOLD_: undefined,
    });
  }, 120_000);

  afterAll(async () => {
    await api?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  function predict(files: readonly Buffer[]) {
    const form = new FormData();
    for (const [i, f] of files.entries()) form.append('image', new Blob([new Uint8Array(f)]), `i${i}`);
    return fetch(`${api.url}/v1/predict`, { method: 'POST', body: form }).then(async (r) => ({ status: r.status, body: await r.json() }));
  }

  /** How far RSS rose above where it was while `run` ran. */
  async function growth(run: () => Promise<void>): Promise<number> {
    expect(await api.resetPeak()).toBe(true);
    const before = await api.rss();
    await run();
    return (await api.peakRss()) - before;
  }

  it('stays within the decode budget of its own baseline: refused ones cost their bodies, accepted ones one budget', async () => {
    const small = await xrayFile(5, true, 256);
    const baseline = await growth(async () => {
      const answers = await Promise.all(Array.from({ length: 4 }, () => predict(Array(12).fill(small))));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    });
    // Unbounded, each of these cost 0.8 GB (interlaced) or 0.6 GB (progressive) per image decoded at once.
    const interlaced16 = await blankPng(10000, 10000, { bitDepth: 16, colourType: 6, interlaced: true });
    const progressive444 = await flatJpeg(10000, 10000, { progressive: true });
    const refused = await growth(async () => {
      const answers = await Promise.all([
        predict(Array(58).fill(interlaced16)),
        predict(Array(58).fill(interlaced16)),
        predict(Array(36).fill(progressive444)),
      ]);
      for (const a of answers) {
        expect(a.status).toBe(413);
        expect(a.body.error.code).toBe('IMAGE_TOO_COSTLY');
      }
    });
    // The costliest images under the per-image limit: decoded, within the process decode budget.
    const accepted = [
      await blankPng(10000, 10000, { interlaced: true }),
      await flatJpeg(10000, 10000, { progressive: true, grey: true }),
      await blankPng(10000, 10000, { bitDepth: 16, colourType: 6 }),
    ];
    const decoded = await growth(async () => {
      const answers = await Promise.all(Array.from({ length: 4 }, () => predict(Array.from({ length: 12 }, (_, i) => accepted[i % 3]!))));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(await worstDatasetZip(10))]), 'worst.zip');
      const res = await fetch(`${api.url}/v1/datasets`, { method: 'POST', body: form });
      expect(res.status).toBe(201);
      const body = (await res.json()) as { counts: { images: number }; skipped: { code: string }[] };
      expect(body.counts.images).toBe(14); // 12 X-rays + the interlaced grey PNG + the progressive grey JPEG
      expect(body.skipped.map((s) => s.code)).toEqual(Array(12).fill('IMAGE_TOO_COSTLY'));
    });
    console.log(
      `API peak RSS growth: baseline +${(baseline / MB).toFixed(0)} MB, worst refused +${(refused / MB).toFixed(0)} MB, ` +
        `worst accepted +${(decoded / MB).toFixed(0)} MB (decode budget ${DECODE_BUDGET_BYTES / MB} MiB)`,
    );
    // Wide margins: unbounded decoding of either phase would take several GB.
    expect(refused).toBeLessThan(baseline + 2 * DECODE_BUDGET_BYTES);
    expect(decoded).toBeLessThan(baseline + 2 * DECODE_BUDGET_BYTES);
    await fetch(`${api.url}/health/live`).then((r) => expect(r.status).toBe(200));
  }, 240_000);
});
