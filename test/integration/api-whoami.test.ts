/**
 * GET /v1/auth/whoami over real HTTP with the app's real auth hook: what the dashboard asks
 * instead of probing a mutating route. Every answer is checked against openapi.yaml by the harness.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/api-harness.ts';

const ADMIN_KEY = 'whoami-admin-key-0123456789';
const PREDICT_KEY = 'whoami-predict-key-0123456789';
const fingerprint = (key: string) => `sha256:${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;

describe('GET /v1/auth/whoami with API_KEYS set', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(import.meta.url, { env: { API_KEYS: `${ADMIN_KEY}:admin,${PREDICT_KEY}:predict` } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('names the role of an admin key and of a predict key, by header or bearer token', async () => {
    const admin = await h.http.get('/v1/auth/whoami').set('x-api-key', ADMIN_KEY).expect(200);
    expect(admin.body).toEqual({ authEnabled: true, authenticated: true, role: 'admin', keyId: fingerprint(ADMIN_KEY), canAdmin: true, canPredict: true });
    expect(admin.headers['cache-control']).toBe('no-store');
    const predict = await h.http.get('/v1/auth/whoami').set('authorization', `Bearer ${PREDICT_KEY}`).expect(200);
    expect(predict.body).toEqual({
      authEnabled: true,
      authenticated: true,
      role: 'predict',
      keyId: fingerprint(PREDICT_KEY),
      canAdmin: false,
      canPredict: true,
    });
    // The answer tells the keys apart and never contains one.
    expect(admin.body.keyId).not.toBe(predict.body.keyId);
    expect(JSON.stringify(admin.body)).not.toContain(ADMIN_KEY);
  });

  it('agrees with what the key may actually do', async () => {
    // canAdmin false for the predict key: an admin route refuses it; true for the admin key: it passes auth.
    await h.http.get('/v1/datasets').set('x-api-key', PREDICT_KEY).expect(403);
    await h.http.get('/v1/datasets').set('x-api-key', ADMIN_KEY).expect(200);
  });

  it('401 without a key and with an unknown one, with WWW-Authenticate', async () => {
    const none = await h.http.get('/v1/auth/whoami').expect(401);
    expect(none.body.error.code).toBe('UNAUTHENTICATED');
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const unknown = await h.http.get('/v1/auth/whoami').set('x-api-key', 'not-a-known-key-0123456789').expect(401);
    expect(unknown.body.error.message).toBe('Unknown API key');
    await h.http.get('/v1/auth/whoami').set('authorization', `Basic ${ADMIN_KEY}`).expect(401);
  });
});

describe('GET /v1/auth/whoami with auth off', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(import.meta.url);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('says auth is off and everything is open, whatever key is sent', async () => {
    const expected = { authEnabled: false, authenticated: false, canAdmin: true, canPredict: true };
    expect((await h.http.get('/v1/auth/whoami').expect(200)).body).toEqual(expected);
    expect((await h.http.get('/v1/auth/whoami').set('x-api-key', 'any-key-at-all-0123456789').expect(200)).body).toEqual(expected);
  });
});
