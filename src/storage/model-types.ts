/** The model registry's contract; implemented by createModelRegistry in model-registry.ts. */

/**
 * A model as stored: model.json's content and the bytes of its one weights file. The one artifact
 * type: src/ml's modelToArtifacts returns this shape (typed there with TensorFlow.js's ModelJSON).
 */
export interface ModelArtifacts {
  readonly modelJson: object;
  readonly weights: Uint8Array;
  /** model.onnx (src/onnx/writer.ts), when the version has one: written by publish, never returned by loadArtifacts. */
  readonly onnx?: Uint8Array;
}
/** Stored as metadata.json; the registry sets name, version and createdAt, the rest is the caller's. */
export interface ModelMetadata {
  name: string;
  version: number;
  createdAt: string;
  [key: string]: unknown;
}
export interface ModelVersionInfo {
  name: string;
  version: number;
  createdAt: string;
  aliases: string[];
  metadata: ModelMetadata;
}
export interface ModelSummary {
  name: string;
  latestVersion: number | null;
  versionCount: number;
  aliases: Record<string, number>;
  updatedAt: string;
}
export interface ModelRegistry {
  publish(name: string, artifacts: ModelArtifacts, metadata: Record<string, unknown>): Promise<ModelVersionInfo>;
  listModels(): Promise<ModelSummary[]>;
  /** MODEL_NOT_FOUND */
  getModel(name: string): Promise<{ name: string; versions: ModelVersionInfo[]; aliases: Record<string, number> }>;
  /** MODEL_NOT_FOUND / VERSION_NOT_FOUND */
  getVersion(name: string, version: number): Promise<ModelVersionInfo>;
  /** MODEL_NOT_FOUND / VERSION_NOT_FOUND */
  loadArtifacts(name: string, version: number): Promise<ModelArtifacts>;
  /** The version's model.onnx, or null when it has none (published before ONNX export, or its check failed). MODEL_NOT_FOUND / VERSION_NOT_FOUND */
  loadOnnx(name: string, version: number): Promise<Uint8Array | null>;
  /** VERSION_IN_USE while an alias points at it. */
  deleteVersion(name: string, version: number): Promise<void>;
  setAlias(name: string, alias: string, version: number): Promise<{ alias: string; version: number; previous: number | null }>;
  /** ALIAS_NOT_FOUND */
  deleteAlias(name: string, alias: string): Promise<void>;
  getAliases(name: string): Promise<Record<string, number>>;
  /**
   * Which version to serve: explicit version > alias > alias 'production' > latest. Errors: NO_MODEL
   * when the model has no versions (or, for the default model, does not exist), MODEL_NOT_FOUND,
   * VERSION_NOT_FOUND, ALIAS_NOT_FOUND.
   */
  resolve(name: string, choice?: { version?: number; alias?: string }): Promise<number>;
  /**
   * Removes leftovers of crashed publishes and deletions older than maxAgeMs (default 1 h: safe while
   * other processes publish; 0 only when none can be) and returns how many. Call it at startup.
   */
  cleanupStaging(maxAgeMs?: number): Promise<number>;
}

export interface ModelRegistryOptions {
  dataDir: string;
  /** The model `POST /v1/predict` serves: while it does not exist, resolve() says NO_MODEL, not MODEL_NOT_FOUND. */
  defaultModel?: string;
}
