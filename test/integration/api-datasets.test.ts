import { readdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetZip, png, renameEntry, zip } from '../helpers/api-archives.ts';
import { startHarness, type Harness } from '../helpers/api-harness.ts';

const DATASET_ID = /^ds_[a-z2-7]{16}$/;

let h: Harness;
let validZip: Buffer;

beforeAll(async () => {
  h = await startHarness(import.meta.url);
  validZip = await datasetZip({
    perClass: 6,
    extra: [
      { path: 'chest/NORMAL/.DS_Store', data: Buffer.from('junk') },
      { path: 'chest/README.txt', data: Buffer.from('hello') },
      { path: 'chest/PNEUMONIA/broken.png', data: Buffer.from('\x89PNG\r\n\x1a\nnot really') },
      { path: '__MACOSX/chest/NORMAL/._img-0.png', data: Buffer.from('resource fork') },
    ],
  });
});

afterAll(async () => {
  await h?.close();
});

/** Every refused upload must leave DATA_DIR as it was: no upload file, no staging dir, no dataset. */
async function expectNothingHalfWritten(datasetsBefore: number): Promise<void> {
  expect(await h.leftovers()).toEqual([]);
  expect((await h.store.list()).length).toBe(datasetsBefore);
}

async function expectHealthy(): Promise<void> {
  await h.http.get('/health/live').expect(200, { status: 'ok' });
}

function upload(archive: Buffer, name?: string, filename = 'chest.zip') {
  const req = h.http.post('/v1/datasets');
  if (name !== undefined) req.field('name', name);
  return req.attach('file', archive, { filename, contentType: 'application/zip' });
}

describe('POST /v1/datasets', () => {
  it('imports a zip: 201, Location, counts per class, skipped entries with reasons', async () => {
    const res = await upload(validZip, 'first set').expect(201);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body.id).toMatch(DATASET_ID);
    expect(res.headers.location).toBe(`/v1/datasets/${res.body.id}`);
    expect(res.body).toMatchObject({
      name: 'first set',
      classNames: ['NORMAL', 'PNEUMONIA'],
      positiveClass: 'PNEUMONIA',
      counts: { images: 12, byClass: { NORMAL: 6, PNEUMONIA: 6 }, bySplit: {} },
      source: { kind: 'zip', filename: 'chest.zip', bytes: validZip.length },
    });
    expect(res.body.images).toBeUndefined();
    const skipped = res.body.skipped as { source: string; code: string; reason: string }[];
    expect(skipped.map((s) => s.source).sort()).toEqual(
      ['__MACOSX/chest/NORMAL/._img-0.png', 'chest/NORMAL/.DS_Store', 'chest/PNEUMONIA/broken.png', 'chest/README.txt'].sort(),
    );
    for (const s of skipped) {
      expect(s.code).toMatch(/^[A-Z_]+$/);
      expect(s.reason.length).toBeGreaterThan(0);
    }
    expect(res.body.counts.skipped).toBe(4);
    expect(await h.leftovers()).toEqual([]);
  });

  it('counts per split for train/ test/ layouts and names the dataset after the file when no name is given', async () => {
    const res = await upload(await datasetZip({ perClass: 8, splits: true }), undefined, 'kermany-small.zip').expect(201);
    expect(res.body.name).toBe('kermany-small');
    expect(res.body.counts.bySplit).toEqual({ train: 12, test: 4 });
    expect(res.body.counts.byClass).toEqual({ NORMAL: 8, PNEUMONIA: 8 });
  });

  it('accepts positiveClass for other folder names', async () => {
    const res = await h.http
      .post('/v1/datasets')
      .field('positiveClass', 'sick')
      .attach('file', await datasetZip({ classes: ['healthy', 'sick'] }), 'other.zip')
      .expect(201);
    expect(res.body).toMatchObject({ classNames: ['healthy', 'sick'], positiveClass: 'sick' });
  });

  it('never uses the client file name as a path', async () => {
    const before = (await h.store.list()).length;
    const res = await upload(validZip, 'evil name', '../../../../tmp/evil\u0000.zip').expect(201);
    expect(res.body.source.filename).toBe('evil.zip');
    expect((await h.store.list()).length).toBe(before + 1);
    expect(await h.leftovers()).toEqual([]);
  });

  describe('refuses bad requests with a 4xx, leaves nothing behind, stays healthy', () => {
    let before: number;
    beforeAll(async () => {
      before = (await h.store.list()).length;
    });

    it('415 for a raw zip body, naming multipart/form-data', async () => {
      const res = await h.http.post('/v1/datasets').set('content-type', 'application/zip').send(validZip).expect(415);
      expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(res.body.error.message).toContain('multipart/form-data');
      expect(res.body.error.message).toContain('application/zip');
    });

    it('415 for JSON, text and no body at all', async () => {
      for (const req of [
        h.http.post('/v1/datasets').send({ name: 'x' }),
        h.http.post('/v1/datasets').set('content-type', 'text/plain').send('hello'),
        h.http.post('/v1/datasets'),
      ]) {
        const res = await req.expect(415);
        expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
        expect(res.body.error.message).toContain('multipart/form-data');
      }
    });

    it('400 without the file part', async () => {
      const res = await h.http.post('/v1/datasets').field('name', 'no file').expect(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.message).toContain('"file"');
    });

    it('400 for an empty multipart body', async () => {
      const res = await h.http
        .post('/v1/datasets')
        .set('content-type', 'multipart/form-data; boundary=xyz')
        .send('--xyz--\r\n')
        .expect(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    });

    it('400 for a malformed multipart body', async () => {
      const res = await h.http
        .post('/v1/datasets')
        .set('content-type', 'multipart/form-data; boundary=xyz')
        .send('--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\nPK\x03\x04 truncated')
        .expect(400);
      expect(res.body.error.code).toBe('BAD_REQUEST');
    });

    it('400 for a multipart content type without a boundary', async () => {
      const res = await h.http.post('/v1/datasets').set('content-type', 'multipart/form-data').send('whatever');
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.body.error.code).toMatch(/^[A-Z_]+$/);
    });

    it('400 INVALID_ARCHIVE for an empty file', async () => {
      const res = await upload(Buffer.alloc(0), 'empty').expect(400);
      expect(res.body.error.code).toBe('INVALID_ARCHIVE');
    });

    it('400 INVALID_ARCHIVE for a file that is not a zip', async () => {
      const res = await upload(await png(32, false, 1), 'png as zip').expect(400);
      expect(res.body.error.code).toBe('INVALID_ARCHIVE');
      const res2 = await upload(Buffer.from('PK\x03\x04 this is not really a zip at all'), 'fake zip').expect(400);
      expect(res2.body.error.code).toBe('INVALID_ARCHIVE');
    });

    it('400 UNSAFE_ARCHIVE_ENTRY for a zip with a .. entry', async () => {
      const archive = await zip([
        ...(await Promise.all([0, 1, 2, 3, 4, 5].map(async (i) => ({ path: `NORMAL/n${i}.png`, data: await png(32, false, i) })))),
        ...(await Promise.all([0, 1, 2, 3, 4, 5].map(async (i) => ({ path: `PNEUMONIA/p${i}.png`, data: await png(32, true, i) })))),
        { path: 'xx/evil.png', data: await png(32, true, 99), store: true },
      ]);
      const res = await upload(renameEntry(archive, 'xx/evil.png', '../evil.png'), 'dotdot').expect(400);
      expect(res.body.error.code).toBe('UNSAFE_ARCHIVE_ENTRY');
      expect(res.body.error.message).toContain('..');
      expect(await readdir(path.dirname(h.dataDir))).not.toContain('evil.png');
    });

    it('422 for a dataset with one class only, or too few images', async () => {
      const oneClass = await zip(
        await Promise.all([0, 1, 2, 3, 4, 5].map(async (i) => ({ path: `NORMAL/${i}.png`, data: await png(32, false, i) }))),
      );
      const res = await upload(oneClass, 'one class').expect(422);
      expect(res.body.error.code).toBe('DATASET_ONE_CLASS');
      const tiny = await upload(await datasetZip({ perClass: 2 }), 'tiny').expect(422);
      expect(tiny.body.error.code).toBe('DATASET_TOO_SMALL');
    });

    it('400 for an unknown field, a second file, or the file under another name', async () => {
      const unknown = await h.http.post('/v1/datasets').field('colour', 'blue').attach('file', validZip, 'a.zip').expect(400);
      expect(unknown.body.error.message).toContain('colour');
      const twoFiles = await h.http
        .post('/v1/datasets')
        .attach('file', validZip, 'a.zip')
        .attach('file', validZip, 'b.zip')
        .expect(400);
      expect(twoFiles.body.error.code).toBe('VALIDATION_FAILED');
      const wrongName = await h.http.post('/v1/datasets').attach('archive', validZip, 'a.zip').expect(400);
      expect(wrongName.body.error.message).toContain('archive');
    });

    it('400 for a bad name: blank, too long, or given twice', async () => {
      await upload(validZip, '   ').expect(400);
      await upload(validZip, 'x'.repeat(101)).expect(400);
      await upload(validZip, 'x'.repeat(5000)).expect(400);
      await h.http.post('/v1/datasets').field('name', 'a').field('name', 'b').attach('file', validZip, 'a.zip').expect(400);
    });

    it('400 for a positiveClass that is not a folder name', async () => {
      const res = await h.http
        .post('/v1/datasets')
        .field('positiveClass', '../PNEUMONIA')
        .attach('file', validZip, 'a.zip')
        .expect((r) => expect([400, 422]).toContain(r.status));
      expect(res.body.error.code).toMatch(/^(VALIDATION_FAILED|DATASET_CLASSES_INVALID)$/);
    });

    it('after all that: nothing half-written and still healthy', async () => {
      await expectNothingHalfWritten(before);
      await expectHealthy();
    });
  });

  describe('with a lower upload limit (UPLOAD_LIMIT=40kb)', () => {
    let small: Harness;
    beforeAll(async () => {
      small = await startHarness(import.meta.url, { env: { UPLOAD_LIMIT: '40kb' } });
    });
    afterAll(async () => {
      await small?.close();
    });

    it('413 ARCHIVE_TOO_LARGE when the stream passes the limit, and the partial file is removed', async () => {
      const big = await datasetZip({ perClass: 30, size: 64 });
      expect(big.length).toBeGreaterThan(40_000 * 2);
      const res = await small.http.post('/v1/datasets').field('name', 'big').attach('file', big, 'big.zip').expect(413);
      expect(res.body.error.code).toBe('ARCHIVE_TOO_LARGE');
      expect(res.body.error.message).toContain('40000');
      expect(await small.leftovers()).toEqual([]);
      expect(await small.store.list()).toEqual([]);
      await small.http.get('/health/live').expect(200);
    });

    it('413 at once when Content-Length already says too large (chunk of the body never read)', async () => {
      const status = await rawRequest(small, {
        headers: {
          'content-type': 'multipart/form-data; boundary=b',
          'content-length': String(50 * 1024 * 1024),
        },
        body: '--b\r\nContent-Disposition: form-data; name="file"; filename="x.zip"\r\n\r\nPK',
      });
      expect(status).toMatch(/^HTTP\/1\.1 413/);
      expect(await small.leftovers()).toEqual([]);
      await small.http.get('/health/live').expect(200);
    });

    it('an archive under the limit still imports', async () => {
      const ok = await datasetZip({ perClass: 5, size: 24 });
      expect(ok.length).toBeLessThan(40_000);
      await small.http.post('/v1/datasets').attach('file', ok, 'ok.zip').expect(201);
    });
  });

  it('a client that disconnects mid-upload leaves no file behind and the server keeps serving', async () => {
    const before = (await h.store.list()).length;
    const big = await datasetZip({ perClass: 20, size: 64 });
    const boundary = 'abort-boundary';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\nContent-Type: application/zip\r\n\r\n`;
    const { port } = h.app.server.address() as net.AddressInfo;
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.write(
          `POST /v1/datasets HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
            `Content-Length: ${head.length + big.length + 100}\r\n\r\n${head}`,
        );
        sock.write(big.subarray(0, big.length >> 1), () => setTimeout(() => sock.destroy(), 100));
      });
      sock.on('close', () => resolve());
      sock.on('error', reject);
    });
    for (let i = 0; i < 50 && (await h.leftovers()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    await expectNothingHalfWritten(before);
    await expectHealthy();
  });
});

/** Sends a request by hand (supertest cannot lie about Content-Length); returns the status line. */
function rawRequest(harness: Harness, req: { headers: Record<string, string>; body: string }): Promise<string> {
  const { port } = harness.app.server.address() as net.AddressInfo;
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.on('data', (d) => {
      data += d.toString();
    });
    sock.on('close', () => resolve(data.split('\r\n')[0] ?? ''));
    sock.on('error', (err: NodeJS.ErrnoException) => (data ? resolve(data.split('\r\n')[0] ?? '') : reject(err)));
    const headers = Object.entries({ host: 'x', ...req.headers })
      .map(([k, v]) => `${k}: ${v}`)
      .join('\r\n');
    sock.write(`POST /v1/datasets HTTP/1.1\r\n${headers}\r\n\r\n${req.body}`);
    setTimeout(() => sock.end(), 500);
  });
}

describe('GET /v1/datasets and /v1/datasets/:id', () => {
  let id: string;
  beforeAll(async () => {
    id = (await upload(validZip, 'for reading').expect(201)).body.id;
  });

  it('lists summaries, newest first, without images or skipped lists', async () => {
    const res = await h.http.get('/v1/datasets').expect(200);
    expect(res.body.datasets.length).toBeGreaterThan(0);
    expect(res.body.datasets[0].id).toBe(id);
    for (const d of res.body.datasets) {
      expect(d.images).toBeUndefined();
      expect(d.skipped).toBeUndefined();
      expect(d.counts.images).toBeGreaterThan(0);
    }
  });

  it('gets one with its skipped list, the images only with ?include=images', async () => {
    const plain = await h.http.get(`/v1/datasets/${id}`).expect(200);
    expect(plain.body.skipped.length).toBe(4);
    expect(plain.body.images).toBeUndefined();
    const full = await h.http.get(`/v1/datasets/${id}?include=images`).expect(200);
    expect(full.body.images).toHaveLength(12);
    expect(full.body.images[0]).toEqual({
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      label: expect.any(Number),
      className: expect.stringMatching(/^(NORMAL|PNEUMONIA)$/),
      source: expect.stringMatching(/^chest\//),
    });
    await h.http.get(`/v1/datasets/${id}?include=everything`).expect(400);
  });

  it('404 for an unknown id, 400 for malformed ones', async () => {
    const missing = await h.http.get('/v1/datasets/ds_aaaaaaaaaaaaaaaa').expect(404);
    expect(missing.body.error.code).toBe('DATASET_NOT_FOUND');
    for (const bad of ['..%2F..', '..%2F..%2Fetc%2Fpasswd', '%2e%2e', 'DS_AAAAAAAAAAAAAAAA', 'ds_1', 'x'.repeat(300), '%00']) {
      const res = await h.http.get(`/v1/datasets/${bad}`);
      expect([400, 404]).toContain(res.status);
      expect(res.body.error.code).toMatch(/^(VALIDATION_FAILED|BAD_REQUEST|NOT_FOUND|DATASET_NOT_FOUND)$/);
    }
    const malformed = await h.http.get('/v1/datasets/..%2F..').expect(400);
    expect(malformed.body.error.code).toBe('VALIDATION_FAILED');
    await expectHealthy();
  });
});

describe('DELETE /v1/datasets/:id', () => {
  it('204, then 404; nothing of it stays on disk', async () => {
    const id = (await upload(validZip, 'to delete').expect(201)).body.id as string;
    await h.http.delete(`/v1/datasets/${id}`).expect(204, '');
    await h.http.get(`/v1/datasets/${id}`).expect(404);
    await h.http.delete(`/v1/datasets/${id}`).expect(404);
    expect(await readdir(path.join(h.dataDir, 'datasets'))).not.toContain(id);
    expect(await h.leftovers()).toEqual([]);
  });

  it('409 DATASET_IN_USE while a queued or running job uses it, 204 once it does not', async () => {
    const id = (await upload(validZip, 'in use').expect(201)).body.id as string;
    h.fake.inUse.add(id);
    const res = await h.http.delete(`/v1/datasets/${id}`).expect(409);
    expect(res.body.error.code).toBe('DATASET_IN_USE');
    await h.http.get(`/v1/datasets/${id}`).expect(200);
    h.fake.inUse.delete(id);
    await h.http.delete(`/v1/datasets/${id}`).expect(204);
  });

  it('400 for malformed ids, 404 for unknown ones', async () => {
    await h.http.delete('/v1/datasets/..%2F..').expect(400);
    await h.http.delete('/v1/datasets/ds_bbbbbbbbbbbbbbbb').expect(404);
  });

  it('an unexpected failure is a generic 500 that leaks nothing, and the server carries on', async () => {
    const id = (await upload(validZip, 'boom').expect(201)).body.id as string;
    h.fake.datasetInUseError = new Error('redis password is hunter2');
    try {
      const res = await h.http.delete(`/v1/datasets/${id}`).expect(500);
      expect(res.body).toEqual({ error: { code: 'INTERNAL', message: 'Internal server error' } });
      expect(res.headers['x-request-id']).toBeTruthy();
    } finally {
      delete h.fake.datasetInUseError;
    }
    await h.http.get(`/v1/datasets/${id}`).expect(200);
    await expectHealthy();
  });
});
