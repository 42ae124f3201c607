import { AppError } from '../errors.ts';
import type { ModelEvent } from '../queue/model-events.ts';
import type { ModelRegistry, ModelSummary, ModelVersionInfo } from '../storage/model-registry.ts';

export interface ModelDetail {
  name: string;
  aliases: Record<string, number>;
  versions: ModelVersionInfo[];
}

/**
 * The model registry as the HTTP layer sees it: reads go straight to the registry; every change
 * that moves what a replica should serve (an alias set, moved or removed; a version deleted) is
 * published as a model event on Redis so every API replica reloads. A publish failure (Redis
 * down) never fails the change itself: the registry on disk is the truth, replicas re-resolve it.
 */
export interface ModelService {
  list(): Promise<ModelSummary[]>;
  /** MODEL_NOT_FOUND */
  get(name: string): Promise<ModelDetail>;
  /** MODEL_NOT_FOUND / VERSION_NOT_FOUND */
  getVersion(name: string, version: number): Promise<ModelVersionInfo>;
  /** The version's model.onnx. ONNX_NOT_AVAILABLE when it has none; MODEL_NOT_FOUND / VERSION_NOT_FOUND. */
  onnx(name: string, version: number): Promise<Uint8Array>;
  /** VERSION_IN_USE while an alias points at it; MODEL_NOT_FOUND / VERSION_NOT_FOUND. */
  deleteVersion(name: string, version: number): Promise<void>;
  /** Points `alias` at `version` (promote or roll back). MODEL_NOT_FOUND / VERSION_NOT_FOUND. */
  setAlias(name: string, alias: string, version: number): Promise<{ alias: string; version: number; previous: number | null }>;
  /** ALIAS_NOT_FOUND / MODEL_NOT_FOUND. Returns the version the alias pointed at. */
  deleteAlias(name: string, alias: string): Promise<{ alias: string; previous: number | null }>;
}

export interface ModelServiceOptions {
  readonly registry: ModelRegistry;
  /** Publishes on the model-events channel; must not throw (publishModelEvent from src/queue/model-events.ts). */
  readonly publishEvent: (event: ModelEvent) => Promise<void>;
}

export function createModelService({ registry, publishEvent }: ModelServiceOptions): ModelService {
  return {
    list: () => registry.listModels(),
    async get(name) {
      const { versions, aliases } = await registry.getModel(name);
      return { name, aliases, versions };
    },
    getVersion: (name, version) => registry.getVersion(name, version),
    async onnx(name, version) {
      const bytes = await registry.loadOnnx(name, version);
      if (bytes) return bytes;
      const recorded = (await registry.getVersion(name, version)).metadata.onnx as { reason?: unknown } | undefined;
      const why = typeof recorded?.reason === 'string' ? recorded.reason : 'the version was published before ONNX export';
      throw new AppError('ONNX_NOT_AVAILABLE', `Version ${version} of '${name}' has no model.onnx: ${why}`, { name, version });
    },
    async deleteVersion(name, version) {
      await registry.deleteVersion(name, version);
      await publishEvent({ type: 'version-deleted', name, version });
    },
    async setAlias(name, alias, version) {
      const moved = await registry.setAlias(name, alias, version);
      // Published even when unchanged: idempotent for replicas, and heals one that missed the last event.
      await publishEvent({ type: 'alias-moved', name, alias, version: moved.version, previous: moved.previous });
      return moved;
    },
    async deleteAlias(name, alias) {
      const before = await registry.getAliases(name);
      await registry.deleteAlias(name, alias);
      const previous = before[alias] ?? null;
      await publishEvent({ type: 'alias-moved', name, alias, version: null, previous });
      return { alias, previous };
    },
  };
}
