import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.ts';
import { fsErrorCode, fsyncDir, moveIntoPlace, writeFileAtomic, writeFileDurable } from './atomic-file.ts';
import {
  DELETING_PREFIX,
  exists,
  modelLayout,
  mtimeMs,
  parseJsonObject,
  readAliasFile,
  readModelNames,
  readVersionNumbers,
  STAGING_PREFIX,
  sweepLeftovers,
} from './model-layout.ts';
import { appendAliasHistory, readAliasHistory } from './alias-history.ts';
import { withDirLock } from './model-lock.ts';
import type {
  AliasActor,
  AliasHistoryEntry,
  ModelMetadata,
  ModelRegistry,
  ModelRegistryOptions,
  ModelSummary,
  ModelVersionInfo,
} from './model-types.ts';
import {
  checkAlias,
  checkName,
  checkVersion,
  isAliasName,
  isModelName,
  isVersionNumber,
  serialiseForPublish,
} from './model-validation.ts';
import { METADATA_FILE, MODEL_FILE, ONNX_FILE, WEIGHTS_FILE } from './model-files.ts';

export type {
  AliasActor,
  AliasGuardNote,
  AliasHistoryEntry,
  AliasMoveOptions,
  ModelArtifacts,
  ModelMetadata,
  ModelRegistry,
  ModelRegistryOptions,
  ModelSummary,
  ModelVersionInfo,
} from './model-types.ts';

const STALE_LEFTOVER_MS = 60 * 60 * 1000;
const ANONYMOUS: AliasActor = Object.freeze({ name: 'anonymous', role: null });
const METADATA_CACHE_ENTRIES = 1000;

export function createModelRegistry(opts: ModelRegistryOptions): ModelRegistry {
  const layout = modelLayout(opts.dataDir);
  /** Versions are immutable, so metadata is cached by name/version (LRU by Map insertion order). */
  const metadataCache = new Map<string, ModelMetadata>();

  const versionNotFound = (name: string, version: unknown) =>
    new AppError('VERSION_NOT_FOUND', `Model '${name}' has no version ${String(version)}`, { name, version });
  const noModel = (name: string) =>
    new AppError('NO_MODEL', `Model '${name}' has no versions yet`, { name });
  const modelNotFound = (name: string) =>
    new AppError('MODEL_NOT_FOUND', `No model named ${JSON.stringify(name)}`, { name });

  async function requireVersions(name: string): Promise<number[]> {
    const versions = await readVersionNumbers(layout.versionsDir(name));
    if (versions === null) throw modelNotFound(name);
    return versions;
  }

  async function requireModel(name: string): Promise<void> {
    if (!(await exists(layout.versionsDir(name)))) throw modelNotFound(name);
  }

  /** The next unused number: an atomic mkdir under reserved/ wins it, whichever process gets there first. */
  async function reserveVersion(name: string): Promise<number> {
    const reservedDir = layout.reservedDir(name);
    await mkdir(reservedDir, { recursive: true });
    const [reserved, published] = await Promise.all([
      readVersionNumbers(reservedDir),
      readVersionNumbers(layout.versionsDir(name)),
    ]);
    for (let v = Math.max(reserved?.at(-1) ?? 0, published?.at(-1) ?? 0) + 1; ; v++) {
      try {
        await mkdir(path.join(reservedDir, String(v)));
      } catch (err) {
        if (fsErrorCode(err) === 'EEXIST') continue;
        throw err;
      }
      await fsyncDir(reservedDir);
      return v;
    }
  }

  function remember(name: string, version: number, meta: ModelMetadata): void {
    const key = `${name}/${version}`;
    metadataCache.delete(key);
    metadataCache.set(key, meta);
    if (metadataCache.size > METADATA_CACHE_ENTRIES) {
      const oldest = metadataCache.keys().next();
      if (!oldest.done) metadataCache.delete(oldest.value);
    }
  }

  /** null when the version does not exist (any more: another process may have deleted it). */
  async function readMetadata(name: string, version: number, listed = false): Promise<ModelMetadata | null> {
    const versionDir = layout.versionDir(name, version);
    const cached = metadataCache.get(`${name}/${version}`);
    if (cached) {
      if (!listed && !(await exists(versionDir))) {
        metadataCache.delete(`${name}/${version}`);
        return null;
      }
      remember(name, version, cached);
      return cached;
    }
    let text: string;
    try {
      text = await readFile(path.join(versionDir, METADATA_FILE), 'utf8');
    } catch (err) {
      if (fsErrorCode(err) === 'ENOENT') return null;
      throw err;
    }
    const meta = parseJsonObject(text, `${name} v${version} ${METADATA_FILE}`);
    if (meta.name !== name || meta.version !== version || typeof meta.createdAt !== 'string') {
      throw new AppError('INTERNAL', `${name} v${version} ${METADATA_FILE} does not describe this version`);
    }
    const typed = meta as ModelMetadata;
    remember(name, version, typed);
    return typed;
  }

  function toInfo(meta: ModelMetadata, aliases: Record<string, number>): ModelVersionInfo {
    return {
      name: meta.name,
      version: meta.version,
      createdAt: meta.createdAt,
      aliases: Object.keys(aliases).filter((a) => aliases[a] === meta.version),
      metadata: structuredClone(meta),
    };
  }

  async function writeAliases(name: string, aliases: Record<string, number>): Promise<void> {
    const sorted = Object.fromEntries(Object.entries(aliases).sort(([a], [b]) => (a < b ? -1 : 1)));
    await writeFileAtomic(layout.aliasesFile(name), `${JSON.stringify(sorted, null, 2)}\n`);
  }

  /**
   * Under the model lock: writes the new alias map, then records the change. If the record cannot
   * be written the old map is put back, so no move goes unrecorded (short of a crash between the two).
   */
  async function changeAliases(name: string, before: Record<string, number>, after: Record<string, number>, entry: AliasHistoryEntry): Promise<void> {
    await writeAliases(name, after);
    try {
      await appendAliasHistory(layout.aliasHistoryFile(name), entry);
    } catch (err) {
      await writeAliases(name, before);
      throw err;
    }
  }

  return {
    async publish(name, artifacts, metadata) {
      checkName(name, 'VALIDATION_FAILED');
      const { modelJson, weights, onnx, callerMetadata } = serialiseForPublish(artifacts, metadata);
      const version = await reserveVersion(name);
      const { name: _n, version: _v, createdAt: _c, ...callerFields } = callerMetadata;
      const meta: ModelMetadata = { name, version, createdAt: new Date().toISOString(), ...callerFields };
      const modelDir = layout.modelDir(name);
      const staging = path.join(modelDir, `${STAGING_PREFIX}${randomUUID()}`);
      try {
        await mkdir(staging);
        await writeFileDurable(path.join(staging, MODEL_FILE), modelJson);
        await writeFileDurable(path.join(staging, WEIGHTS_FILE), weights);
        if (onnx) await writeFileDurable(path.join(staging, ONNX_FILE), onnx);
        await writeFileDurable(path.join(staging, METADATA_FILE), `${JSON.stringify(meta, null, 2)}\n`);
        await mkdir(layout.versionsDir(name), { recursive: true });
        await moveIntoPlace(staging, layout.versionDir(name, version));
      } catch (err) {
        await rm(staging, { recursive: true, force: true }).catch(() => undefined);
        throw err;
      }
      // versions/ itself may be new (a model's first version).
      await fsyncDir(modelDir);
      remember(name, version, meta);
      await sweepLeftovers(modelDir, STALE_LEFTOVER_MS).catch(() => 0);
      return toInfo(meta, {});
    },

    async listModels() {
      const summaries: ModelSummary[] = [];
      for (const name of await readModelNames(layout.modelsDir)) {
        const versions = await readVersionNumbers(layout.versionsDir(name));
        if (versions === null) continue;
        const aliases = await readAliasFile(layout.aliasesFile(name));
        const times = await Promise.all([mtimeMs(layout.versionsDir(name)), mtimeMs(layout.aliasesFile(name))]);
        summaries.push({
          name,
          latestVersion: versions.at(-1) ?? null,
          versionCount: versions.length,
          aliases,
          updatedAt: new Date(Math.max(...times.map((t) => t ?? 0))).toISOString(),
        });
      }
      return summaries;
    },

    async getModel(name) {
      checkName(name, 'MODEL_NOT_FOUND');
      const versions = await requireVersions(name);
      const aliases = await readAliasFile(layout.aliasesFile(name));
      const infos: ModelVersionInfo[] = [];
      for (const v of versions) {
        const meta = await readMetadata(name, v, true);
        if (meta) infos.push(toInfo(meta, aliases));
      }
      return { name, versions: infos, aliases };
    },

    async getVersion(name, version) {
      checkName(name, 'MODEL_NOT_FOUND');
      const meta = isVersionNumber(version) ? await readMetadata(name, version) : null;
      if (!meta) {
        await requireModel(name);
        throw versionNotFound(name, version);
      }
      return toInfo(meta, await readAliasFile(layout.aliasesFile(name)));
    },

    async loadArtifacts(name, version) {
      checkName(name, 'MODEL_NOT_FOUND');
      if (isVersionNumber(version)) {
        const dir = layout.versionDir(name, version);
        try {
          const [modelText, weights] = await Promise.all([
            readFile(path.join(dir, MODEL_FILE), 'utf8'),
            readFile(path.join(dir, WEIGHTS_FILE)),
          ]);
          const modelJson = parseJsonObject(modelText, `${name} v${version} ${MODEL_FILE}`);
          return { modelJson, weights: ownBytes(weights) };
        } catch (err) {
          if (fsErrorCode(err) !== 'ENOENT') throw err;
        }
      }
      await requireModel(name);
      throw versionNotFound(name, version);
    },

    async loadOnnx(name, version) {
      checkName(name, 'MODEL_NOT_FOUND');
      if (isVersionNumber(version)) {
        const dir = layout.versionDir(name, version);
        try {
          return ownBytes(await readFile(path.join(dir, ONNX_FILE)));
        } catch (err) {
          if (fsErrorCode(err) !== 'ENOENT') throw err;
          // no model.onnx: null when the version itself exists
          if (await exists(path.join(dir, METADATA_FILE))) return null;
        }
      }
      await requireModel(name);
      throw versionNotFound(name, version);
    },

    async deleteVersion(name, version) {
      checkName(name, 'VALIDATION_FAILED');
      checkVersion(version, 'VALIDATION_FAILED');
      await requireModel(name);
      const trash = path.join(layout.modelDir(name), `${DELETING_PREFIX}${randomUUID()}`);
      await withDirLock(layout.lockDir(name), async () => {
        const aliases = await readAliasFile(layout.aliasesFile(name));
        const using = Object.keys(aliases).filter((a) => aliases[a] === version);
        if (using.length > 0) {
          throw new AppError(
            'VERSION_IN_USE',
            `Version ${version} of '${name}' is in use by alias ${using.join(', ')}; move the alias first`,
            { name, version, aliases: using },
          );
        }
        try {
          await rename(layout.versionDir(name, version), trash);
        } catch (err) {
          if (fsErrorCode(err) === 'ENOENT') throw versionNotFound(name, version);
          throw err;
        }
      });
      metadataCache.delete(`${name}/${version}`);
      await fsyncDir(layout.versionsDir(name));
      // Already invisible; if removal fails, cleanupStaging gets it later.
      await rm(trash, { recursive: true, force: true }).catch(() => undefined);
    },

    async setAlias(name, alias, version, opts = {}) {
      checkName(name, 'VALIDATION_FAILED');
      checkAlias(alias, 'VALIDATION_FAILED');
      checkVersion(version, 'VALIDATION_FAILED');
      await requireModel(name);
      return withDirLock(layout.lockDir(name), async () => {
        if (!(await exists(layout.versionDir(name, version)))) throw versionNotFound(name, version);
        const aliases = await readAliasFile(layout.aliasesFile(name));
        const previous = Object.hasOwn(aliases, alias) ? (aliases[alias] ?? null) : null;
        const guard = opts.check ? await opts.check(previous) : undefined;
        if (previous !== version) {
          await changeAliases(name, aliases, { ...aliases, [alias]: version }, {
            at: new Date().toISOString(),
            alias,
            action: previous === null ? 'set' : 'move',
            from: previous,
            to: version,
            by: opts.actor ?? ANONYMOUS,
            forced: opts.forced === true,
            ...(guard ? { guard } : {}),
          });
        }
        return { alias, version, previous };
      });
    },

    async deleteAlias(name, alias, opts = {}) {
      checkName(name, 'VALIDATION_FAILED');
      checkAlias(alias, 'VALIDATION_FAILED');
      await requireModel(name);
      return withDirLock(layout.lockDir(name), async () => {
        const aliases = await readAliasFile(layout.aliasesFile(name));
        const previous = Object.hasOwn(aliases, alias) ? aliases[alias] : undefined;
        if (previous === undefined) {
          throw new AppError('ALIAS_NOT_FOUND', `Model '${name}' has no alias '${alias}'`, { name, alias });
        }
        const { [alias]: _removed, ...rest } = aliases;
        await changeAliases(name, aliases, rest, {
          at: new Date().toISOString(),
          alias,
          action: 'delete',
          from: previous,
          to: null,
          by: opts.actor ?? ANONYMOUS,
          forced: false,
        });
        return { previous };
      });
    },

    async aliasHistory(name, limit) {
      checkName(name, 'MODEL_NOT_FOUND');
      await requireModel(name);
      return readAliasHistory(layout.aliasHistoryFile(name), Math.max(0, Math.floor(limit)));
    },

    async getAliases(name) {
      checkName(name, 'MODEL_NOT_FOUND');
      await requireModel(name);
      return readAliasFile(layout.aliasesFile(name));
    },

    async resolve(name, choice = {}) {
      const missing = () => (name === opts.defaultModel ? noModel(name) : modelNotFound(name));
      if (!isModelName(name)) throw missing();
      /** Called once the cheap paths failed: says what exactly is wrong. */
      const explain = async (otherwise: AppError): Promise<never> => {
        const versions = await readVersionNumbers(layout.versionsDir(name));
        if (versions === null) throw missing();
        if (versions.length === 0) throw noModel(name);
        throw otherwise;
      };
      const { version, alias } = choice;
      if (version !== undefined) {
        if (isVersionNumber(version) && (await exists(layout.versionDir(name, version)))) return version;
        return explain(versionNotFound(name, version));
      }
      const aliases = await readAliasFile(layout.aliasesFile(name));
      if (alias !== undefined) {
        const target = isAliasName(alias) && Object.hasOwn(aliases, alias) ? aliases[alias] : undefined;
        if (target !== undefined && (await exists(layout.versionDir(name, target)))) return target;
        return explain(
          target === undefined
            ? new AppError('ALIAS_NOT_FOUND', `Model '${name}' has no alias ${JSON.stringify(alias)}`, { name, alias })
            : versionNotFound(name, target),
        );
      }
      const production = Object.hasOwn(aliases, 'production') ? aliases.production : undefined;
      if (production !== undefined && (await exists(layout.versionDir(name, production)))) return production;
      const latest = (await readVersionNumbers(layout.versionsDir(name)))?.at(-1);
      return latest ?? explain(noModel(name));
    },

    async cleanupStaging(maxAgeMs = STALE_LEFTOVER_MS) {
      if (typeof maxAgeMs !== 'number' || !(maxAgeMs >= 0)) {
        throw new AppError('VALIDATION_FAILED', 'maxAgeMs must be a number >= 0', { maxAgeMs });
      }
      let removed = 0;
      for (const name of await readModelNames(layout.modelsDir)) {
        removed += await sweepLeftovers(layout.modelDir(name), maxAgeMs);
      }
      return removed;
    },
  };
}

/** A Uint8Array that owns its whole ArrayBuffer, so callers may hand `.buffer` to TensorFlow.js. */
function ownBytes(buf: Buffer): Uint8Array {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) {
    return new Uint8Array(buf.buffer, 0, buf.byteLength);
  }
  return new Uint8Array(buf);
}
