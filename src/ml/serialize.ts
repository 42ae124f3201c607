import * as tf from '@tensorflow/tfjs';

/**
 * A model as model.json's content and the bytes of all its weights; no optimizer state. The
 * weights manifest names no file: the model registry (src/storage) decides where weights are kept.
 */
export async function modelToArtifacts(model: tf.LayersModel): Promise<{ modelJson: tf.io.ModelJSON; weights: Uint8Array }> {
  let result: { modelJson: tf.io.ModelJSON; weights: Uint8Array } | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const data = artifacts.weightData ?? new ArrayBuffer(0);
      const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        ...(artifacts.format !== undefined ? { format: artifacts.format } : {}),
        ...(artifacts.generatedBy !== undefined ? { generatedBy: artifacts.generatedBy } : {}),
        ...(artifacts.convertedBy != null ? { convertedBy: artifacts.convertedBy } : {}),
        weightsManifest: [{ paths: [], weights: artifacts.weightSpecs ?? [] }],
      };
      result = { modelJson, weights };
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  if (!result) throw new Error('model.save did not call the save handler');
  return result;
}

const BYTES_PER_ELEMENT: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1 };

function expectedBytes(specs: readonly tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const s of specs) {
    const bytes = BYTES_PER_ELEMENT[s.dtype];
    if (bytes === undefined || s.quantization) return undefined;
    total += bytes * s.shape.reduce((a, b) => a * b, 1);
  }
  return total;
}

/** Rebuilds a model from modelToArtifacts' output (e.g. model.json parsed back, weights.bin read back). */
export async function modelFromArtifacts(artifacts: { modelJson: object; weights: Uint8Array }): Promise<tf.LayersModel> {
  const json = artifacts.modelJson as Partial<tf.io.ModelJSON>;
  if (typeof json.modelTopology !== 'object' || json.modelTopology === null || !Array.isArray(json.weightsManifest)) {
    throw new Error('model.json lacks modelTopology or weightsManifest');
  }
  const weightSpecs = json.weightsManifest.flatMap((group) => group.weights);
  const expected = expectedBytes(weightSpecs);
  const { weights } = artifacts;
  if (expected !== undefined && expected !== weights.byteLength) {
    throw new Error(`weights.bin has ${weights.byteLength} bytes but model.json describes ${expected}`);
  }
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs,
      weightData,
      ...(json.format !== undefined ? { format: json.format } : {}),
      ...(json.generatedBy !== undefined ? { generatedBy: json.generatedBy } : {}),
      ...(json.trainingConfig !== undefined ? { trainingConfig: json.trainingConfig } : {}),
    }),
  );
}
