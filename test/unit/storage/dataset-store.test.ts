import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.ts';
import { decodeXray } from '../../../src/imaging/decode.ts';
import { createDatasetStore, type DatasetLimits, type DatasetStore } from '../../../src/storage/dataset-store.ts';
import { xrayFile } from '../../helpers/image-files.ts';
import { deflatedZeros, writeRawZip, writeZip, xrayItems, type ZipItem } from '../../helpers/zips.ts';

const SIZE = 32;

let root: string;
let dataDir: string;
let work: string;
let store: DatasetStore;

function makeStore(limits: Partial<DatasetLimits> = {}): DatasetStore {
  return createDatasetStore({ dataDir, defaultSize: SIZE, limits: { minImagesPerClass: 3, ...limits } });
}

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'dataset-store-'));
  dataDir = path.join(root, 'data');
  work = path.join(root, 'work');
  await mkdir(work);
  store = makeStore();
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

let zipCount = 0;
async function zipOf(items: readonly ZipItem[]): Promise<string> {
  const file = path.join(work, `dataset-${++zipCount}.zip`);
  await writeZip(file, items);
  return file;
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

async function datasetsDirEntries(): Promise<string[]> {
  return readdir(path.join(dataDir, 'datasets'));
}

function bytesOf(items: readonly ZipItem[], source: string): Buffer {
  const item = items.find((i) => i.name === source);
  if (!item) throw new Error(`no item ${source}`);
  return item.data;
}

describe('dataset store: importArchive', () => {
  it('imports class folders into a manifest, a pixel cache and the kept archive', async () => {
    const items = await xrayItems({ NORMAL: 4, PNEUMONIA: 5 });
    const zip = await zipOf(items);
    const m = await store.importArchive(zip, { name: ' chest set ' });
    expect(m.id).toMatch(/^ds_[a-z2-7]{16}$/);
    expect(m.name).toBe('chest set');
    expect(m.size).toBe(SIZE);
    expect(m.classNames).toEqual(['NORMAL', 'PNEUMONIA']);
    expect(m.positiveClass).toBe('PNEUMONIA');
    expect(m.counts).toEqual({
      images: 9,
      byClass: { NORMAL: 4, PNEUMONIA: 5 },
      bySplit: {},
      skipped: 0,
      duplicates: 0,
    });
    expect(m.images.map((i) => i.source)).toEqual(items.map((i) => i.name));
    expect(m.images.map((i) => i.label)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 1]);
    expect(m.images[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(m.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(m.source).toEqual({ kind: 'zip', bytes: (await stat(zip)).size, filename: path.basename(zip) });

    const dir = path.join(dataDir, 'datasets', m.id);
    expect((await readdir(dir)).sort()).toEqual(['cache-32.u8', 'manifest.json', 'source.zip', 'summary.json']);
    expect((await stat(path.join(dir, 'cache-32.u8'))).size).toBe(9 * SIZE * SIZE);
    expect(await stat(zip)).toBeTruthy(); // a path outside uploads is copied, not moved
    expect(await store.get(m.id)).toEqual(m);
    const { images: _images, skipped: _skipped, ...summary } = m;
    expect(await store.list()).toEqual([summary]);
  });

  it('serves exactly the pixels decodeXray produced, in the requested order', async () => {
    const items = [
      ...(await xrayItems({ NORMAL: 3 }, { encoding: 'jpeg', seed: 10 })),
      ...(await xrayItems({ PNEUMONIA: 4 }, { encoding: 'png-rgb', seed: 20 })),
    ];
    const m = await store.importArchive(await zipOf(items), { name: 'order' });
    const images = await store.openImages(m.id);
    expect([images.size, images.count]).toEqual([SIZE, 7]);
    expect(Array.from(images.labels)).toEqual([0, 0, 0, 1, 1, 1, 1]);
    const order = [5, 0, 1, 2, 6, 6, 3];
    const batch = await images.readBatch(order);
    expect(batch.length).toBe(order.length * SIZE * SIZE);
    for (const [k, i] of order.entries()) {
      const expected = await decodeXray(bytesOf(items, m.images[i]!.source), SIZE);
      expect(batch.subarray(k * SIZE * SIZE, (k + 1) * SIZE * SIZE)).toEqual(expected);
    }
    expect((await images.readBatch([])).length).toBe(0);
    await expect(images.readBatch([7])).rejects.toBeInstanceOf(AppError);
    await images.close();
    await expect(images.readBatch([0])).rejects.toBeInstanceOf(AppError);
  });

  it('builds a cache at a second size from the kept archive', async () => {
    const items = await xrayItems({ NORMAL: 3, PNEUMONIA: 3 }, { size: 48 });
    const m = await store.importArchive(await zipOf(items), { name: 'sizes' });
    const small = await store.openImages(m.id, 16);
    expect(small.size).toBe(16);
    const batch = await small.readBatch([4, 1]);
    expect(batch.subarray(0, 256)).toEqual(await decodeXray(bytesOf(items, m.images[4]!.source), 16));
    expect(batch.subarray(256)).toEqual(await decodeXray(bytesOf(items, m.images[1]!.source), 16));
    await small.close();
    const files = await readdir(path.join(dataDir, 'datasets', m.id));
    expect(files.sort()).toEqual(['cache-16.u8', 'cache-32.u8', 'manifest.json', 'source.zip', 'summary.json']);
    expect((await store.get(m.id)).size).toBe(SIZE);
    // Concurrent openers of a new size share one build.
    const both = await Promise.all([store.openImages(m.id, 24), store.openImages(m.id, 24)]);
    expect(both[0].count).toBe(6);
    await Promise.all(both.map((b) => b.close()));
    await expect(store.openImages(m.id, 5000)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('reads the Kaggle layout with splits and records what it skipped and why', async () => {
    const good = [
      ...(await xrayItems({ NORMAL: 3, PNEUMONIA: 3 }, { prefix: 'chest_xray/train/' })),
      ...(await xrayItems({ NORMAL: 1, PNEUMONIA: 2 }, { prefix: 'chest_xray/val/', seed: 100 })),
      ...(await xrayItems({ NORMAL: 2, PNEUMONIA: 1 }, { prefix: 'chest_xray/TEST/', seed: 200 })),
    ];
    const png = await xrayFile(999, false);
    const junk: ZipItem[] = [
      { name: '__MACOSX/chest_xray/train/NORMAL/._img-0.png', data: Buffer.from('mac resource fork') },
      { name: 'chest_xray/.DS_Store', data: Buffer.from('finder') },
      { name: 'chest_xray/train/NORMAL/notes.txt', data: Buffer.from('notes') },
      { name: 'chest_xray/train/NORMAL/cut.png', data: png.subarray(0, png.length >> 1) },
      { name: 'chest_xray/train/PNEUMONIA/text.jpeg', data: Buffer.from('not really a jpeg') },
      { name: 'chest_xray/train/PNEUMONIA/empty.png', data: Buffer.alloc(0) },
      { name: 'chest_xray/readme.png', data: png },
    ];
    const m = await store.importArchive(await zipOf([...junk.slice(0, 2), ...good, ...junk.slice(2)]), {
      name: 'kaggle',
    });
    expect(m.counts.images).toBe(12);
    expect(m.counts.byClass).toEqual({ NORMAL: 6, PNEUMONIA: 6 });
    expect(m.counts.bySplit).toEqual({ train: 6, validation: 3, test: 3 });
    expect(m.images.find((i) => i.source === 'chest_xray/val/NORMAL/img-0.png')?.split).toBe('validation');
    const skipped = Object.fromEntries(m.skipped.map((s) => [s.source, s.code]));
    expect(skipped).toEqual({
      '__MACOSX/chest_xray/train/NORMAL/._img-0.png': 'SYSTEM_FILE',
      'chest_xray/.DS_Store': 'SYSTEM_FILE',
      'chest_xray/train/NORMAL/notes.txt': 'NOT_AN_IMAGE',
      'chest_xray/train/NORMAL/cut.png': 'IMAGE_TRUNCATED',
      'chest_xray/train/PNEUMONIA/text.jpeg': 'UNSUPPORTED_IMAGE_FORMAT',
      'chest_xray/train/PNEUMONIA/empty.png': 'IMAGE_EMPTY',
      'chest_xray/readme.png': 'NOT_IN_CLASS_FOLDER',
    });
    expect(m.skipped.find((s) => s.code === 'SYSTEM_FILE')?.reason).toBe('system file');
    expect(m.skipped.find((s) => s.code === 'NOT_AN_IMAGE')?.reason).toBe('not an image');
    expect(m.counts.skipped).toBe(7);
  });

  it('takes other class names with a configured positive class', async () => {
    const items = await xrayItems({ cats: 3, Dogs: 4 }, { prefix: 'pets/' });
    const m = await store.importArchive(await zipOf(items), { name: 'pets', positiveClass: 'dogs' });
    expect(m.classNames).toEqual(['cats', 'Dogs']);
    expect(m.positiveClass).toBe('Dogs');
    expect(m.counts.byClass).toEqual({ cats: 3, Dogs: 4 });
    expect(m.images.filter((i) => i.label === 1).map((i) => i.className)).toEqual(['Dogs', 'Dogs', 'Dogs', 'Dogs']);
  });

  it('keeps exact duplicates once, even across splits', async () => {
    const items = await xrayItems({ NORMAL: 3, PNEUMONIA: 3 }, { prefix: 'train/' });
    const copy = { name: 'test/NORMAL/copy.png', data: items[0]!.data };
    const again = { name: 'train/NORMAL/again.png', data: items[0]!.data };
    const m = await store.importArchive(await zipOf([...items, copy, again]), { name: 'dups' });
    expect(m.counts.images).toBe(6);
    expect(m.counts.duplicates).toBe(2);
    expect(m.counts.bySplit).toEqual({ train: 6 });
    expect(m.skipped).toEqual([
      { source: 'test/NORMAL/copy.png', code: 'DUPLICATE', reason: `same content as ${items[0]!.name}`, duplicateOf: items[0]!.name },
      { source: 'train/NORMAL/again.png', code: 'DUPLICATE', reason: `same content as ${items[0]!.name}`, duplicateOf: items[0]!.name },
    ]);
  });

  it('keeps neither copy of content found under two classes', async () => {
    const items = await xrayItems({ NORMAL: 4, PNEUMONIA: 4 });
    const clash = { name: 'PNEUMONIA/clash.png', data: items[1]!.data };
    const m = await store.importArchive(await zipOf([...items, clash]), { name: 'clash' });
    expect(m.counts.images).toBe(7);
    expect(m.counts.byClass).toEqual({ NORMAL: 3, PNEUMONIA: 4 });
    expect(m.images.map((i) => i.source)).not.toContain(items[1]!.name);
    expect(m.skipped.map((s) => [s.source, s.code]).sort()).toEqual(
      [
        [items[1]!.name, 'CONFLICTING_LABEL'],
        ['PNEUMONIA/clash.png', 'CONFLICTING_LABEL'],
      ].sort(),
    );
    const images = await store.openImages(m.id);
    const all = await images.readBatch(m.images.map((_, i) => i));
    for (const [i, img] of m.images.entries()) {
      expect(all.subarray(i * SIZE * SIZE, (i + 1) * SIZE * SIZE)).toEqual(
        await decodeXray(bytesOf([...items, clash], img.source), SIZE),
      );
    }
    await images.close();
  });

  describe('refusals leave nothing behind', () => {
    const cases: [string, string, () => Promise<string>, Partial<DatasetLimits>?][] = [
      ['one class', 'DATASET_ONE_CLASS', async () => zipOf(await xrayItems({ NORMAL: 4 }))],
      ['an empty archive', 'DATASET_NO_IMAGES', async () => zipOf([])],
      ['only non-images', 'DATASET_NO_IMAGES', async () => zipOf([{ name: 'NORMAL/a.txt', data: Buffer.from('x') }])],
      ['too few images', 'DATASET_TOO_SMALL', async () => zipOf(await xrayItems({ NORMAL: 2, PNEUMONIA: 5 }))],
      [
        'one class left after decoding',
        'DATASET_ONE_CLASS',
        async () =>
          zipOf([
            ...(await xrayItems({ NORMAL: 4 })),
            { name: 'PNEUMONIA/bad.png', data: Buffer.from('not a png') },
          ]),
      ],
      [
        'an unsafe entry',
        'UNSAFE_ARCHIVE_ENTRY',
        async () => {
          const file = path.join(work, 'unsafe.zip');
          const items = await xrayItems({ NORMAL: 3, PNEUMONIA: 3 });
          await writeRawZip(file, [...items, { name: '../../outside.png', data: items[0]!.data }]);
          return file;
        },
      ],
      [
        'a symbolic link',
        'UNSAFE_ARCHIVE_ENTRY',
        async () => {
          const file = path.join(work, 'link.zip');
          const items = await xrayItems({ NORMAL: 3, PNEUMONIA: 3 });
          await writeRawZip(file, [...items, { name: 'NORMAL/x.png', data: Buffer.from('/etc'), unixMode: 0o120777 }]);
          return file;
        },
      ],
      [
        'not a zip',
        'INVALID_ARCHIVE',
        async () => {
          const file = path.join(work, 'plain.zip');
          await writeFile(file, 'plain text');
          return file;
        },
      ],
      [
        'a lying zip bomb',
        'INVALID_ARCHIVE',
        async () => {
          const file = path.join(work, 'bomb.zip');
          const bomb = await deflatedZeros(50 * 1024 * 1024);
          const items = await xrayItems({ NORMAL: 3, PNEUMONIA: 3 });
          await writeRawZip(file, [
            ...items,
            { name: 'NORMAL/bomb.png', data: Buffer.alloc(0), method: 8, ...bomb, uncompressedSize: 4096 },
          ]);
          return file;
        },
      ],
      [
        'too many entries',
        'ARCHIVE_TOO_LARGE',
        async () => zipOf(await xrayItems({ NORMAL: 5, PNEUMONIA: 5 })),
        { maxEntries: 9 },
      ],
      [
        'too many bytes',
        'ARCHIVE_TOO_LARGE',
        async () => zipOf(await xrayItems({ NORMAL: 5, PNEUMONIA: 5 })),
        { maxUncompressedBytes: 2000 },
      ],
    ];

    it.each(cases)('refuses %s with %s', async (_what, code, build, limits) => {
      const zip = await build();
      const err = await failure(makeStore(limits).importArchive(zip, { name: 'bad' }));
      expect(err.code).toBe(code);
      expect(err.message.length).toBeGreaterThan(10);
      expect(await datasetsDirEntries()).toEqual([]);
      expect(await store.list()).toEqual([]);
    });

    it('says the counts it found', async () => {
      const err = await failure(store.importArchive(await zipOf(await xrayItems({ NORMAL: 2, PNEUMONIA: 5 })), { name: 'x' }));
      expect(err.message).toMatch(/NORMAL 2, PNEUMONIA 5/);
      expect(err.message).toMatch(/at least 3/);
    });

    it('validates names and sizes before reading anything', async () => {
      const zip = await zipOf(await xrayItems({ NORMAL: 3, PNEUMONIA: 3 }));
      expect((await failure(store.importArchive(zip, { name: '  ' }))).code).toBe('VALIDATION_FAILED');
      expect((await failure(store.importArchive(zip, { name: 'x', size: 3 }))).code).toBe('VALIDATION_FAILED');
      expect((await failure(store.importArchive(path.join(work, 'missing.zip'), { name: 'x' }))).code).toBe(
        'BAD_REQUEST',
      );
      expect(await datasetsDirEntries()).toEqual([]);
    });
  });

  describe('uploads', () => {
    const uploadsDir = () => path.join(dataDir, 'uploads');

    it('are streamed in, then consumed by importUpload: moved in on success, deleted on failure', async () => {
      const items = await xrayItems({ NORMAL: 3, PNEUMONIA: 3 });
      const zip = await readFile(await zipOf(items));
      const upload = await store.receiveUpload(Readable.from([zip.subarray(0, 100), zip.subarray(100)]), { maxBytes: 1 << 20 });
      expect(upload.bytes).toBe(zip.length);
      expect(await readdir(uploadsDir())).toHaveLength(1);
      const m = await store.importUpload(upload, { name: 'up', filename: 'chest.zip' });
      expect(m.source).toEqual({ kind: 'zip', bytes: zip.length, filename: 'chest.zip' });
      expect(await readdir(uploadsDir())).toEqual([]);
      expect(await readFile(path.join(dataDir, 'datasets', m.id, 'source.zip'))).toEqual(zip);
      // An upload is imported once.
      expect((await failure(store.importUpload(upload, { name: 'again' }))).code).toBe('INTERNAL');

      const bad = await readFile(await zipOf(await xrayItems({ NORMAL: 3 })));
      const badUpload = await store.receiveUpload(Readable.from([bad]), { maxBytes: 1 << 20 });
      expect((await failure(store.importUpload(badUpload, { name: 'bad' }))).code).toBe('DATASET_ONE_CLASS');
      expect(await readdir(uploadsDir())).toEqual([]);
      const empty = await store.receiveUpload(Readable.from([]), { maxBytes: 1 << 20 });
      expect((await failure(store.importUpload(empty, { name: 'empty' }))).code).toBe('INVALID_ARCHIVE');
      expect(await readdir(uploadsDir())).toEqual([]);
      expect(await datasetsDirEntries()).toEqual([m.id]);
    });

    it('stop at maxBytes (or when the producer says it cut the stream) and leave nothing', async () => {
      const big = Readable.from(Array.from({ length: 10 }, () => Buffer.alloc(1000)));
      const err = await failure(store.receiveUpload(big, { maxBytes: 4500 }));
      expect(err.code).toBe('ARCHIVE_TOO_LARGE');
      expect(err.message).toContain('4500');
      const cut = await failure(store.receiveUpload(Readable.from([Buffer.alloc(10)]), { maxBytes: 100, truncated: () => true }));
      expect(cut.code).toBe('ARCHIVE_TOO_LARGE');
      expect(await readdir(uploadsDir())).toEqual([]);
    });

    it('remove the partial file of a stream that is aborted or fails mid-way', async () => {
      const aborted = new PassThrough();
      const receiving = store.receiveUpload(aborted, { maxBytes: 1 << 20 });
      aborted.write(Buffer.alloc(64 * 1024, 7));
      while ((await readdir(uploadsDir())).length === 0) await new Promise((r) => setTimeout(r, 5)); // written as it arrives
      aborted.destroy(); // the client went away: no error, no end
      await expect(receiving).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
      expect(await readdir(uploadsDir())).toEqual([]);

      const failing = new PassThrough();
      const receiving2 = store.receiveUpload(failing, { maxBytes: 1 << 20 });
      failing.write(Buffer.alloc(1000));
      while ((await readdir(uploadsDir())).length === 0) await new Promise((r) => setTimeout(r, 5)); // being received
      failing.destroy(new Error('socket hang up'));
      await expect(receiving2).rejects.toThrow('socket hang up');
      expect(await readdir(uploadsDir())).toEqual([]);
      expect(await datasetsDirEntries()).toEqual([]);
    });
  });
});

describe('dataset store: lookups', () => {
  const malformed = ['../../etc', 'ds_../../../etc', '', '.', '..', '.staging-ds_aaaaaaaaaaaaaaaa', 'DS_AAAAAAAAAAAAAAAA', 'ds_aaaaaaaaaaaaaaaa/..'];

  it.each(['ds_aaaaaaaaaaaaaaaa', ...malformed])('get/delete/openImages(%j) say DATASET_NOT_FOUND', async (id) => {
    // One call at a time: calls started together reject while the loop still awaits the first,
    // which Node reports as unhandled rejections.
    for (const run of [() => store.get(id), () => store.delete(id), () => store.openImages(id)]) {
      const err = await failure(run());
      expect(err.code).toBe('DATASET_NOT_FOUND');
      expect(err.status).toBe(404);
    }
  });

  it('lists newest first, ignoring staging folders, and deletes', async () => {
    const first = await store.importArchive(await zipOf(await xrayItems({ NORMAL: 3, PNEUMONIA: 3 })), { name: 'a' });
    await new Promise((r) => setTimeout(r, 5));
    const second = await store.importArchive(await zipOf(await xrayItems({ NORMAL: 3, PNEUMONIA: 3 }, { seed: 50 })), {
      name: 'b',
    });
    await mkdir(path.join(dataDir, 'datasets', '.staging-ds_aaaaaaaaaaaaaaaa'));
    expect((await store.list()).map((s) => s.name)).toEqual(['b', 'a']);
    expect(first.contentHash).not.toBe(second.contentHash);
    await store.delete(first.id);
    expect((await store.list()).map((s) => s.id)).toEqual([second.id]);
    expect((await failure(store.get(first.id))).code).toBe('DATASET_NOT_FOUND');
    expect((await failure(store.delete(first.id))).code).toBe('DATASET_NOT_FOUND');
  });

  it('gives the same content hash to the same data under another name', async () => {
    const items = await xrayItems({ NORMAL: 3, PNEUMONIA: 3 });
    const a = await store.importArchive(await zipOf(items), { name: 'a' });
    const b = await store.importArchive(await zipOf([...items].reverse()), { name: 'b' });
    expect(a.id).not.toBe(b.id);
    expect(a.contentHash).toBe(b.contentHash);
  });
});

describe('dataset store: importDirectory', () => {
  it('imports a folder, copies the kept images, and rebuilds caches from the copies', async () => {
    const items = await xrayItems({ NORMAL: 3, PNEUMONIA: 4 }, { prefix: 'set/train/' });
    const dir = path.join(work, 'folder');
    for (const item of items) {
      await mkdir(path.dirname(path.join(dir, item.name)), { recursive: true });
      await writeFile(path.join(dir, item.name), item.data);
    }
    await writeFile(path.join(dir, 'set/train/NORMAL/.DS_Store'), 'x');
    await mkdir(path.join(dir, 'set/.git/objects'), { recursive: true });
    await writeFile(path.join(dir, 'set/.git/objects/aa'), 'x');
    await symlink(path.join(dir, items[0]!.name), path.join(dir, 'set/train/NORMAL/link.png'));

    const m = await store.importDirectory(dir, { name: 'folder' });
    expect(m.source).toMatchObject({ kind: 'directory', filename: 'folder' });
    expect(m.counts).toMatchObject({ images: 7, byClass: { NORMAL: 3, PNEUMONIA: 4 }, bySplit: { train: 7 } });
    expect(Object.fromEntries(m.skipped.map((s) => [s.source, s.code]))).toEqual({
      'set/.git': 'SYSTEM_FILE',
      'set/train/NORMAL/.DS_Store': 'SYSTEM_FILE',
      'set/train/NORMAL/link.png': 'NOT_A_FILE',
    });

    await rm(dir, { recursive: true }); // the dataset must not need the original folder
    const images = await store.openImages(m.id, 16);
    const batch = await images.readBatch([6, 0]);
    expect(batch.subarray(0, 256)).toEqual(await decodeXray(bytesOf(items, m.images[6]!.source), 16));
    expect(batch.subarray(256)).toEqual(await decodeXray(bytesOf(items, m.images[0]!.source), 16));
    await images.close();
    const kept = await readFile(path.join(dataDir, 'datasets', m.id, 'source', ...items[0]!.name.split('/')));
    expect(kept.equals(items[0]!.data)).toBe(true);
  });

  it('refuses a missing folder and leaves nothing behind on failure', async () => {
    expect((await failure(store.importDirectory(path.join(work, 'nope'), { name: 'x' }))).code).toBe('BAD_REQUEST');
    const dir = path.join(work, 'one-class');
    await mkdir(path.join(dir, 'NORMAL'), { recursive: true });
    for (const [i, item] of (await xrayItems({ NORMAL: 3 })).entries()) {
      await writeFile(path.join(dir, 'NORMAL', `${i}.png`), item.data);
    }
    expect((await failure(store.importDirectory(dir, { name: 'x' }))).code).toBe('DATASET_ONE_CLASS');
    expect(await datasetsDirEntries()).toEqual([]);
  });
});
