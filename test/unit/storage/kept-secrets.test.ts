/** The kept secrets (DICOM keys, results at rest): configured, or generated once per data dir (mode 0600) and the same for every process after. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DICOM_KEY_FILE, dicomKeySecret, RESULTS_KEY_FILE, resultsKeySecret } from '../../../src/storage/kept-secrets.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cxr-dicom-key-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dicomKeySecret', () => {
  it('uses DICOM_KEY_SECRET when set, and writes nothing', async () => {
    expect(dicomKeySecret('configured-secret-0123', dir)).toBe('configured-secret-0123');
    await expect(stat(path.join(dir, DICOM_KEY_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('generates one secret per data dir, readable by its owner only, and returns it again after a restart', async () => {
    const first = dicomKeySecret(undefined, dir);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    const file = path.join(dir, DICOM_KEY_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    expect(dicomKeySecret(undefined, dir)).toBe(first);
    const other = await mkdtemp(path.join(tmpdir(), 'cxr-dicom-key-'));
    try {
      expect(dicomKeySecret(undefined, other)).not.toBe(first);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('gives processes starting together the same secret', async () => {
    const script = `import('${path.join(ROOT, 'src/storage/kept-secrets.ts')}').then((m) => process.stdout.write(m.dicomKeySecret(undefined, process.argv[1])))`;
    const outs = await Promise.all(
      Array.from({ length: 4 }, () => run(process.execPath, ['--import', 'tsx', '-e', script, dir], { cwd: ROOT }).then((r) => r.stdout)),
    );
    expect(new Set(outs).size).toBe(1);
    expect(outs[0]).toBe((await readFile(path.join(dir, DICOM_KEY_FILE), 'utf8')).trim());
  }, 30_000);

  it('refuses a kept secret that is too short instead of using it', async () => {
    dicomKeySecret(undefined, dir);
    await writeFile(path.join(dir, DICOM_KEY_FILE), 'short\n');
    expect(() => dicomKeySecret(undefined, dir)).toThrow(/fewer than 16 bytes/);
  });
});

describe('resultsKeySecret', () => {
  it('uses RESULTS_KEY_SECRET when set, and writes nothing', async () => {
    const configured = 'r'.repeat(40);
    expect(resultsKeySecret(configured, dir)).toBe(configured);
    await expect(stat(path.join(dir, RESULTS_KEY_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('generates its own secret, apart from the DICOM key one, and keeps it across restarts', async () => {
    const results = resultsKeySecret(null, dir);
    expect(results).toMatch(/^[0-9a-f]{64}$/);
    expect((await stat(path.join(dir, RESULTS_KEY_FILE))).mode & 0o777).toBe(0o600);
    expect(dicomKeySecret(undefined, dir)).not.toBe(results);
    expect(resultsKeySecret(null, dir)).toBe(results);
  });

  it('refuses a kept results secret under 32 bytes (the AES-256 key material the configuration also demands)', async () => {
    resultsKeySecret(null, dir);
    await writeFile(path.join(dir, RESULTS_KEY_FILE), 'x'.repeat(20) + '\n');
    expect(() => resultsKeySecret(null, dir)).toThrow(/fewer than 32 bytes/);
  });
});
