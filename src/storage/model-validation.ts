import { ALIAS_PATTERN, isAliasName, isModelName, isVersionNumber, MODEL_NAME_PATTERN } from '../domain/ids.ts';
import { AppError, type ErrorCode } from '../errors.ts';

/** The file name model.json's weightsManifest must point at; the registry stores weights there. */
export const WEIGHTS_FILE = 'weights.bin';

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
): { modelJson: string; weights: Uint8Array; callerMetadata: Record<string, unknown> } {
  if (typeof artifacts !== 'object' || artifacts === null) throw invalid('artifacts must be an object');
  if (!('modelJson' in artifacts) || !isPlainObject(artifacts.modelJson)) {
    throw invalid('artifacts.modelJson must be a JSON object');
  }
  if (!('weights' in artifacts) || !(artifacts.weights instanceof Uint8Array)) {
    throw invalid('artifacts.weights must be a Uint8Array');
  }
  if (!isPlainObject(metadata)) throw invalid('metadata must be a plain object');
  checkWeightsManifest(artifacts.modelJson.weightsManifest);
  return {
    modelJson: toJson(artifacts.modelJson, 'artifacts.modelJson'),
    weights: artifacts.weights,
    callerMetadata: JSON.parse(toJson(metadata, 'metadata')) as Record<string, unknown>,
  };
}

function checkWeightsManifest(manifest: unknown): void {
  if (manifest === undefined) return;
  const paths = Array.isArray(manifest)
    ? manifest.flatMap((group: unknown) => (isPlainObject(group) && Array.isArray(group.paths) ? group.paths : [null]))
    : [null];
  if (paths.length !== 1 || paths[0] !== WEIGHTS_FILE) {
    throw invalid(`modelJson.weightsManifest must name exactly one weights file, '${WEIGHTS_FILE}'`, { paths });
  }
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
