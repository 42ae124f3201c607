import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prefersPng } from '../../src/http/explain/routes.ts';
import { startPredictHarness, TEST_INPUT, trainTinyModel, untrainedModel, xrayBytes, type PredictHarness } from '../helpers/predict-harness.ts';

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
