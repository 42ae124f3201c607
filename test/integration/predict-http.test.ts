import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelArtifacts } from '../../src/storage/model-types.ts';
import { startPredictHarness, trainTinyModel, untrainedModel, xrayBytes, type PredictHarness } from '../helpers/predict-harness.ts';

let h: PredictHarness;
let trained: ModelArtifacts;
let png: Buffer[]; // alternating negative / positive synthetic X-rays
let jpeg: Buffer;

/** A PNG whose IHDR declares other dimensions (the decoder reads the header before any pixel). */
function withPngDimensions(file: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(file);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  return out;
}

function multipart(req: ReturnType<PredictHarness['http']['post']>, files: Buffer[], field = 'image') {
  files.forEach((f, i) => req.attach(field, f, { filename: `x${i}.png`, contentType: 'image/png' }));
  return req;
}

beforeAll(async () => {
  h = await startPredictHarness(import.meta.url);
  trained = await trainTinyModel();
  png = await Promise.all(Array.from({ length: 6 }, (_, i) => xrayBytes(100 + i, i % 2 === 1)));
  jpeg = await xrayBytes(7, true, 'jpeg');
});

afterAll(async () => {
  await h?.close();
});

describe('before any model version exists', () => {
  it('answers 503 NO_MODEL with Retry-After on every predict route', async () => {
    for (const url of ['/v1/predict', '/predict']) {
      const res = await h.http.post(url).set('content-type', 'image/png').send(png[0]);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('NO_MODEL');
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    }
    const explain = await h.http.post('/v1/explain').set('content-type', 'image/png').send(png[0]);
    expect(explain.status).toBe(503);
    expect(explain.body.error.code).toBe('NO_MODEL');
  });

  it('answers 404 MODEL_NOT_FOUND for another unknown model', async () => {
    const res = await h.http.post('/v1/models/nosuchmodel/predict').set('content-type', 'image/png').send(png[0]);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('MODEL_NOT_FOUND');
  });
});

describe('with published versions', () => {
  beforeAll(async () => {
    await h.publish(h.config.defaultModelName, trained); // v1
    await h.publish(h.config.defaultModelName, await untrainedModel(), {
      classNames: ['healthy', 'sick'],
      threshold: 0.9,
      modelOptions: { inputSize: 64 },
    }); // v2
    await h.publish('other', trained);
  });

  it('serves the latest version by default, and the trained model tells the classes apart', async () => {
    const res = await h.http.post('/v1/predict?version=1').set('content-type', 'application/json').send({ images: png.map((b) => b.toString('base64')) });
    expect(res.status).toBe(200);
    expect(res.body.model).toEqual({ name: h.config.defaultModelName, version: 1 });
    const probs = res.body.predictions.map((p: { probability: number }) => p.probability);
    expect(probs).toHaveLength(6);
    const neg = probs.filter((_: number, i: number) => i % 2 === 0);
    const pos = probs.filter((_: number, i: number) => i % 2 === 1);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(pos)).toBeGreaterThan(mean(neg) + 0.2);
    for (const p of res.body.predictions) {
      expect(p.threshold).toBe(0.5);
      expect(p.label).toBe(p.probability >= 0.5 ? 'PNEUMONIA' : 'NORMAL');
    }
    const latest = await h.http.post('/v1/predict').set('content-type', 'image/png').send(png[0]);
    expect(latest.body.model.version).toBe(2);
    expect(latest.body.predictions[0].threshold).toBe(0.9);
    expect(['healthy', 'sick']).toContain(latest.body.predictions[0].label);
  });

  it('takes the three input forms and answers the same for the same images, in input order', async () => {
    const q = '?version=2'; // untrained: unsaturated, distinct answers per image
    const json = await h.http.post(`/v1/predict${q}`).send({ images: [png[1]!.toString('base64'), `data:image/png;base64,${png[0]!.toString('base64')}`, png[3]!.toString('base64')] });
    const form = await multipart(h.http.post(`/v1/predict${q}`), [png[1]!, png[0]!, png[3]!]);
    const single = await Promise.all([png[1]!, png[0]!, png[3]!].map((b) => h.http.post(`/v1/predict${q}`).set('content-type', 'image/png').send(b)));
    expect(json.status).toBe(200);
    expect(form.status).toBe(200);
    const fromJson = json.body.predictions.map((p: { probability: number }) => p.probability);
    const fromForm = form.body.predictions.map((p: { probability: number }) => p.probability);
    const fromRaw = single.map((r) => r.body.predictions[0].probability);
    for (let i = 0; i < 3; i++) {
      expect(fromForm[i]).toBeCloseTo(fromJson[i], 5);
      expect(fromRaw[i]).toBeCloseTo(fromJson[i], 5);
    }
    // the answers differ per image, so matching the one-image answers proves the order is kept
    expect(new Set(fromJson).size).toBe(3);
  });

  it('takes a raw image/jpeg body, an `images` field name and URL-safe base64', async () => {
    const raw = await h.http.post('/v1/predict').set('content-type', 'image/jpeg').send(jpeg);
    expect(raw.status).toBe(200);
    const plural = await multipart(h.http.post('/v1/predict'), [jpeg], 'images');
    expect(plural.status).toBe(200);
    const urlSafe = jpeg.toString('base64url');
    const json = await h.http.post('/v1/predict').send({ images: [urlSafe] });
    expect(json.status).toBe(200);
    expect(json.body.predictions[0].probability).toBeCloseTo(raw.body.predictions[0].probability, 5);
  });

  it('/predict answers exactly as /v1/predict; /v1/models/:name/predict serves a named model', async () => {
    const a = await h.http.post('/predict?version=1').set('content-type', 'image/png').send(png[1]);
    const b = await h.http.post('/v1/predict?version=1').set('content-type', 'image/png').send(png[1]);
    expect(a.status).toBe(200);
    expect(a.body).toEqual(b.body);
    const other = await h.http.post('/v1/models/other/predict').set('content-type', 'image/png').send(png[1]);
    expect(other.status).toBe(200);
    expect(other.body.model).toEqual({ name: 'other', version: 1 });
    expect(other.body.predictions[0].probability).toBeCloseTo(b.body.predictions[0].probability, 5);
  });

  it('chooses versions by ?version and ?alias; production beats latest; unknowns are 404', async () => {
    await h.moveAlias(h.config.defaultModelName, 'staging', 1);
    const staged = await h.http.post('/v1/predict?alias=staging').set('content-type', 'image/png').send(png[0]);
    expect(staged.body.model.version).toBe(1);
    const both = await h.http.post('/v1/predict?alias=staging&version=2').set('content-type', 'image/png').send(png[0]);
    expect(both.body.model.version).toBe(2); // explicit version wins

    const cases: [string, number, string][] = [
      ['/v1/predict?version=99', 404, 'VERSION_NOT_FOUND'],
      ['/v1/predict?alias=nosuch', 404, 'ALIAS_NOT_FOUND'],
      ['/v1/models/nosuchmodel/predict', 404, 'MODEL_NOT_FOUND'],
      ['/v1/models/other/predict?version=2', 404, 'VERSION_NOT_FOUND'],
      ['/v1/predict?version=0', 400, 'VALIDATION_FAILED'],
      ['/v1/predict?version=abc', 400, 'VALIDATION_FAILED'],
      ['/v1/predict?alias=Not%20An%20Alias', 400, 'VALIDATION_FAILED'],
      ['/v1/predict?bogus=1', 400, 'VALIDATION_FAILED'],
      ['/v1/models/BAD..NAME/predict', 400, 'VALIDATION_FAILED'],
    ];
    for (const [url, status, code] of cases) {
      const res = await h.http.post(url).set('content-type', 'image/png').send(png[0]);
      expect({ url, status: res.status, code: res.body.error?.code }).toEqual({ url, status, code });
    }

    await h.moveAlias(h.config.defaultModelName, 'production', 1);
    // the alias event makes the default resolution switch (loaded and warmed first)
    const deadline = Date.now() + 5000;
    let version = 0;
    while (Date.now() < deadline) {
      const res = await h.http.post('/v1/predict').set('content-type', 'image/png').send(png[0]);
      version = res.body.model.version;
      if (version === 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(version).toBe(1);
  });

  it('answers every bad image with a 4xx code naming the image, and keeps serving', async () => {
    const good = png[0]!;
    const gif = Buffer.from('474946383961010001000000002c00000000010001000002024401003b', 'hex');
    const cases: [string, Buffer, number, string][] = [
      ['empty', Buffer.alloc(0), 422, 'IMAGE_EMPTY'],
      ['truncated', good.subarray(0, Math.floor(good.length / 2)), 422, 'IMAGE_TRUNCATED'],
      ['corrupt', Buffer.concat([good.subarray(0, 40), Buffer.alloc(good.length - 60, 0x5a), good.subarray(good.length - 20)]), 422, 'IMAGE_CORRUPT'],
      ['gif', gif, 415, 'UNSUPPORTED_IMAGE_FORMAT'],
      ['text', Buffer.from('hello, I am not an image'), 415, 'UNSUPPORTED_IMAGE_FORMAT'],
      ['huge dimensions', withPngDimensions(good, 100_000, 100_000), 413, 'IMAGE_TOO_LARGE'],
      ['zero size', withPngDimensions(good, 0, 96), 422, 'IMAGE_ZERO_SIZE'],
    ];
    for (const [what, bad, status, code] of cases) {
      // third of three images in a multipart body: the error names index 2
      const form = await multipart(h.http.post('/v1/predict'), [good, png[1]!, bad]);
      expect({ what, status: form.status, code: form.body.error?.code, index: form.body.error?.details?.index }).toEqual({
        what,
        status,
        code,
        index: 2,
      });
      expect(form.body.error.message).toMatch(/^image 2: /);
      const json = await h.http.post('/v1/predict').send({ images: [bad.toString('base64')] });
      expect({ what, status: json.status, code: json.body.error?.code }).toEqual({ what, status, code });
      if (what !== 'empty') {
        const raw = await h.http.post('/v1/predict').set('content-type', 'image/png').send(bad);
        expect({ what, status: raw.status, code: raw.body.error?.code }).toEqual({ what, status, code });
      }
    }
    const ok = await h.http.post('/v1/predict').set('content-type', 'image/png').send(good);
    expect(ok.status).toBe(200);
  });

  it('rejects a request without images, with bad base64, or with an unexpected form field', async () => {
    const cases: [string, ReturnType<PredictHarness['http']['post']>, number, string][] = [
      ['no body', h.http.post('/v1/predict'), 400, 'BAD_REQUEST'],
      ['empty JSON list', h.http.post('/v1/predict').send({ images: [] }), 400, 'VALIDATION_FAILED'],
      ['JSON without images', h.http.post('/v1/predict').send({ image: 'abc' }), 400, 'VALIDATION_FAILED'],
      ['JSON not strings', h.http.post('/v1/predict').send({ images: [{}] }), 400, 'VALIDATION_FAILED'],
      ['bad base64', h.http.post('/v1/predict').send({ images: [png[0]!.toString('base64'), 'not*base64!'] }), 400, 'BAD_REQUEST'],
      ['malformed JSON', h.http.post('/v1/predict').set('content-type', 'application/json').send('{"images": ['), 400, 'BAD_REQUEST'],
      ['empty form', h.http.post('/v1/predict').field('note', 'no files here'), 400, 'BAD_REQUEST'],
      ['wrong field', multipart(h.http.post('/v1/predict'), [png[0]!], 'file'), 400, 'BAD_REQUEST'],
    ];
    for (const [what, req, status, code] of cases) {
      const res = await req;
      expect({ what, status: res.status, code: res.body.error?.code }).toEqual({ what, status, code });
    }
    const bad64 = await h.http.post('/v1/predict').send({ images: [png[0]!.toString('base64'), 'not*base64!'] });
    expect(bad64.body.error.details).toEqual({ index: 1 });
  });

  it('refuses other content types with 415', async () => {
    for (const type of ['text/plain', 'image/gif', 'application/octet-stream', 'application/x-www-form-urlencoded']) {
      const res = await h.http.post('/v1/predict').set('content-type', type).send(Buffer.from('GIF89a....'));
      expect({ type, status: res.status, code: res.body.error?.code }).toEqual({ type, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    }
  });
});

describe('limits', () => {
  let small: PredictHarness;
  beforeAll(async () => {
    small = await startPredictHarness(import.meta.url, { env: { MAX_IMAGES_PER_REQUEST: '3', REQUEST_LIMIT: '200kb' } });
    await small.publish(small.config.defaultModelName, trained);
  });
  afterAll(async () => {
    await small?.close();
  });

  it('too many images: 413 in every form', async () => {
    const four = [png[0]!, png[1]!, png[2]!, png[3]!];
    const form = await multipart(small.http.post('/v1/predict'), four);
    expect(form.status).toBe(413);
    expect(form.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(form.body.error.message).toMatch(/too many images/);
    const json = await small.http.post('/v1/predict').send({ images: four.map((b) => b.toString('base64')) });
    expect(json.status).toBe(413);
    expect(json.body.error.message).toMatch(/too many images/);
    const three = await multipart(small.http.post('/v1/predict'), four.slice(0, 3));
    expect(three.status).toBe(200);
    expect(three.body.predictions).toHaveLength(3);
  });

  it('too large a body: 413 in every form, and the server stays healthy', async () => {
    const noise = await sharp(Buffer.from(Array.from({ length: 400 * 400 }, () => Math.floor(Math.random() * 256))), {
      raw: { width: 400, height: 400, channels: 1 },
    })
      .png({ compressionLevel: 0 })
      .toBuffer();
    expect(noise.length).toBeGreaterThan(200_000);
    const raw = await small.http.post('/v1/predict').set('content-type', 'image/png').send(noise);
    expect(raw.status).toBe(413);
    expect(raw.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const form = await multipart(small.http.post('/v1/predict'), [noise]);
    expect(form.status).toBe(413);
    const twoHalves = await multipart(small.http.post('/v1/predict'), [noise.subarray(0, 120_000), noise.subarray(0, 120_000)]);
    expect(twoHalves.status).toBe(413);
    const json = await small.http.post('/v1/predict').send({ images: [noise.toString('base64')] });
    expect(json.status).toBe(413);
    const ok = await small.http.post('/v1/predict').set('content-type', 'image/png').send(png[0]);
    expect(ok.status).toBe(200);
  });
});

describe('resources', () => {
  it('tf.memory().numTensors does not grow across many predictions and explanations', async () => {
    const body = { images: png.slice(0, 4).map((b) => b.toString('base64')) };
    // warm: every version these calls touch is loaded
    await h.http.post('/v1/predict?version=1').send(body);
    await h.http.post('/v1/explain?version=1').set('content-type', 'image/png').send(png[1]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 15; i++) {
      const res = await Promise.all([
        h.http.post('/v1/predict?version=1').send(body),
        h.http.post('/v1/predict?version=1').set('content-type', 'image/png').send(png[i % 6]),
        h.http.post('/v1/explain?version=1').set('content-type', 'image/png').send(png[1]),
        h.http.post('/v1/predict?version=1').set('content-type', 'image/png').send(Buffer.from('broken')),
      ]);
      expect(res.map((r) => r.status)).toEqual([200, 200, 200, 415]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('counts predictions by label and batch sizes, and reports loaded versions', async () => {
    const text = await h.metrics.registry.metrics();
    expect(text).toMatch(/cxr_predictions_total\{model="chestxraynet",version="1",label="(NORMAL|PNEUMONIA)"\} \d+/);
    expect(text).toMatch(/cxr_prediction_batch_size_count \d+/);
    const loaded = h.predictions.loaded();
    expect(loaded).toContainEqual(expect.objectContaining({ name: 'chestxraynet', version: 1 }));
    expect(text).toMatch(/cxr_loaded_model_versions\{model="chestxraynet",version="1"\} 1/);
  });
});

describe('auth', () => {
  const PREDICT_KEY = 'predict-key-0123456789';
  const ADMIN_KEY = 'admin-key-0123456789ab';
  let secured: PredictHarness;
  beforeAll(async () => {
    secured = await startPredictHarness(import.meta.url, { env: { API_KEYS: `${PREDICT_KEY}:predict,${ADMIN_KEY}:admin` } });
    await secured.publish(secured.config.defaultModelName, trained);
  });
  afterAll(async () => {
    await secured?.close();
  });

  it('predict and explain need a predict or admin key', async () => {
    for (const url of ['/v1/predict', '/predict', '/v1/explain']) {
      const none = await secured.http.post(url).set('content-type', 'image/png').send(png[0]);
      expect({ url, status: none.status, code: none.body.error?.code }).toEqual({ url, status: 401, code: 'UNAUTHENTICATED' });
      const wrong = await secured.http.post(url).set('x-api-key', 'not-a-key-at-all-000').set('content-type', 'image/png').send(png[0]);
      expect(wrong.status).toBe(401);
      const predictKey = await secured.http.post(url).set('x-api-key', PREDICT_KEY).set('content-type', 'image/png').send(png[0]);
      expect({ url, status: predictKey.status }).toEqual({ url, status: 200 });
      const admin = await secured.http.post(url).set('authorization', `Bearer ${ADMIN_KEY}`).set('content-type', 'image/png').send(png[0]);
      expect({ url, status: admin.status }).toEqual({ url, status: 200 });
    }
  });
});
