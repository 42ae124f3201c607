import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelEventsChannel, type ModelEvent } from '../../src/queue/model-events.ts';
import { startHarness, type Harness } from '../helpers/api-harness.ts';
import { TEST_REDIS_URL } from '../helpers/redis.ts';

let h: Harness;
let subscriber: Redis;
const events: ModelEvent[] = [];

/** Small artifacts: listing and alias tests never load the weights. */
function artifacts() {
  return {
    modelJson: { format: 'layers-model', modelTopology: {}, weightsManifest: [{ paths: ['weights.bin'], weights: [] }] },
    weights: new Uint8Array([1, 2, 3, 4]),
  };
}

async function nextEvent(predicate: (e: ModelEvent) => boolean): Promise<ModelEvent> {
  for (let i = 0; i < 100; i++) {
    const found = events.find(predicate);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('model event not published');
}

beforeAll(async () => {
  h = await startHarness(import.meta.url);
  subscriber = new Redis(TEST_REDIS_URL, { lazyConnect: true });
  await subscriber.connect();
  await subscriber.subscribe(modelEventsChannel(h.config.queuePrefix));
  subscriber.on('message', (_channel: string, message: string) => events.push(JSON.parse(message) as ModelEvent));
  for (let i = 0; i < 3; i++) await h.registry.publish('chestxraynet', artifacts(), { inputSize: 64, note: `v${i + 1}` });
  await h.registry.publish('other-model', artifacts(), {});
});

afterAll(async () => {
  await subscriber?.quit();
  await h?.close();
});

describe('reading the registry', () => {
  it('GET /v1/models lists every model with its latest version and aliases', async () => {
    const res = await h.http.get('/v1/models').expect(200);
    expect(res.body.defaultModel).toBe('chestxraynet');
    const byName = Object.fromEntries(res.body.models.map((m: { name: string }) => [m.name, m]));
    expect(byName.chestxraynet).toMatchObject({ latestVersion: 3, versionCount: 3, aliases: {} });
    expect(byName['other-model']).toMatchObject({ latestVersion: 1, versionCount: 1 });
    expect(Date.parse(byName.chestxraynet.updatedAt)).not.toBeNaN();
  });

  it('GET /v1/models/:name gives all versions with metadata', async () => {
    const res = await h.http.get('/v1/models/chestxraynet').expect(200);
    expect(res.body.name).toBe('chestxraynet');
    expect(res.body.versions.map((v: { version: number }) => v.version)).toEqual([1, 2, 3]);
    expect(res.body.versions[1]).toMatchObject({ name: 'chestxraynet', version: 2, aliases: [], metadata: { inputSize: 64, note: 'v2' } });
  });

  it('GET /v1/models/:name/versions/:version gives one version', async () => {
    const res = await h.http.get('/v1/models/chestxraynet/versions/3').expect(200);
    expect(res.body).toMatchObject({ name: 'chestxraynet', version: 3, metadata: { note: 'v3' } });
    expect(Date.parse(res.body.createdAt)).not.toBeNaN();
  });

  it('404 for unknown models and versions', async () => {
    expect((await h.http.get('/v1/models/nope').expect(404)).body.error.code).toBe('MODEL_NOT_FOUND');
    expect((await h.http.get('/v1/models/nope/versions/1').expect(404)).body.error.code).toBe('MODEL_NOT_FOUND');
    expect((await h.http.get('/v1/models/chestxraynet/versions/99').expect(404)).body.error.code).toBe('VERSION_NOT_FOUND');
  });

  it('400 for versions that are not positive integers and for malformed names', async () => {
    for (const v of ['0', '-1', 'abc', '1.5', '1e400', '99999999999999999999', '%20']) {
      const res = await h.http.get(`/v1/models/chestxraynet/versions/${v}`);
      expect(res.status, v).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.message).toContain('version');
    }
    for (const name of ['UPPER', '..%2F..', '-dash', 'a'.repeat(64), 'a_b', '%00']) {
      const res = await h.http.get(`/v1/models/${name}`);
      expect(res.status, name).toBe(400);
      expect(res.body.error.code).toMatch(/^(VALIDATION_FAILED|BAD_REQUEST)$/);
    }
  });
});

describe('aliases', () => {
  it('PUT creates an alias: 200 {alias, version, previous: null}, and publishes alias-moved', async () => {
    const res = await h.http.put('/v1/models/chestxraynet/aliases/production').send({ version: 1 }).expect(200);
    expect(res.body).toEqual({ alias: 'production', version: 1, previous: null });
    expect(await nextEvent((e) => e.type === 'alias-moved' && e.version === 1)).toEqual({
      type: 'alias-moved',
      name: 'chestxraynet',
      alias: 'production',
      version: 1,
      previous: null,
    });
    const model = await h.http.get('/v1/models/chestxraynet').expect(200);
    expect(model.body.aliases).toEqual({ production: 1 });
    expect(model.body.versions[0].aliases).toEqual(['production']);
  });

  it('PUT moves it (promote), then back (roll back), saying where it was', async () => {
    const promote = await h.http.put('/v1/models/chestxraynet/aliases/production').send({ version: 3 }).expect(200);
    expect(promote.body).toEqual({ alias: 'production', version: 3, previous: 1 });
    await nextEvent((e) => e.type === 'alias-moved' && e.version === 3 && e.previous === 1);
    const rollback = await h.http.put('/v1/models/chestxraynet/aliases/production').send({ version: 2 }).expect(200);
    expect(rollback.body).toEqual({ alias: 'production', version: 2, previous: 3 });
    await nextEvent((e) => e.type === 'alias-moved' && e.version === 2 && e.previous === 3);
    expect((await h.http.get('/v1/models').expect(200)).body.models.find((m: { name: string }) => m.name === 'chestxraynet').aliases).toEqual({
      production: 2,
    });
  });

  it('refuses bad alias requests with 4xx', async () => {
    const put = (alias: string) => h.http.put(`/v1/models/chestxraynet/aliases/${alias}`);
    for (const alias of ['Prod', '1abc', 'a'.repeat(33), 'a_b', '..%2F..', 'prod%00']) {
      const res = await put(alias).send({ version: 1 });
      expect(res.status, alias).toBe(400);
    }
    const cases: [object | string, string | undefined, number][] = [
      [{}, undefined, 400],
      [{ version: 0 }, undefined, 400],
      [{ version: -1 }, undefined, 400],
      [{ version: 'abc' }, undefined, 400],
      [{ version: 1.5 }, undefined, 400],
      [{ version: 1, extra: true }, undefined, 400],
      [[1], undefined, 400],
      ['{"version":', 'application/json', 400],
      ['', 'application/json', 400],
      ['version=1', 'application/x-www-form-urlencoded', 415],
      ['1', 'text/plain', 415],
    ];
    for (const [body, type, status] of cases) {
      const req = put('staging');
      if (type) req.set('content-type', type);
      const res = await req.send(body as object);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.error.code).toMatch(/^[A-Z_]+$/);
    }
    const unknownVersion = await put('staging').send({ version: 42 }).expect(404);
    expect(unknownVersion.body.error.code).toBe('VERSION_NOT_FOUND');
    const unknownModel = await h.http.put('/v1/models/nope/aliases/production').send({ version: 1 }).expect(404);
    expect(unknownModel.body.error.code).toBe('MODEL_NOT_FOUND');
    expect((await h.registry.getAliases('chestxraynet')).staging).toBeUndefined();
  });

  it('DELETE removes an alias (204, publishes version null) and is 404 when there is none', async () => {
    await h.http.put('/v1/models/chestxraynet/aliases/canary').send({ version: 3 }).expect(200);
    await h.http.delete('/v1/models/chestxraynet/aliases/canary').expect(204, '');
    expect(await nextEvent((e) => e.type === 'alias-moved' && e.alias === 'canary' && e.version === null)).toMatchObject({
      previous: 3,
    });
    const res = await h.http.delete('/v1/models/chestxraynet/aliases/canary').expect(404);
    expect(res.body.error.code).toBe('ALIAS_NOT_FOUND');
    await h.http.delete('/v1/models/chestxraynet/aliases/NotAnAlias').expect(400);
  });
});

describe('deleting versions', () => {
  it('409 VERSION_IN_USE while an alias points at it; 204 once the alias moved; then 404', async () => {
    const res = await h.http.delete('/v1/models/chestxraynet/versions/2').expect(409);
    expect(res.body.error.code).toBe('VERSION_IN_USE');
    expect(res.body.error.message).toContain('production');
    await h.http.get('/v1/models/chestxraynet/versions/2').expect(200);

    await h.http.put('/v1/models/chestxraynet/aliases/production').send({ version: 3 }).expect(200);
    await h.http.delete('/v1/models/chestxraynet/versions/2').expect(204, '');
    expect(await nextEvent((e) => e.type === 'version-deleted' && e.version === 2)).toEqual({
      type: 'version-deleted',
      name: 'chestxraynet',
      version: 2,
    });
    await h.http.get('/v1/models/chestxraynet/versions/2').expect(404);
    await h.http.delete('/v1/models/chestxraynet/versions/2').expect(404);
    const model = await h.http.get('/v1/models/chestxraynet').expect(200);
    expect(model.body.versions.map((v: { version: number }) => v.version)).toEqual([1, 3]);
  });

  it('400 for malformed versions, 404 for unknown models', async () => {
    for (const v of ['0', '-1', 'abc']) await h.http.delete(`/v1/models/chestxraynet/versions/${v}`).expect(400);
    await h.http.delete('/v1/models/nope/versions/1').expect(404);
  });

  it('a new version never reuses a deleted number', async () => {
    const info = await h.registry.publish('chestxraynet', artifacts(), {});
    expect(info.version).toBe(4);
  });

  it('leaves no in-flight files behind and the server healthy', async () => {
    expect(await h.leftovers()).toEqual([]);
    await h.http.get('/health/live').expect(200);
  });
});
