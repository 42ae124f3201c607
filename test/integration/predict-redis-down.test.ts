import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelEventsChannel } from '../../src/queue/model-events.ts';
import { startPredictHarness, untrainedModel, waitFor, xrayBytes, type PredictHarness } from '../helpers/predict-harness.ts';

/** A local port where nothing listens (bound, then released). */
async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

let h: PredictHarness;
let image: Buffer;

beforeAll(async () => {
  const started = Date.now();
  // The prediction service's Redis is unreachable from the start; the registry (disk) is fine.
  h = await startPredictHarness(import.meta.url, { serviceRedisUrl: `redis://127.0.0.1:${await deadPort()}`, refreshIntervalMs: 300 });
  // start() must not hang on a dead Redis (it gives up waiting for the subscription after ~2 s)
  expect(Date.now() - started).toBeLessThan(10_000);
  image = await xrayBytes(3, false);
});

afterAll(async () => {
  await h?.close();
});

describe('prediction service with Redis down', () => {
  it('serves predictions, resolving versions from disk', async () => {
    const none = await h.http.post('/v1/predict').set('content-type', 'image/png').send(image);
    expect(none.status).toBe(503);
    await h.registry.publish(h.config.defaultModelName, await untrainedModel(), { threshold: 0.5 });
    const res = await h.http.post('/v1/predict').set('content-type', 'image/png').send(image);
    expect(res.status).toBe(200);
    expect(res.body.model.version).toBe(1);
    expect(res.body.predictions[0].label).toMatch(/^(NORMAL|PNEUMONIA)$/); // default class names
  });

  it('picks up an alias move without any event, through the periodic re-check', async () => {
    await h.registry.publish(h.config.defaultModelName, await untrainedModel(), {});
    await h.registry.setAlias(h.config.defaultModelName, 'production', 1);
    // v2 exists but production says v1; the resolution cached v1 (latest at the time) and keeps it
    await waitFor(
      async () => (await h.http.post('/v1/predict').set('content-type', 'image/png').send(image)).body.model?.version === 1,
      5000,
      'v1 via production',
    );
    await h.registry.setAlias(h.config.defaultModelName, 'production', 2);
    const started = Date.now();
    await waitFor(
      async () => (await h.http.post('/v1/predict').set('content-type', 'image/png').send(image)).body.model?.version === 2,
      5000,
      'v2 after the periodic re-check',
    );
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('keeps serving a loaded model while the subscriber of a healthy service loses Redis', async () => {
    const healthy = await startPredictHarness(import.meta.url, { dataDir: h.dataDir, refreshIntervalMs: 60_000 });
    try {
      const first = await healthy.http.post('/v1/predict').set('content-type', 'image/png').send(image);
      expect(first.status).toBe(200);
      // drop this process's subscriber connections (only ours: other test runs share the Redis)
      const channel = modelEventsChannel(healthy.config.queuePrefix);
      const subscribers = async () => ((await healthy.redis.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1];
      expect(await subscribers()).toBe(1);
      const list = (await healthy.redis.call('CLIENT', 'LIST')) as string;
      const ours = list
        .split('\n')
        .filter((line) => line.includes(` name=cxr-subscriber-${process.pid} `))
        .map((line) => /\bid=(\d+)/.exec(line)![1]!);
      expect(ours.length).toBeGreaterThan(0);
      for (const id of ours) await healthy.redis.call('CLIENT', 'KILL', 'ID', id);
      const again = await Promise.all(Array.from({ length: 8 }, () => healthy.http.post('/v1/predict').set('content-type', 'image/png').send(image)));
      expect(again.map((r) => r.status)).toEqual(Array(8).fill(200));
      // the subscriber reconnects and re-subscribes by itself: a later alias event still switches
      await waitFor(async () => (await subscribers()) === 1, 5000, 'resubscribed');
      await healthy.moveAlias(healthy.config.defaultModelName, 'production', 1);
      await waitFor(
        async () => (await healthy.http.post('/v1/predict').set('content-type', 'image/png').send(image)).body.model?.version === 1,
        5000,
        'event after reconnect',
      );
    } finally {
      await healthy.close();
    }
  });
});
