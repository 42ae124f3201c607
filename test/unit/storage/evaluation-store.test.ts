/** Evaluation records beside a model version, on a real temp directory. */
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEvaluationStore } from '../../../src/storage/evaluation-store.ts';

interface Rec {
  id: string;
  createdAt: string;
  status: string;
}

let dir: string;
const versionDir = (v: number) => path.join(dir, 'models', 'm', 'versions', String(v));
const rec = (id: string, createdAt: string, status = 'queued'): Rec => ({ id, createdAt, status });
const A = 'ev_aaaaaaaaaaaaaaaa';
const B = 'ev_bbbbbbbbbbbbbbbb';
const C = 'ev_cccccccccccccccc';

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cxr-evals-'));
  await mkdir(versionDir(1), { recursive: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('evaluation store', () => {
  it('creates once, replaces on write, lists newest first, and leaves no temporary files', async () => {
    const store = createEvaluationStore<Rec>({ dataDir: dir });
    expect(await store.list('m', 1)).toEqual([]);
    expect(await store.create('m', 1, rec(A, '2025-01-01T00:00:00.000Z'))).toBe(true);
    // a second create never replaces what is there (the worker may have written first)
    expect(await store.create('m', 1, rec(A, '2025-01-01T00:00:00.000Z', 'stale'))).toBe(false);
    expect((await store.get('m', 1, A))!.status).toBe('queued');
    await store.write('m', 1, rec(A, '2025-01-01T00:00:00.000Z', 'completed'));
    expect((await store.get('m', 1, A))!.status).toBe('completed');
    await store.write('m', 1, rec(B, '2025-03-01T00:00:00.000Z'));
    await store.create('m', 1, rec(C, '2025-02-01T00:00:00.000Z'));
    expect((await store.list('m', 1)).map((r) => r.id)).toEqual([B, C, A]);
    expect((await readdir(path.join(versionDir(1), 'evaluations'))).sort()).toEqual([`${A}.json`, `${B}.json`, `${C}.json`]);
    expect(await store.get('m', 1, 'ev_dddddddddddddddd')).toBeNull();
  });

  it('never brings a deleted version back: writes answer VERSION_NOT_FOUND and create no directory', async () => {
    const store = createEvaluationStore<Rec>({ dataDir: dir });
    await store.create('m', 1, rec(A, '2025-01-01T00:00:00.000Z'));
    await rename(versionDir(1), path.join(dir, 'models', 'm', '.deleting-x'));
    await expect(store.write('m', 1, rec(A, '2025-01-01T00:00:00.000Z', 'running'))).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
    await expect(store.create('m', 2, rec(B, '2025-01-01T00:00:00.000Z'))).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
    expect(await readdir(path.join(dir, 'models', 'm', 'versions'))).toEqual([]);
    expect(await store.list('m', 1)).toEqual([]);
    expect(await store.get('m', 1, A)).toBeNull();
  });

  it('refuses malformed ids before they reach a path', async () => {
    const store = createEvaluationStore<Rec>({ dataDir: dir });
    await expect(store.get('m', 1, '../../x')).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(store.list('../m', 1)).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(store.write('m', 1, rec('ev_../x', '2025-01-01T00:00:00.000Z'))).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});
