/** The files of a stored model version, `${dataDir}/models/{name}/versions/{v}/`: the one place their names are set. */

/** The TensorFlow.js model topology and weights manifest; its manifest names WEIGHTS_FILE. */
export const MODEL_FILE = 'model.json';
/** Every weight, in the order of the manifest's specs. */
export const WEIGHTS_FILE = 'weights.bin';
/** The registry's fields (name, version, createdAt) and the caller's. */
export const METADATA_FILE = 'metadata.json';
/** The same network as an ONNX model (src/onnx/writer.ts); absent in versions published before it, or when its check failed. */
export const ONNX_FILE = 'model.onnx';
