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
/** Who moved an alias: an API key by its position in API_KEYS (never the key), or anonymous when auth is off. */
export interface AliasActor {
  /** 'anonymous', or 'key#N' for the N-th key of API_KEYS. */
  readonly name: string;
  readonly role: 'admin' | 'predict' | null;
}

/** What a promotion check found (recorded with the move). */
export interface AliasGuardNote {
  /** not-applicable: nothing to compare (no production yet, the same version); overridden: refused but forced. */
  readonly outcome: 'not-applicable' | 'no-common-dataset' | 'passed' | 'overridden';
  /** Dataset ids the candidate was compared on (all of them, or the worse ones when overridden). */
  readonly datasets?: string[];
}

/** One line of `${dataDir}/models/{name}/alias-history.jsonl`: an alias set, moved or removed. */
export interface AliasHistoryEntry {
  readonly at: string;
  readonly alias: string;
  /** set: the alias is new; move: it pointed elsewhere; delete: it was removed. */
  readonly action: 'set' | 'move' | 'delete';
  readonly from: number | null;
  readonly to: number | null;
  readonly by: AliasActor;
  /** The request asked to override the promotion guard. */
  readonly forced: boolean;
  readonly guard?: AliasGuardNote;
}

export interface AliasMoveOptions {
  /** Recorded in the history; default anonymous. */
  readonly actor?: AliasActor;
  readonly forced?: boolean;
  /**
   * Runs under the model lock, after the version is known to exist and before anything changes,
   * with the version the alias points at now (null: none). Throw to refuse the move; the note it
   * returns is recorded with the move.
   */
  readonly check?: (current: number | null) => Promise<AliasGuardNote | undefined>;
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
  /** Records the move in the alias history (a no-op, the alias already there, is not recorded). */
  setAlias(name: string, alias: string, version: number, opts?: AliasMoveOptions): Promise<{ alias: string; version: number; previous: number | null }>;
  /** ALIAS_NOT_FOUND. Records the removal in the alias history; returns where the alias pointed. */
  deleteAlias(name: string, alias: string, opts?: Pick<AliasMoveOptions, 'actor'>): Promise<{ previous: number }>;
  /** The alias history, newest first, at most `limit` entries. MODEL_NOT_FOUND */
  aliasHistory(name: string, limit: number): Promise<AliasHistoryEntry[]>;
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
