import { ALIAS_PATTERN, isAliasName, isModelName, isVersionNumber, MODEL_NAME_PATTERN } from '../domain/ids.ts';
import { AppError, type ErrorCode } from '../errors.ts';
import { WEIGHTS_FILE } from './model-files.ts';

export { isAliasName, isModelName, isVersionNumber };

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Throws `code` (VALIDATION_FAILED for writes, a NOT_FOUND code for reads) unless the name is valid. */
export function checkName(name: unknown, code: ErrorCode): asserts name is string {
  if (!isModelName(name)) {
    throw new AppError(code, `Invalid model name ${JSON.stringify(name)}: expected ${MODEL_NAME_PATTERN}`, { name });
  }
}

export function checkAlias(alias: unknown, code: ErrorCode): asserts alias is string {
  if (!isAliasName(alias)) {
    throw new AppError(code, `Invalid alias ${JSON.stringify(alias)}: expected ${ALIAS_PATTERN}`, { alias });
  }
}

export function checkVersion(version: unknown, code: ErrorCode): asserts version is number {
  if (!isVersionNumber(version)) {
    throw new AppError(code, `Invalid version ${String(version)}: expected an integer >= 1`, { version });
  }
}

/** Serialises publish's inputs, rejecting anything the registry could not store faithfully. */
export function serialiseForPublish(
  artifacts: unknown,
  metadata: unknown,
): { modelJson: string; weights: Uint8Array; onnx?: Uint8Array; callerMetadata: Record<string, unknown> } {
  if (typeof artifacts !== 'object' || artifacts === null) throw invalid('artifacts must be an object');
  if (!('modelJson' in artifacts) || !isPlainObject(artifacts.modelJson)) {
    throw invalid('artifacts.modelJson must be a JSON object');
  }
  if (!('weights' in artifacts) || !(artifacts.weights instanceof Uint8Array)) {
    throw invalid('artifacts.weights must be a Uint8Array');
  }
  if ('onnx' in artifacts && artifacts.onnx !== undefined && !(artifacts.onnx instanceof Uint8Array)) {
    throw invalid('artifacts.onnx must be a Uint8Array when given');
  }
  if (!isPlainObject(metadata)) throw invalid('metadata must be a plain object');
  const onnx = 'onnx' in artifacts && artifacts.onnx instanceof Uint8Array ? artifacts.onnx : undefined;
  const weightsManifest = storedWeightsManifest(artifacts.modelJson.weightsManifest);
  const modelJson = weightsManifest ? { ...artifacts.modelJson, weightsManifest } : artifacts.modelJson;
  return {
    modelJson: toJson(modelJson, 'artifacts.modelJson'),
    weights: artifacts.weights,
    ...(onnx ? { onnx } : {}),
    callerMetadata: JSON.parse(toJson(metadata, 'metadata')) as Record<string, unknown>,
  };
}

/**
 * The registry names the weights file: a manifest of one group whose paths are empty (the usual
 * case: the caller leaves naming to storage) or already WEIGHTS_FILE is stored naming WEIGHTS_FILE;
 * anything naming other files is refused, since those files would not exist.
 */
function storedWeightsManifest(manifest: unknown): unknown[] | undefined {
  if (manifest === undefined) return undefined;
  const group: unknown = Array.isArray(manifest) && manifest.length === 1 ? manifest[0] : undefined;
  const paths: unknown = isPlainObject(group) ? group.paths : undefined;
  const named = Array.isArray(paths) && (paths.length === 0 || (paths.length === 1 && paths[0] === WEIGHTS_FILE));
  if (!isPlainObject(group) || !named) {
    throw invalid(`modelJson.weightsManifest must be one group of weights stored as '${WEIGHTS_FILE}'`, {
      paths: Array.isArray(manifest) ? manifest.map((g: unknown) => (isPlainObject(g) ? g.paths : null)) : null,
    });
  }
  return [{ ...group, paths: [WEIGHTS_FILE] }];
}

function toJson(value: unknown, what: string): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    throw invalid(`${what} is not serialisable as JSON`, undefined, err);
  }
}

function invalid(message: string, details?: Record<string, unknown>, cause?: unknown): AppError {
  return new AppError('VALIDATION_FAILED', message, details, { cause });
}
