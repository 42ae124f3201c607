import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAppError } from '../../../src/errors.ts';
import { withDirLock } from '../../../src/storage/model-lock.ts';
import { createModelRegistry, type ModelArtifacts, type ModelRegistry } from '../../../src/storage/model-registry.ts';

const REGISTRY_MODULE = path.resolve(import.meta.dirname, '../../../src/storage/model-registry.ts');

/** Deterministic bytes per tag; also sent as source to the child processes, so plain JS only. */
function bytesFor(tag: string, size: number): Uint8Array {
  let x = 2166136261;
  for (let i = 0; i < tag.length; i++) x = Math.imul(x ^ tag.charCodeAt(i), 16777619) >>> 0;
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function modelJsonFor(tag: string): Record<string, unknown> {
  return {
    format: 'layers-model',
    modelTopology: { tag },
    weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [1024], dtype: 'float32' }] }],
  };
}

function artifactsFor(tag: string, size = 4096): ModelArtifacts {
  return { modelJson: modelJsonFor(tag), weights: bytesFor(tag, size) };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isAppError(err)) return err.code;
    throw err;
  }
  return 'no error';
}

let dataDir: string;
let reg: ModelRegistry;

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'model-registry-'));
  reg = createModelRegistry({ dataDir });
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function publishTags(name: string, ...tags: string[]): Promise<number[]> {
  const versions: number[] = [];
  for (const tag of tags) versions.push((await reg.publish(name, artifactsFor(tag), { tag })).version);
  return versions;
}

async function expectVersionHolds(name: string, version: number, tag: string, size = 4096): Promise<void> {
  const loaded = await reg.loadArtifacts(name, version);
  expect(loaded.modelJson).toEqual(modelJsonFor(tag));
  expect(Buffer.from(loaded.weights).equals(bytesFor(tag, size))).toBe(true);
  expect((await reg.getVersion(name, version)).metadata.tag).toBe(tag);
}

describe('publish and read', () => {
  it('numbers versions from 1, round-trips artifacts byte for byte and stamps metadata', async () => {
    const params = { epochs: 3, augmentation: { flip: true } };
    const info = await reg.publish('chest', artifactsFor('a', 100_001), { tag: 'a', params, threshold: 0.42 });
    expect(info).toMatchObject({ name: 'chest', version: 1, aliases: [] });
    expect(info.metadata).toMatchObject({ name: 'chest', version: 1, tag: 'a', params, threshold: 0.42 });
    expect(Date.parse(info.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(info.metadata.createdAt).toBe(info.createdAt);
    expect(await publishTags('chest', 'b', 'c')).toEqual([2, 3]);

    await expectVersionHolds('chest', 1, 'a', 100_001);
    await expectVersionHolds('chest', 3, 'c');
    const dir = path.join(dataDir, 'models/chest/versions/1');
    expect((await readdir(dir)).sort()).toEqual(['metadata.json', 'model.json', 'weights.bin']);
    const loaded = await reg.loadArtifacts('chest', 1);
    expect(loaded.weights.byteOffset).toBe(0);
    expect(loaded.weights.buffer.byteLength).toBe(100_001);
  });

  it('lets the registry, not the caller, set name, version and createdAt', async () => {
    const info = await reg.publish('chest', artifactsFor('a'), { name: 'evil', version: 99, createdAt: 'x' });
    expect(info.metadata).toMatchObject({ name: 'chest', version: 1 });
    expect(info.metadata.createdAt).not.toBe('x');
    const onDisk = JSON.parse(await readFile(path.join(dataDir, 'models/chest/versions/1/metadata.json'), 'utf8'));
    expect(onDisk).toEqual(info.metadata);
  });

  it('never reuses a number, even after deletion', async () => {
    await publishTags('chest', 'a', 'b', 'c');
    await reg.deleteVersion('chest', 2);
    expect(await codeOf(reg.getVersion('chest', 2))).toBe('VERSION_NOT_FOUND');
    expect(await codeOf(reg.loadArtifacts('chest', 2))).toBe('VERSION_NOT_FOUND');
    expect(await publishTags('chest', 'd')).toEqual([4]);
    await reg.deleteVersion('chest', 4);
    expect(await publishTags('chest', 'e')).toEqual([5]);
    const model = await reg.getModel('chest');
    expect(model.versions.map((v) => [v.version, v.metadata.tag])).toEqual([
      [1, 'a'],
      [3, 'c'],
      [5, 'e'],
    ]);
    expect((await readdir(path.join(dataDir, 'models/chest'))).filter((e) => e.startsWith('.'))).toEqual([]);
  });

  it('lists models with counts, latest versions and aliases', async () => {
    expect(await reg.listModels()).toEqual([]);
    await publishTags('zeta', 'z1');
    await publishTags('alpha', 'a1', 'a2');
    await reg.setAlias('alpha', 'production', 1);
    const list = await reg.listModels();
    expect(list.map(({ updatedAt: _, ...rest }) => rest)).toEqual([
      { name: 'alpha', latestVersion: 2, versionCount: 2, aliases: { production: 1 } },
      { name: 'zeta', latestVersion: 1, versionCount: 1, aliases: {} },
    ]);
    for (const m of list) expect(Date.parse(m.updatedAt)).toBeGreaterThan(Date.now() - 60_000);
    await reg.deleteVersion('zeta', 1);
    expect((await reg.listModels())[1]).toMatchObject({ name: 'zeta', latestVersion: null, versionCount: 0 });
  });

  it('sees versions published by another registry instance (another process)', async () => {
    const other = createModelRegistry({ dataDir });
    await publishTags('chest', 'a');
    await reg.getModel('chest');
    await other.publish('chest', artifactsFor('b'), { tag: 'b' });
    await other.deleteVersion('chest', 1);
    expect((await reg.getModel('chest')).versions.map((v) => v.version)).toEqual([2]);
    expect(await codeOf(reg.getVersion('chest', 1))).toBe('VERSION_NOT_FOUND');
    expect((await reg.listModels())[0]).toMatchObject({ latestVersion: 2, versionCount: 1 });
  });
});

describe('concurrent publishers', () => {
  it('gives 20 concurrent publishes in one process 20 distinct versions with their own contents', async () => {
    const tags = Array.from({ length: 20 }, (_, i) => `t${i}`);
    const infos = await Promise.all(tags.map((tag) => reg.publish('chest', artifactsFor(tag), { tag })));
    expect(infos.map((i) => i.version).sort((a, b) => a - b)).toEqual(tags.map((_, i) => i + 1));
    for (const info of infos) await expectVersionHolds('chest', info.version, String(info.metadata.tag));
  });

  it('gives publishes from 3 processes 15 distinct versions, none clobbered', async () => {
    const child = `
      import { createInterface } from 'node:readline';
      const { createModelRegistry } = await import(process.env.REGISTRY_URL);
      const bytesFor = ${bytesFor.toString()};
      const reg = createModelRegistry({ dataDir: process.env.DATA_DIR });
      const lines = createInterface({ input: process.stdin });
      console.log('ready');
      await new Promise((go) => lines.once('line', go));
      lines.close();
      await Promise.all([0, 1, 2, 3, 4].map((i) => {
        const tag = process.env.CHILD_ID + '-' + i;
        const modelJson = ${JSON.stringify(modelJsonFor('TAG'))};
        modelJson.modelTopology.tag = tag;
        return reg.publish('chest', { modelJson, weights: bytesFor(tag, 65536) }, { tag });
      }));
    `;
    const children = [0, 1, 2].map((id) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], {
        cwd: path.resolve(import.meta.dirname, '../../..'),
        env: { ...process.env, REGISTRY_URL: pathToFileURL(REGISTRY_MODULE).href, DATA_DIR: dataDir, CHILD_ID: `p${id}` },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stderr = '';
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const ready = new Promise<void>((resolve) => proc.stdout.once('data', () => resolve()));
      const exited = new Promise<void>((resolve, reject) =>
        proc.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child ${id} exited ${code}: ${stderr}`)))),
      );
      return { proc, ready, exited };
    });
    await Promise.race([Promise.all(children.map((c) => c.ready)), Promise.all(children.map((c) => c.exited))]);
    for (const c of children) c.proc.stdin.end('go\n');
    await Promise.all(children.map((c) => c.exited));

    const model = await reg.getModel('chest');
    expect(model.versions.map((v) => v.version)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    const tags = model.versions.map((v) => String(v.metadata.tag));
    expect(new Set(tags).size).toBe(15);
    for (const v of model.versions) await expectVersionHolds('chest', v.version, String(v.metadata.tag), 65536);
  });
});

describe('crash leftovers', () => {
  it('keeps staging dirs out of listings and removes them with cleanupStaging', async () => {
    await publishTags('chest', 'a');
    const modelDir = path.join(dataDir, 'models/chest');
    // A publisher that died after reserving 2 and writing half a file:
    await mkdir(path.join(modelDir, 'reserved/2'));
    await mkdir(path.join(modelDir, '.staging-crashed'));
    await writeFile(path.join(modelDir, '.staging-crashed/model.json'), '{"format":"lay');
    // A model whose very first publish died:
    const ghostDir = path.join(dataDir, 'models/ghost');
    await mkdir(path.join(ghostDir, 'reserved/1'), { recursive: true });
    await mkdir(path.join(ghostDir, '.staging-crashed'));

    expect((await reg.listModels()).map((m) => [m.name, m.versionCount])).toEqual([['chest', 1]]);
    expect((await reg.getModel('chest')).versions.map((v) => v.version)).toEqual([1]);
    expect(await reg.resolve('chest')).toBe(1);
    expect(await codeOf(reg.getModel('ghost'))).toBe('MODEL_NOT_FOUND');

    expect(await reg.cleanupStaging()).toBe(0); // younger than an hour: may be a publish in flight
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(path.join(modelDir, '.staging-crashed'), twoHoursAgo, twoHoursAgo);
    expect(await reg.cleanupStaging()).toBe(1);
    expect(await reg.cleanupStaging(0)).toBe(1);
    expect(await readdir(modelDir)).not.toContain('.staging-crashed');
    expect(await readdir(ghostDir)).toEqual(['reserved']);

    expect(await publishTags('chest', 'b')).toEqual([3]);
    expect(await publishTags('ghost', 'g')).toEqual([2]);
  });
});

describe('aliases', () => {
  beforeEach(async () => {
    await publishTags('chest', 'a', 'b', 'c');
  });

  it('sets, moves, reads and deletes', async () => {
    expect(await reg.getAliases('chest')).toEqual({});
    expect(await reg.setAlias('chest', 'production', 1)).toEqual({ alias: 'production', version: 1, previous: null });
    expect(await reg.setAlias('chest', 'production', 2)).toEqual({ alias: 'production', version: 2, previous: 1 });
    await reg.setAlias('chest', 'staging', 2);
    expect(await reg.getAliases('chest')).toEqual({ production: 2, staging: 2 });
    expect((await reg.getVersion('chest', 2)).aliases).toEqual(['production', 'staging']);
    expect((await reg.getVersion('chest', 1)).aliases).toEqual([]);
    expect((await reg.getModel('chest')).aliases).toEqual({ production: 2, staging: 2 });
    await reg.deleteAlias('chest', 'staging');
    expect(await reg.getAliases('chest')).toEqual({ production: 2 });
    expect(await codeOf(reg.deleteAlias('chest', 'staging'))).toBe('ALIAS_NOT_FOUND');
    expect(await codeOf(reg.deleteAlias('chest', 'constructor'))).toBe('ALIAS_NOT_FOUND');
    expect(await codeOf(reg.getAliases('nope'))).toBe('MODEL_NOT_FOUND');
  });

  it('refuses an alias to a missing version and deletion of an aliased version', async () => {
    expect(await codeOf(reg.setAlias('chest', 'production', 9))).toBe('VERSION_NOT_FOUND');
    expect(await codeOf(reg.setAlias('nope', 'production', 1))).toBe('MODEL_NOT_FOUND');
    await reg.setAlias('chest', 'production', 2);
    expect(await codeOf(reg.deleteVersion('chest', 2))).toBe('VERSION_IN_USE');
    await expectVersionHolds('chest', 2, 'b');
    await reg.setAlias('chest', 'production', 3);
    await reg.deleteVersion('chest', 2);
    expect(await codeOf(reg.setAlias('chest', 'production', 2))).toBe('VERSION_NOT_FOUND');
  });

  it('never shows a half-written aliases.json and loses no concurrent update', async () => {
    const names = ['production', 'staging', 'canary-with-a-much-longer-name'];
    const state: Record<string, number> = {};
    const written = new Set([JSON.stringify({})]);
    let done = false;
    const reads: string[] = [];
    const reader = (async () => {
      while (!done) reads.push(await reg.getAliases('chest').then(JSON.stringify, (err: Error) => err.message));
    })();
    for (let i = 0; i < 100; i++) {
      const alias = names[i % 3]!;
      const version = 1 + ((i * 7) % 3);
      await reg.setAlias('chest', alias, version);
      state[alias] = version;
      written.add(JSON.stringify(Object.fromEntries(Object.entries(state).sort(([a], [b]) => (a < b ? -1 : 1)))));
    }
    done = true;
    await reader;
    expect(reads.length).toBeGreaterThan(10);
    for (const r of reads) expect(written).toContain(r);

    const many = Array.from({ length: 10 }, (_, i) => `a${i}`);
    await Promise.all(many.map((a, i) => reg.setAlias('chest', a, 1 + (i % 3))));
    expect(Object.keys(await reg.getAliases('chest'))).toEqual(expect.arrayContaining(many));
  });
});

describe('the per-model lock', () => {
  it('breaks a lock left by a crashed holder and times out on a live one', async () => {
    await publishTags('chest', 'a');
    const lock = path.join(dataDir, 'models/chest/.lock');
    await mkdir(lock);
    const aMinuteAgo = new Date(Date.now() - 60_000);
    await utimes(lock, aMinuteAgo, aMinuteAgo);
    expect(await reg.setAlias('chest', 'production', 1)).toMatchObject({ previous: null });
    await expect(stat(lock)).rejects.toThrow();

    await mkdir(lock);
    const held = withDirLock(lock, async () => 'never', { staleMs: 10_000, timeoutMs: 50 });
    expect(await codeOf(held)).toBe('CONFLICT');
    await rm(lock, { recursive: true });
    expect(await withDirLock(lock, async () => 'ran')).toBe('ran');
    await expect(stat(lock)).rejects.toThrow();
  });
});

describe('resolve', () => {
  it('prefers explicit version > alias > production > latest', async () => {
    await publishTags('chest', 'a', 'b', 'c');
    expect(await reg.resolve('chest')).toBe(3);
    await reg.setAlias('chest', 'staging', 2);
    expect(await reg.resolve('chest')).toBe(3);
    await reg.setAlias('chest', 'production', 1);
    expect(await reg.resolve('chest')).toBe(1);
    expect(await reg.resolve('chest', {})).toBe(1);
    expect(await reg.resolve('chest', { alias: 'staging' })).toBe(2);
    expect(await reg.resolve('chest', { version: 3, alias: 'staging' })).toBe(3);
    expect(await codeOf(reg.resolve('chest', { alias: 'nope' }))).toBe('ALIAS_NOT_FOUND');
    expect(await codeOf(reg.resolve('chest', { alias: 'Bad!' }))).toBe('ALIAS_NOT_FOUND');
    expect(await codeOf(reg.resolve('chest', { version: 9 }))).toBe('VERSION_NOT_FOUND');
    expect(await codeOf(reg.resolve('chest', { version: 1.5 }))).toBe('VERSION_NOT_FOUND');
  });

  it('says NO_MODEL when there is nothing to serve', async () => {
    await publishTags('chest', 'a');
    await reg.deleteVersion('chest', 1);
    expect(await codeOf(reg.resolve('chest'))).toBe('NO_MODEL');
    expect(await codeOf(reg.resolve('chest', { version: 1 }))).toBe('NO_MODEL');
    expect(await codeOf(reg.resolve('other'))).toBe('MODEL_NOT_FOUND');
    const withDefault = createModelRegistry({ dataDir, defaultModel: 'other' });
    expect(await codeOf(withDefault.resolve('other'))).toBe('NO_MODEL');
    expect(await codeOf(withDefault.resolve('third'))).toBe('MODEL_NOT_FOUND');
  });
});

describe('invalid input', () => {
  it('rejects bad names, aliases and versions with the right codes and touches nothing', async () => {
    for (const name of ['../x', 'A', '', '-x', 'a/b', 'x'.repeat(64), '..']) {
      expect(await codeOf(reg.publish(name, artifactsFor('a'), {}))).toBe('VALIDATION_FAILED');
      expect(await codeOf(reg.getModel(name))).toBe('MODEL_NOT_FOUND');
      expect(await codeOf(reg.getVersion(name, 1))).toBe('MODEL_NOT_FOUND');
      expect(await codeOf(reg.loadArtifacts(name, 1))).toBe('MODEL_NOT_FOUND');
      expect(await codeOf(reg.resolve(name))).toBe('MODEL_NOT_FOUND');
      expect(await codeOf(reg.setAlias(name, 'production', 1))).toBe('VALIDATION_FAILED');
      expect(await codeOf(reg.deleteVersion(name, 1))).toBe('VALIDATION_FAILED');
    }
    expect(await readdir(dataDir)).toEqual([]);

    await publishTags('chest', 'a');
    for (const version of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
      expect(await codeOf(reg.getVersion('chest', version))).toBe('VERSION_NOT_FOUND');
      expect(await codeOf(reg.loadArtifacts('chest', version))).toBe('VERSION_NOT_FOUND');
      expect(await codeOf(reg.setAlias('chest', 'production', version))).toBe('VALIDATION_FAILED');
      expect(await codeOf(reg.deleteVersion('chest', version))).toBe('VALIDATION_FAILED');
    }
    for (const alias of ['A', '../x', '1abc', '', 'a'.repeat(33), '__proto__']) {
      expect(await codeOf(reg.setAlias('chest', alias, 1))).toBe('VALIDATION_FAILED');
      expect(await codeOf(reg.deleteAlias('chest', alias))).toBe('VALIDATION_FAILED');
    }
    expect(await codeOf(reg.getVersion('nope', 1))).toBe('MODEL_NOT_FOUND');
    expect(await codeOf(reg.getVersion('chest', 7))).toBe('VERSION_NOT_FOUND');
    expect(await readdir(path.join(dataDir, 'models'))).toEqual(['chest']);
  });

  it('names the weights file itself when the manifest leaves it unnamed', async () => {
    const modelJson = { format: 'layers-model', weightsManifest: [{ paths: [], weights: [{ name: 'w', shape: [1], dtype: 'float32' }] }] };
    const info = await reg.publish('chest', { modelJson, weights: new Uint8Array(4) }, {});
    const stored = JSON.parse(await readFile(path.join(dataDir, 'models', 'chest', 'versions', String(info.version), 'model.json'), 'utf8'));
    expect(stored.weightsManifest).toEqual([{ paths: ['weights.bin'], weights: modelJson.weightsManifest[0]!.weights }]);
    expect(modelJson.weightsManifest[0]!.paths).toEqual([]); // the caller's object is left as it was
  });

  it('rejects artifacts it could not store faithfully', async () => {
    const bad: unknown[] = [
      null,
      { modelJson: modelJsonFor('a') },
      { modelJson: [], weights: new Uint8Array(1) },
      { modelJson: modelJsonFor('a'), weights: [1, 2] },
      { modelJson: { weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: [] }] }, weights: new Uint8Array(1) },
      { modelJson: { big: 1n }, weights: new Uint8Array(1) },
    ];
    for (const artifacts of bad) {
      expect(await codeOf(reg.publish('chest', artifacts as ModelArtifacts, {}))).toBe('VALIDATION_FAILED');
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(await codeOf(reg.publish('chest', artifactsFor('a'), cyclic))).toBe('VALIDATION_FAILED');
    expect(await codeOf(reg.publish('chest', artifactsFor('a'), [] as unknown as Record<string, unknown>))).toBe(
      'VALIDATION_FAILED',
    );
    await expect(stat(path.join(dataDir, 'models'))).rejects.toThrow();
  });
});
