import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../../src/ml/engine.ts';
import { buildChestXRayNet } from '../../../src/ml/model.ts';
import { predictProbabilities } from '../../../src/ml/predict.ts';
import { modelFromArtifacts, modelToArtifacts } from '../../../src/ml/serialize.ts';
import { syntheticSet } from '../../helpers/synthetic-xray.ts';

beforeAll(async () => {
  await initEngine();
});

const S = 64;
const { pixels } = syntheticSet(6, S, 3);
const batch = new Uint8Array(6 * S * S);
pixels.forEach((p, i) => batch.set(p, i * S * S));

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

/** Perturbs every weight (moving statistics included) so the round trip is not checked on defaults. */
function perturb(model: tf.LayersModel): void {
  tf.tidy(() => model.setWeights(model.getWeights().map((w) => tf.add(w, tf.randomUniform(w.shape, 0.01, 0.1)))));
}

describe('modelToArtifacts / modelFromArtifacts', () => {
  for (const batchNorm of [false, true]) {
    it(`round trip gives identical predictions (batchNorm ${batchNorm})`, async () => {
      const model = buildChestXRayNet({ inputSize: S, batchNorm });
      perturb(model);
      const { modelJson, weights } = await modelToArtifacts(model);
      expect(modelJson.weightsManifest).toHaveLength(1);
      expect(modelJson.weightsManifest[0]!.paths).toEqual([]); // the registry names the file
      if (!batchNorm) expect(weights.byteLength).toBe(54_627 * 4);
      // as the registry would: JSON text and bytes on disk
      const restored = await modelFromArtifacts({
        modelJson: JSON.parse(JSON.stringify(modelJson)) as object,
        weights: new Uint8Array(weights),
      });
      expect(restored.countParams()).toBe(model.countParams());
      const a = predictProbabilities(model, batch, 6, S);
      const b = predictProbabilities(restored, batch, 6, S);
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
      model.dispose();
      restored.dispose();
    });
  }

  it('loads from a weights view at an offset, and rejects truncated weights or a bad model.json', async () => {
    const model = buildChestXRayNet({ inputSize: S });
    const { modelJson, weights } = await modelToArtifacts(model);
    const padded = new Uint8Array(weights.byteLength + 8);
    padded.set(weights, 8);
    const restored = await modelFromArtifacts({ modelJson, weights: padded.subarray(8) });
    expect(maxAbsDiff(predictProbabilities(model, batch, 6, S), predictProbabilities(restored, batch, 6, S))).toBeLessThan(1e-6);
    await expect(modelFromArtifacts({ modelJson, weights: weights.subarray(0, 100) })).rejects.toThrow(/bytes/);
    await expect(modelFromArtifacts({ modelJson: { hello: 1 }, weights })).rejects.toThrow(/modelTopology/);
    model.dispose();
    restored.dispose();
  });
});
