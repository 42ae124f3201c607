import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPredictHarness, untrainedModel, xrayBytes, type PredictHarness } from '../helpers/predict-harness.ts';

let h: PredictHarness;
let image: Buffer;
const SIZE = 256; // the production input size: batching pays off where the model dominates

beforeAll(async () => {
  h = await startPredictHarness(import.meta.url, { env: { BATCH_MAX_SIZE: '16', BATCH_MAX_WAIT_MS: '4' } });
  await h.publish(h.config.defaultModelName, await untrainedModel(SIZE), { modelOptions: { inputSize: SIZE } });
  image = await xrayBytes(1, true, 'png', SIZE);
});

afterAll(async () => {
  await h?.close();
});

/** Images/s of `clients` callers each predicting one image at a time for `ms`, through the service. */
async function throughput(clients: number, ms: number): Promise<number> {
  const target = { name: h.config.defaultModelName };
  const until = Date.now() + ms;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < until) {
        await h.predictions.predict([image], target);
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

async function batchStats(): Promise<{ count: number; sum: number }> {
  const m = (await h.metrics.batchSize.get()).values;
  return {
    count: m.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0,
    sum: m.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0,
  };
}

describe('server-side batching', () => {
  it('gathers concurrent requests into bigger batches, so throughput rises with concurrency', async () => {
    await throughput(4, 500); // warm
    // Interleaved short rounds, so load from other processes on the shared cores hits both alike.
    let one = 0;
    let sixteen = 0;
    let alone = { count: 0, sum: 0 };
    let together = { count: 0, sum: 0 };
    for (let round = 0; round < 4; round++) {
      const b0 = await batchStats();
      one += await throughput(1, 500);
      const b1 = await batchStats();
      sixteen += await throughput(16, 500);
      const b2 = await batchStats();
      alone = { count: alone.count + b1.count - b0.count, sum: alone.sum + b1.sum - b0.sum };
      together = { count: together.count + b2.count - b1.count, sum: together.sum + b2.sum - b1.sum };
    }
    expect(alone.sum / alone.count).toBe(1); // a lone client never waits for company
    expect(together.sum / together.count).toBeGreaterThan(4);
    // ~1.5x measured on two shared cores; the bench measures it properly, over HTTP
    expect(sixteen).toBeGreaterThan(one * 1.15);
  });

  it('answers each concurrent caller with its own image', async () => {
    const images = await Promise.all(Array.from({ length: 12 }, (_, i) => xrayBytes(40 + i, i % 3 === 0, 'png', SIZE)));
    const alone = await Promise.all(images.map((img) => h.predictions.predict([img], { name: h.config.defaultModelName })));
    const together = await Promise.all(images.map((img) => h.predictions.predict([img], { name: h.config.defaultModelName })));
    together.forEach((r, i) => expect(r.predictions[0]!.probability).toBeCloseTo(alone[i]!.predictions[0]!.probability, 5));
  });
});
