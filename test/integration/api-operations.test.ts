import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/api-harness.ts';

const ADMIN_KEY = 'admin-key-0123456789abcdef';
const PREDICT_KEY = 'predict-key-0123456789abcdef';

describe('health, metrics, errors and request ids (auth off)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(import.meta.url);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('GET /health/live', async () => {
    await h.http.get('/health/live').expect(200, { status: 'ok' });
  });

  it('GET /health/ready: 200 with Redis, reporting engine, runtime, loaded models and workers', async () => {
    h.fake.loaded = [{ name: 'chestxraynet', version: 2, runtime: 'tfjs' }];
    h.fake.readiness = { name: 'chestxraynet', status: 'ready', version: 2, runtime: 'tfjs' };
    const res = await h.http.get('/health/ready').expect(200);
    expect(res.body).toMatchObject({
      status: 'ready',
      redis: true,
      engine: { name: 'wasm', tfjsVersion: '4.22.0' },
      runtime: 'tfjs',
      predictRuntime: { requested: 'tfjs' },
      models: { loaded: [{ name: 'chestxraynet', version: 2, runtime: 'tfjs' }], default: { name: 'chestxraynet', status: 'ready', version: 2 } },
      workers: 1,
    });
    expect(res.body.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(res.body.error).toBeUndefined();
  });

  it('GET /health/ready: 503 MODEL_NOT_READY while the default model loads or after its load failed; 200 when it has no version', async () => {
    h.fake.readiness = { name: 'chestxraynet', status: 'loading', version: 4 };
    const loading = await h.http.get('/health/ready').expect(503);
    expect(loading.headers['retry-after']).toBeDefined();
    expect(loading.body).toMatchObject({ status: 'not-ready', redis: true, models: { default: { status: 'loading', version: 4 } }, error: { code: 'MODEL_NOT_READY' } });
    h.fake.readiness = { name: 'chestxraynet', status: 'failed', version: 4, reason: 'weights.bin is truncated' };
    const failed = await h.http.get('/health/ready').expect(503);
    expect(failed.body.error.message).toContain('weights.bin is truncated');
    h.fake.readiness = undefined;
    const absent = await h.http.get('/health/ready').expect(200);
    expect(absent.body.models.default).toEqual({ name: 'chestxraynet', status: 'absent', version: null });
  });

  it('GET /metrics: Prometheus text with request latency per route template, job and model gauges', async () => {
    h.fake.counts = { queued: 2, running: 1, completed: 5, failed: 0, cancelled: 1 };
    h.fake.loaded = [{ name: 'chestxraynet', version: 3, runtime: 'tfjs' }];
    await h.http.get('/v1/datasets/ds_aaaaaaaaaaaaaaaa').expect(404);
    await h.http.get('/no/such/route').expect(404);
    const res = await h.http.get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toContain('http_request_duration_seconds_bucket{');
    expect(res.text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/health\/live",status="200"\} \d+/);
    expect(res.text).toMatch(/route="\/v1\/datasets\/:id",status="404"/);
    expect(res.text).toMatch(/route="unmatched",status="404"/);
    expect(res.text).not.toContain('ds_aaaaaaaaaaaaaaaa');
    expect(res.text).toContain('cxr_training_jobs{state="queued"} 2');
    expect(res.text).toContain('cxr_training_jobs{state="running"} 1');
    expect(res.text).toContain('cxr_loaded_model_versions{model="chestxraynet",version="3"} 1');
    expect(res.text).toContain('# TYPE cxr_predictions_total counter');
    expect(res.text).toContain('# TYPE cxr_prediction_batch_size histogram');
  });

  it('unknown routes: 404 NOT_FOUND in the error shape', async () => {
    const res = await h.http.get('/v2/whatever?x=1').expect(404);
    expect(res.body).toEqual({ error: { code: 'NOT_FOUND', message: 'No route GET /v2/whatever' } });
    await h.http.post('/v1/models').expect(404);
  });

  it('malformed URLs: 400 in the error shape', async () => {
    const res = await h.http.get('/v1/datasets/%E0%A4%A').expect(400);
    expect(res.body.error.code).toBe('BAD_REQUEST');
  });

  it('echoes a sane x-request-id, replaces an unsafe one, generates one when absent', async () => {
    const sane = await h.http.get('/health/live').set('x-request-id', 'abc-123.def:4_5').expect(200);
    expect(sane.headers['x-request-id']).toBe('abc-123.def:4_5');
    const unsafe = await h.http.get('/health/live').set('x-request-id', 'evil\tvalue<script>').expect(200);
    expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const tooLong = await h.http.get('/health/live').set('x-request-id', 'a'.repeat(200)).expect(200);
    expect(tooLong.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const none = await h.http.get('/health/live').expect(200);
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const onError = await h.http.get('/nowhere').set('x-request-id', 'trace-me').expect(404);
    expect(onError.headers['x-request-id']).toBe('trace-me');
  });

  it('documents every route for OpenAPI: operationId, summary, tags, and error responses', async () => {
    const doc = h.app.swagger() as unknown as { paths: Record<string, Record<string, Record<string, unknown>>> };
    const ids: string[] = [];
    for (const [url, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${url}`;
        expect(op.operationId, where).toEqual(expect.any(String));
        expect(op.summary, where).toEqual(expect.any(String));
        expect(op.tags, where).toEqual([expect.any(String)]);
        const responses = op.responses as Record<string, unknown>;
        expect(Object.keys(responses).some((s) => s.startsWith('2')), where).toBe(true);
        expect(responses['500'], where).toBeDefined();
        ids.push(op.operationId as string);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(
      expect.arrayContaining([
        'healthLive',
        'healthReady',
        'getMetrics',
        'createDataset',
        'listDatasets',
        'getDataset',
        'deleteDataset',
        'listModels',
        'getModel',
        'getModelVersion',
        'getModelVersionOnnx',
        'getModelReady',
        'deleteModelVersion',
        'setModelAlias',
        'deleteModelAlias',
      ]),
    );
    const upload = doc.paths['/v1/datasets']!.post!.requestBody as { content: Record<string, unknown> };
    expect(Object.keys(upload.content)).toEqual(['multipart/form-data']);
  });
});

describe('readiness without Redis', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(import.meta.url, { healthRedisUrl: 'redis://127.0.0.1:1' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('503 with the report, the error object and Retry-After; liveness stays 200', async () => {
    const started = Date.now();
    const res = await h.http.get('/health/ready').expect(503);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(res.headers['retry-after']).toBeDefined();
    expect(res.body).toMatchObject({
      status: 'not-ready',
      redis: false,
      engine: { name: 'wasm' },
      error: { code: 'QUEUE_UNAVAILABLE' },
    });
    await h.http.get('/health/live').expect(200);
  });
});

describe('auth (API_KEYS set)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(import.meta.url, { env: { API_KEYS: `${ADMIN_KEY}:admin,${PREDICT_KEY}:predict` } });
    await h.registry.publish(
      'chestxraynet',
      { modelJson: { weightsManifest: [{ paths: ['weights.bin'], weights: [] }] }, weights: new Uint8Array([1]) },
      {},
    );
  });
  afterAll(async () => {
    await h?.close();
  });

  it('401 without a key or with an unknown one, with WWW-Authenticate', async () => {
    const none = await h.http.get('/v1/datasets').expect(401);
    expect(none.body.error.code).toBe('UNAUTHENTICATED');
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const unknown = await h.http.get('/v1/datasets').set('x-api-key', 'not-a-key-0123456789').expect(401);
    expect(unknown.body.error.message).toBe('Unknown API key');
    await h.http.get('/v1/models').set('authorization', 'Bearer wrong-key-0123456789').expect(401);
    await h.http.get('/v1/models').set('authorization', `Basic ${ADMIN_KEY}`).expect(401);
  });

  it('admin keys may do everything, by header or bearer token', async () => {
    await h.http.get('/v1/datasets').set('x-api-key', ADMIN_KEY).expect(200);
    await h.http.get('/v1/datasets').set('authorization', `Bearer ${ADMIN_KEY}`).expect(200);
    await h.http
      .put('/v1/models/chestxraynet/aliases/production')
      .set('authorization', `bearer ${ADMIN_KEY}`)
      .send({ version: 1 })
      .expect(200);
  });

  it('predict keys may read models but not change anything or touch datasets: 403', async () => {
    await h.http.get('/v1/models').set('x-api-key', PREDICT_KEY).expect(200);
    await h.http.get('/v1/models/chestxraynet/versions/1').set('x-api-key', PREDICT_KEY).expect(200);
    const put = await h.http
      .put('/v1/models/chestxraynet/aliases/production')
      .set('x-api-key', PREDICT_KEY)
      .send({ version: 1 })
      .expect(403);
    expect(put.body.error.code).toBe('FORBIDDEN');
    await h.http.delete('/v1/models/chestxraynet/versions/1').set('x-api-key', PREDICT_KEY).expect(403);
    await h.http.get('/v1/datasets').set('x-api-key', PREDICT_KEY).expect(403);
    await h.http.post('/v1/datasets').set('x-api-key', PREDICT_KEY).attach('file', Buffer.from('x'), 'a.zip').expect(403);
  });

  it('auth is checked before anything else (no 415/400 leaks the route to strangers)', async () => {
    await h.http.post('/v1/datasets').set('content-type', 'application/zip').send(Buffer.from('x')).expect(401);
    await h.http.get('/v1/models/chestxraynet/versions/abc').expect(401);
  });

  it('health and metrics stay open by default', async () => {
    await h.http.get('/health/live').expect(200);
    await h.http.get('/health/ready').expect(200);
    await h.http.get('/metrics').expect(200);
  });

  it('unknown routes are 404 with or without a key', async () => {
    await h.http.get('/nothing-here').expect(404);
  });
});

describe('auth with OPEN_OPERATIONAL_ROUTES=false', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(import.meta.url, {
      env: { API_KEYS: `${ADMIN_KEY}:admin,${PREDICT_KEY}:predict`, OPEN_OPERATIONAL_ROUTES: 'false' },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('health and metrics need a key of either role', async () => {
    await h.http.get('/health/live').expect(401);
    await h.http.get('/metrics').expect(401);
    await h.http.get('/health/live').set('x-api-key', PREDICT_KEY).expect(200);
    await h.http.get('/metrics').set('x-api-key', ADMIN_KEY).expect(200);
  });
});
