/**
 * One validator for every route: each route that takes an id, a name or a number in its path, its
 * query or its JSON body refuses the same malformed values the same way (400 VALIDATION_FAILED,
 * the message naming the part and field), and JSON is checked as sent (no coercion).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/api-harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness(import.meta.url);
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==';

/** Numbers in a path or a query: only canonical decimals are numbers, so all of these are refused. */
const MALFORMED_NUMBERS = ['0x10', '1e309', '1e3', '0', '-1', '1.5', '5.0', '05', '+5', '%205', '5%20', 'Infinity', 'NaN', '99999999999999999999', 'abc', ''];

/** Ids and names that no id pattern admits (path traversal, control and bidi characters, over-long). */
const MALFORMED_IDS = ['..%2F..', '.', '%2E%2E', 'a%00b', '%E2%80%AEx', 'x%20y', 'x'.repeat(300), '%F0%9F%92%A9'];

interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The URL with `{}` where the value under test goes. */
  url: string;
  /** Where the value lands in the message: "params/version", "querystring/limit". */
  field: string;
  body?: unknown;
}

const NUMBER_ROUTES: Route[] = [
  { method: 'GET', url: '/v1/models/chestxraynet/versions/{}', field: 'params/version' },
  { method: 'DELETE', url: '/v1/models/chestxraynet/versions/{}', field: 'params/version' },
  { method: 'GET', url: '/v1/training-jobs?limit={}', field: 'querystring/limit' },
  { method: 'POST', url: '/v1/predict?version={}', field: 'querystring/version', body: { images: [PNG_BASE64] } },
  { method: 'POST', url: '/predict?version={}', field: 'querystring/version', body: { images: [PNG_BASE64] } },
  { method: 'POST', url: '/v1/models/chestxraynet/predict?version={}', field: 'querystring/version', body: { images: [PNG_BASE64] } },
  { method: 'POST', url: '/v1/explain?version={}', field: 'querystring/version', body: { images: [PNG_BASE64] } },
];

const ID_ROUTES: Route[] = [
  { method: 'GET', url: '/v1/datasets/{}', field: 'params/id' },
  { method: 'DELETE', url: '/v1/datasets/{}', field: 'params/id' },
  { method: 'GET', url: '/v1/training-jobs/{}', field: 'params/id' },
  { method: 'GET', url: '/v1/training-jobs/{}/events', field: 'params/id' },
  { method: 'POST', url: '/v1/training-jobs/{}/cancel', field: 'params/id' },
  { method: 'GET', url: '/v1/models/{}', field: 'params/name' },
  { method: 'GET', url: '/v1/models/{}/versions/1', field: 'params/name' },
  { method: 'DELETE', url: '/v1/models/{}/versions/1', field: 'params/name' },
  { method: 'PUT', url: '/v1/models/{}/aliases/production', field: 'params/name', body: { version: 1 } },
  { method: 'PUT', url: '/v1/models/chestxraynet/aliases/{}', field: 'params/alias', body: { version: 1 } },
  { method: 'DELETE', url: '/v1/models/chestxraynet/aliases/{}', field: 'params/alias' },
  { method: 'POST', url: '/v1/models/{}/predict', field: 'params/name', body: { images: [PNG_BASE64] } },
  { method: 'POST', url: '/v1/explain?model={}', field: 'querystring/model', body: { images: [PNG_BASE64] } },
  { method: 'POST', url: '/v1/predict?alias={}', field: 'querystring/alias', body: { images: [PNG_BASE64] } },
];

async function call(route: Route, value: string) {
  const url = route.url.replace('{}', value);
  const req = h.http[route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete'](url);
  return route.body === undefined ? req : req.set('content-type', 'application/json').send(JSON.stringify(route.body));
}

function expectRefused(res: { status: number; body: { error?: { code?: string; message?: string; details?: { errors?: unknown } } } }, field: string) {
  expect(res.status).toBe(400);
  expect(res.body.error?.code).toBe('VALIDATION_FAILED');
  expect(res.body.error?.message).toContain(`${field}: `);
  expect(Array.isArray(res.body.error?.details?.errors)).toBe(true);
  expect((res.body.error?.message ?? '').length).toBeLessThan(400);
}

describe('malformed numbers: the same 400 on every route', () => {
  const table = NUMBER_ROUTES.flatMap((route) => MALFORMED_NUMBERS.map((value) => [`${route.method} ${route.url}`, value, route] as const));
  it.each(table)('%s with %j', async (_name, value, route) => {
    expectRefused(await call(route, value), route.field);
  });

  it('a canonical decimal passes the same validator (then 404 / the route goes on)', async () => {
    expect((await h.http.get('/v1/models/chestxraynet/versions/16')).status).toBe(404);
    const predict = await h.http.post('/v1/predict?version=16').set('content-type', 'application/json').send(JSON.stringify({ images: [PNG_BASE64] }));
    expect(predict.body.error?.code).not.toBe('VALIDATION_FAILED');
  });
});

describe('malformed ids and names: the same 400 on every route', () => {
  const table = ID_ROUTES.flatMap((route) => MALFORMED_IDS.map((value) => [`${route.method} ${route.url}`, value, route] as const));
  it.each(table)('%s with %j', async (_name, value, route) => {
    expectRefused(await call(route, value), route.field);
  });
});

describe('JSON bodies are checked as sent', () => {
  it.each([
    ['a string instead of the images array', '/v1/predict', { images: PNG_BASE64 }, 'body/images'],
    ['the same on explain', '/v1/explain', { images: PNG_BASE64 }, 'body/images'],
    ['a number inside the images array', '/v1/predict', { images: [7] }, 'body/images/0'],
    ['an unknown property', '/v1/predict', { images: [PNG_BASE64], model: 'x' }, 'body/model'],
  ])('predict: %s', async (_name, url, body, field) => {
    const res = await h.http.post(url).set('content-type', 'application/json').send(JSON.stringify(body));
    expectRefused(res, field);
  });

  it.each([
    ['"3"', '{"version":"3"}', 'body/version'],
    ['true', '{"version":true}', 'body/version'],
    ['[3]', '{"version":[3]}', 'body/version'],
    ['1e309 (Infinity once parsed)', '{"version":1e309}', 'body/version'],
    ['3.5', '{"version":3.5}', 'body/version'],
    ['and an extra property', '{"version":3,"forced":true}', 'body/forced'],
  ])('PUT alias with version %s: 400', async (_name, body, field) => {
    const res = await h.http.put('/v1/models/chestxraynet/aliases/production').set('content-type', 'application/json').send(body);
    expectRefused(res, field);
  });

  it('a path parameter longer than the router takes is refused with the same code', async () => {
    const res = await h.http.get(`/v1/datasets/${'x'.repeat(2000)}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('training jobs: the route refuses with the shared parameter schema before the service sees the body', async () => {
    const res = await h.http
      .post('/v1/training-jobs')
      .set('content-type', 'application/json')
      .send(JSON.stringify({ datasetId: 'ds_aaaaaaaaaaaaaaaa', epochs: '3', batchSize: 0 }));
    expectRefused(res, 'body/epochs');
    expect(res.body.error.message).toMatch(/^Invalid training job: /);
    expect(res.body.error.details.errors).toHaveLength(2);
  });

  it.each([
    ['/v1/datasets/ds_aaaaaaaaaaaaaaaa?includes=images', 'querystring/includes'],
    ['/v1/training-jobs?state=failed', 'querystring/state'],
  ])('an unknown query parameter: 400 (%s)', async (url, field) => {
    expectRefused(await h.http.get(url), field);
  });

  it('the service stays healthy', async () => {
    await h.http.get('/health/live').expect(200);
  });
});
