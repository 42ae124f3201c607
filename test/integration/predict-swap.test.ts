import http from 'node:http';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPredictHarness, untrainedModel, waitFor, xrayBytes, type PredictHarness } from '../helpers/predict-harness.ts';

let h: PredictHarness;
let image: Buffer;
let port: number;
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** One raw-PNG predict over a kept-alive connection: status and the version that answered. */
function predictOnce(query = ''): Promise<{ status: number; version?: number }> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: `/v1/predict${query}`, method: 'POST', agent, headers: { 'content-type': 'image/png' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let version: number | undefined;
          try {
            version = JSON.parse(Buffer.concat(chunks).toString()).model?.version;
          } catch {
            // counted as a failure below by its status
          }
          resolve({ status: res.statusCode ?? 0, ...(version !== undefined ? { version } : {}) });
        });
      },
    );
    req.on('error', () => resolve({ status: 0 }));
    req.end(image);
  });
}

beforeAll(async () => {
  // One loaded version at a time: every swap also evicts the old version while requests still use it.
  h = await startPredictHarness(import.meta.url, { env: { MODEL_CACHE_SIZE: '1' }, refreshIntervalMs: 60_000 });
  port = (h.app.server.address() as { port: number }).port;
  image = await xrayBytes(5, true);
  for (let i = 0; i < 3; i++) await h.publish(h.config.defaultModelName, await untrainedModel());
  await h.moveAlias(h.config.defaultModelName, 'production', 1);
});

afterAll(async () => {
  agent.destroy();
  await h?.close();
});

describe('alias swap under load', () => {
  it('moves production twice under 8 concurrent clients with zero failed requests', async () => {
    expect((await predictOnce()).version).toBe(1);
    const tensorsWithOneModel = tf.memory().numTensors;

    const results: { client: number; at: number; status: number; version?: number }[] = [];
    const started = Date.now();
    let stop = false;
    const clients = Array.from({ length: 8 }, async (_, client) => {
      while (!stop) {
        const r = await predictOnce();
        results.push({ client, at: Date.now() - started, ...r });
      }
    });
    /** Waits (under load, so with a generous cap) until an answer came from `version`. */
    const served = (version: number) => waitFor(() => results.some((r) => r.version === version), 15_000, `v${version} served`);
    const moves = (async () => {
      try {
        await new Promise((r) => setTimeout(r, 700));
        // the first move through the API's models route (it publishes the model event) ...
        const put = await h.http.put(`/v1/models/${h.config.defaultModelName}/aliases/production`).send({ version: 2 });
        expect(put.status).toBe(200);
        await served(2);
        await new Promise((r) => setTimeout(r, 500));
        // ... the second straight through the registry and the event, as another replica would
        await h.moveAlias(h.config.defaultModelName, 'production', 3);
        await served(3);
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        stop = true;
      }
    })();
    await Promise.all([...clients, moves]);
    // The load spans the three pauses above (1.7 s at least), and each version answered under it.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1700);
    for (const v of [1, 2, 3]) expect({ v, answered: results.filter((r) => r.version === v).length >= 4 }).toEqual({ v, answered: true });

    const failed = results.filter((r) => r.status !== 200);
    expect(failed).toEqual([]);
    expect(results.length).toBeGreaterThan(40);
    // every version served, in order, per client: never back to an older one
    const seen = new Set(results.map((r) => r.version));
    expect([...seen].sort()).toEqual([1, 2, 3]);
    for (let c = 0; c < 8; c++) {
      const versions = results.filter((r) => r.client === c).map((r) => r.version!);
      for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThanOrEqual(versions[i - 1]!);
    }
    expect(results.at(-1)!.version).toBe(3);
    expect((await predictOnce()).version).toBe(3);

    // the old versions were disposed once their last requests finished: one model's tensors remain
    await waitFor(() => h.predictions.loaded().length === 1, 5000, 'old versions unloaded');
    expect(h.predictions.loaded()).toEqual([expect.objectContaining({ name: h.config.defaultModelName, version: 3 })]);
    await waitFor(() => tf.memory().numTensors === tensorsWithOneModel, 5000, 'tensors back to one model');
  });

  it('rolls back (alias to an older version) the same way, and serves explicit versions beside it', async () => {
    await h.moveAlias(h.config.defaultModelName, 'production', 1);
    await waitFor(async () => (await predictOnce()).version === 1, 5000, 'rollback to v1');
    const [a, b] = await Promise.all([predictOnce('?version=2'), predictOnce()]);
    expect(a).toEqual({ status: 200, version: 2 });
    expect(b).toEqual({ status: 200, version: 1 });
  });

  it('a deleted version stops being served once its event arrives; the default falls back', async () => {
    // no alias: the default is the latest version
    await h.registry.deleteAlias(h.config.defaultModelName, 'production');
    await h.event({ type: 'alias-moved', name: h.config.defaultModelName, alias: 'production', version: null, previous: 1 });
    await waitFor(async () => (await predictOnce()).version === 3, 5000, 'latest (v3) served');
    await h.registry.deleteVersion(h.config.defaultModelName, 3);
    await h.event({ type: 'version-deleted', name: h.config.defaultModelName, version: 3 });
    await waitFor(async () => (await predictOnce()).version === 2, 5000, 'fallback to v2');
    const gone = await predictOnce('?version=3');
    expect(gone.status).toBe(404);
  });
});
