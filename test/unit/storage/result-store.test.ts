import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomId } from '../../../src/domain/random-id.ts';
import { createResultStore } from '../../../src/storage/result-store.ts';

const SECRET = 'a'.repeat(16) + 'b'.repeat(16) + 'c'.repeat(8);
const PATIENT = 'DOE^JANE^Q';
const STUDY_UID = '1.2.826.0.1.3680043.10.1471.7.1';

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'cxr-results-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const sample = () => ({
  clear: { v: 1, probability: 0.91, label: 'PNEUMONIA', model: { name: 'chestxraynet', version: 2 } },
  sealed: { uids: { studyInstanceUid: STUDY_UID }, attributes: { patientName: Buffer.from(PATIENT).toString('base64') }, name: PATIENT },
});

describe('the result store', () => {
  it('gives back what it was given, and keeps the sealed part encrypted on disk', async () => {
    const store = createResultStore({ dataDir, secret: SECRET });
    const id = randomId('res_');
    await store.put(id, sample());
    expect(await store.get(id)).toEqual(sample());
    const file = await readFile(path.join(dataDir, 'results', `${id}.json`), 'utf8');
    for (const phi of [PATIENT, STUDY_UID, Buffer.from(PATIENT).toString('base64'), '1.2.826.0']) expect(file).not.toContain(phi);
    expect(file).toContain('PNEUMONIA');
  });

  it('does not open a file whose clear part was edited, one sealed with another secret, or a sealed part moved to another result', async () => {
    const reasons: string[] = [];
    const store = createResultStore({ dataDir, secret: SECRET, onUnreadable: (_id, r) => reasons.push(r) });
    const [a, b] = [randomId('res_'), randomId('res_')];
    await store.put(a, sample());
    await store.put(b, { ...sample(), clear: { ...sample().clear, probability: 0.1 } });
    const fileA = path.join(dataDir, 'results', `${a}.json`);
    const fileB = path.join(dataDir, 'results', `${b}.json`);
    const original = await readFile(fileA, 'utf8');

    await writeFile(fileA, original.replace('0.91', '0.11'));
    expect(await store.get(a)).toBeNull();

    await writeFile(fileA, original);
    expect(await createResultStore({ dataDir, secret: 'z'.repeat(40) }).get(a)).toBeNull();
    expect(await store.get(a)).not.toBeNull();

    const bodyB = JSON.parse(await readFile(fileB, 'utf8')) as { sealed: unknown };
    const bodyA = JSON.parse(original) as { sealed: unknown };
    await writeFile(fileB, JSON.stringify({ ...bodyB, sealed: bodyA.sealed }));
    expect(await store.get(b)).toBeNull();
    // This store saw two of the three (the other secret's store has no listener).
    expect(reasons.length).toBe(2);
    expect(reasons.join(' ')).not.toContain(PATIENT);
  });

  it('answers null for unknown or malformed ids without touching the disk outside its folder', async () => {
    const store = createResultStore({ dataDir, secret: SECRET });
    expect(await store.get(randomId('res_'))).toBeNull();
    expect(await store.get('../../etc/passwd')).toBeNull();
    expect(await store.get('res_AAAAAAAAAAAAAAAA')).toBeNull();
    await expect(store.put('../x', sample())).rejects.toThrow(/not a result id/);
  });

  it('sweeps results older than the retention and leftover temporary files, and keeps the rest', async () => {
    const store = createResultStore({ dataDir, secret: SECRET });
    const [old, fresh] = [randomId('res_'), randomId('res_')];
    await store.put(old, sample());
    await store.put(fresh, sample());
    const dir = path.join(dataDir, 'results');
    const longAgo = new Date(Date.now() - 3 * 24 * 3600_000);
    await utimes(path.join(dir, `${old}.json`), longAgo, longAgo);
    await writeFile(path.join(dir, `.${fresh}.json.x.atomic-tmp`), 'partial');
    await utimes(path.join(dir, `.${fresh}.json.x.atomic-tmp`), longAgo, longAgo);
    await writeFile(path.join(dir, 'notes.txt'), 'not a result');
    await utimes(path.join(dir, 'notes.txt'), longAgo, longAgo);
    expect(await store.sweep(2 * 24 * 3600_000)).toBe(2);
    expect((await readdir(dir)).sort()).toEqual([`${fresh}.json`, 'notes.txt'].sort());
    expect(await store.get(old)).toBeNull();
    expect(await store.get(fresh)).not.toBeNull();
  });
});
