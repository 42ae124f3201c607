import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prefersPng } from '../../src/http/explain/routes.ts';
import { startPredictHarness, TEST_INPUT, trainTinyModel, untrainedModel, xrayBytes, type PredictHarness } from '../helpers/predict-harness.ts';
import { syntheticXray } from '../helpers/synthetic-xray.ts';

let h: PredictHarness;
let positive: Buffer;

beforeAll(async () => {
  h = await startPredictHarness(import.meta.url);
  await h.publish(h.config.defaultModelName, await trainTinyModel());
  await h.publish('other', await untrainedModel(), { classNames: ['ok', 'ill'], threshold: 0.3 });
  positive = await xrayBytes(11, true);
});

afterAll(async () => {
  await h?.close();
});

/** supertest: collect a binary body as a Buffer. */
function binary(res: NodeJS.ReadableStream, cb: (err: Error | null, body: Buffer) => void) {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
}

describe('POST /v1/explain', () => {
  it('answers an image/png overlay when Accept prefers it, with the prediction in headers', async () => {
    const res = await h.http
      .post('/v1/explain')
      .set('accept', 'image/png')
      .set('content-type', 'image/png')
      .send(positive)
      .buffer(true)
      .parse(binary as unknown as Parameters<ReturnType<PredictHarness['http']['post']>['parse']>[0]);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.headers['vary']).toMatch(/accept/i);
    expect(res.headers['x-model-name']).toBe(h.config.defaultModelName);
    expect(res.headers['x-model-version']).toBe('1');
    expect(Number(res.headers['x-probability'])).toBeGreaterThanOrEqual(0);
    expect(res.headers['x-label']).toMatch(/^(NORMAL|PNEUMONIA)$/);
    const meta = await sharp(res.body as Buffer).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height]).toEqual([TEST_INPUT, TEST_INPUT]);
    expect(meta.channels).toBe(3);
  });

  it('answers JSON with the heat map in base64 otherwise, agreeing with /v1/predict', async () => {
    const res = await h.http.post('/v1/explain').set('content-type', 'image/png').send(positive);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.model).toEqual({ name: h.config.defaultModelName, version: 1 });
    expect(res.body.threshold).toBe(0.5);
    const png = Buffer.from(res.body.heatmap, 'base64');
    expect((await sharp(png).metadata()).format).toBe('png');
    const predicted = await h.http.post('/v1/predict').set('content-type', 'image/png').send(positive);
    expect(res.body.probability).toBeCloseTo(predicted.body.predictions[0].probability, 5);
    expect(res.body.label).toBe(predicted.body.predictions[0].label);
  });

  it('takes the model, version and alias from the query, and all three input forms', async () => {
    const json = await h.http.post('/v1/explain?model=other&version=1').send({ images: [positive.toString('base64')] });
    expect(json.status).toBe(200);
    expect(json.body.model).toEqual({ name: 'other', version: 1 });
    expect(json.body.threshold).toBe(0.3);
    expect(['ok', 'ill']).toContain(json.body.label);
    const form = await h.http.post('/v1/explain?model=other').attach('image', positive, 'x.png');
    expect(form.status).toBe(200);
    expect(form.body.probability).toBeCloseTo(json.body.probability, 5);
    const alias = await h.http.post('/v1/explain?alias=nosuch').set('content-type', 'image/png').send(positive);
    expect(alias.status).toBe(404);
    expect(alias.body.error.code).toBe('ALIAS_NOT_FOUND');
    const model = await h.http.post('/v1/explain?model=nosuch').set('content-type', 'image/png').send(positive);
    expect(model.status).toBe(404);
    expect(model.body.error.code).toBe('MODEL_NOT_FOUND');
  });

  it('wants exactly one good image', async () => {
    const two = await h.http.post('/v1/explain').attach('image', positive, 'a.png').attach('image', positive, 'b.png');
    expect(two.status).toBe(400);
    const twoJson = await h.http.post('/v1/explain').send({ images: [positive.toString('base64'), positive.toString('base64')] });
    expect(twoJson.status).toBe(400);
    const none = await h.http.post('/v1/explain');
    expect(none.status).toBe(400);
    const bad = await h.http.post('/v1/explain').set('content-type', 'image/png').send(positive.subarray(0, 100));
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('IMAGE_TRUNCATED');
    const text = await h.http.post('/v1/explain').set('content-type', 'text/plain').send('hello');
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});

/** A synthetic X-ray stretched to width x height, as PNG or JPEG. */
async function xrayOfSize(width: number, height: number, format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const img = sharp(Buffer.from(syntheticXray(256, true, 21)), { raw: { width: 256, height: 256, channels: 1 } }).resize(width, height, { fit: 'fill' });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 90 }).toBuffer();
}

const pngSize = async (base64: string) => {
  const meta = await sharp(Buffer.from(base64, 'base64')).metadata();
  return { format: meta.format, width: meta.width, height: meta.height, channels: meta.channels };
};

describe('POST /v1/explain in the original geometry', () => {
  it("draws the heat map at the image's own aspect and size, with the layer, its grid and a note", async () => {
    const res = await h.http.post('/v1/explain').attach('image', await xrayOfSize(300, 180), 'wide.png');
    expect(res.status).toBe(200);
    const b = res.body;
    expect([b.width, b.height]).toEqual([300, 180]);
    expect(b.geometry).toBe('original');
    expect(b.source).toEqual({ width: 300, height: 180 });
    // 64 input: conv4 is the deepest layer with an 8x8 grid.
    expect(b.layer).toBe('conv4');
    expect(b.method).toBe('layercam');
    expect(b.grid).toEqual({ rows: 8, cols: 8 });
    expect(b.inputSize).toBe(TEST_INPUT);
    expect(b.explainedClass).toBe('PNEUMONIA');
    expect(b.note).toMatch(/not a localisation/);
    expect(b.note).toMatch(/shortcuts/);
    expect(await pngSize(b.heatmap)).toEqual({ format: 'png', width: 300, height: 180, channels: 3 });
    expect(await pngSize(b.heatLayer)).toEqual({ format: 'png', width: 300, height: 180, channels: 4 });
  });

  it('caps the long side at 1024 by default and at maxSide when asked, keeping the aspect', async () => {
    const big = await xrayOfSize(2400, 1600, 'jpeg');
    const capped = await h.http.post('/v1/explain').set('content-type', 'image/jpeg').send(big);
    expect(capped.status).toBe(200);
    expect([capped.body.width, capped.body.height]).toEqual([1024, 683]);
    expect(capped.body.source).toEqual({ width: 2400, height: 1600 });
    expect((await pngSize(capped.body.heatLayer)).width).toBe(1024);
    const portrait = await h.http.post('/v1/explain?maxSide=300').attach('image', await xrayOfSize(1000, 1500), 'tall.png');
    expect(portrait.status).toBe(200);
    expect([portrait.body.width, portrait.body.height]).toEqual([200, 300]);
    // Never enlarged: a small image stays its size whatever maxSide says.
    const small = await h.http.post('/v1/explain?maxSide=2048').attach('image', await xrayOfSize(120, 90), 'small.png');
    expect([small.body.width, small.body.height]).toEqual([120, 90]);
    // Same prediction whatever the overlay's size: the model input does not depend on it.
    const again = await h.http.post('/v1/explain?maxSide=64').set('content-type', 'image/jpeg').send(big);
    expect(again.body.probability).toBeCloseTo(capped.body.probability, 6);
    expect([again.body.width, again.body.height]).toEqual([64, 43]);
  });

  it('answers the image/png form in the same geometry, naming the layer in a header', async () => {
    const res = await h.http
      .post('/v1/explain?maxSide=256')
      .set('accept', 'image/png')
      .attach('image', await xrayOfSize(400, 300), 'x.png')
      .buffer(true)
      .parse(binary as unknown as Parameters<ReturnType<PredictHarness['http']['post']>['parse']>[0]);
    expect(res.status).toBe(200);
    expect(res.headers['x-heatmap-layer']).toBe('conv4 (layercam)');
    const meta = await sharp(res.body as Buffer).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([256, 192, 3]);
  });

  it('refuses a maxSide out of range or not an integer', async () => {
    const img = await xrayOfSize(100, 100);
    for (const q of ['maxSide=10', 'maxSide=5000', 'maxSide=abc', 'maxSide=512.5']) {
      const res = await h.http.post(`/v1/explain?${q}`).set('content-type', 'image/png').send(img);
      expect(res.status, q).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.message).toMatch(/maxSide/);
    }
  });

  it('leaves no tensor behind, whatever the geometry', async () => {
    const wide = await xrayOfSize(333, 211);
    await h.http.post('/v1/explain').attach('image', wide, 'a.png').expect(200);
    const before = tf.memory().numTensors;
    for (const maxSide of [64, 200, 1024]) await h.http.post(`/v1/explain?maxSide=${maxSide}`).attach('image', wide, 'a.png').expect(200);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('prefersPng', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['*/*', false],
    ['application/json', false],
    ['image/png', true],
    ['image/*', true],
    ['image/png, application/json', true],
    ['application/json, image/png', false],
    ['image/png;q=0.5, application/json', false],
    ['application/json;q=0.5, image/png', true],
    ['image/png, */*;q=0.8', true],
    ['text/html, image/png;q=0.9, */*;q=0.8', true],
    ['image/png;q=0', false],
    ['image/webp,image/*,*/*;q=0.8', true],
  ])('Accept %j -> png %s', (accept, expected) => {
    expect(prefersPng(accept)).toBe(expected);
  });
});
