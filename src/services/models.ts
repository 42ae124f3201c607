import { AppError } from '../errors.ts';
import type { ModelEvent } from '../queue/model-events.ts';
import type { AliasActor, AliasHistoryEntry, ModelRegistry, ModelSummary, ModelVersionInfo } from '../storage/model-registry.ts';
import type { EvaluationLister } from './evaluation-types.ts';
import { modelCard, type ModelCard } from './model-card.ts';
import { checkPromotion } from './promotion-guard.ts';

export type { AliasActor, AliasHistoryEntry } from '../storage/model-registry.ts';

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
  /**
   * Points `alias` at `version` (promote or roll back). MODEL_NOT_FOUND / VERSION_NOT_FOUND;
   * PROMOTION_WORSE when `production` would move to a version that scored worse (src/services/promotion-guard.ts)
   * unless `force`. Every move is recorded in the alias history with `actor`.
   */
  setAlias(
    name: string,
    alias: string,
    version: number,
    opts?: { force?: boolean; actor?: AliasActor },
  ): Promise<{ alias: string; version: number; previous: number | null }>;
  /** ALIAS_NOT_FOUND / MODEL_NOT_FOUND. Returns the version the alias pointed at. */
  deleteAlias(name: string, alias: string, opts?: { actor?: AliasActor }): Promise<{ alias: string; previous: number | null }>;
  /** Alias moves, newest first. MODEL_NOT_FOUND */
  aliasHistory(name: string, limit: number): Promise<AliasHistoryEntry[]>;
  /** The version's model card. MODEL_NOT_FOUND / VERSION_NOT_FOUND */
  card(name: string, version: number): Promise<ModelCard>;
}

export interface ModelServiceOptions {
  readonly registry: ModelRegistry;
  /** Publishes on the model-events channel; must not throw (publishModelEvent from src/queue/model-events.ts). */
  readonly publishEvent: (event: ModelEvent) => Promise<void>;
  /** External evaluations of versions: the model card lists them, the promotion guard compares them. */
  readonly evaluations: EvaluationLister;
}

export function createModelService({ registry, publishEvent, evaluations }: ModelServiceOptions): ModelService {
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
    async setAlias(name, alias, version, opts = {}) {
      const force = opts.force === true;
      const moved = await registry.setAlias(name, alias, version, {
        ...(opts.actor ? { actor: opts.actor } : {}),
        forced: force,
        // Under the model lock, against what production points at at that moment.
        ...(alias === 'production' ? { check: (current: number | null) => checkPromotion(evaluations, { name, candidate: version, current, force }) } : {}),
      });
      // Published even when unchanged: idempotent for replicas, and heals one that missed the last event.
      await publishEvent({ type: 'alias-moved', name, alias, version: moved.version, previous: moved.previous });
      return moved;
    },
    async deleteAlias(name, alias, opts = {}) {
      const { previous } = await registry.deleteAlias(name, alias, opts.actor ? { actor: opts.actor } : {});
      await publishEvent({ type: 'alias-moved', name, alias, version: null, previous });
      return { alias, previous };
    },
    aliasHistory: (name, limit) => registry.aliasHistory(name, limit),
    card: (name, version) => modelCard({ registry, evaluations }, name, version),
  };
}
