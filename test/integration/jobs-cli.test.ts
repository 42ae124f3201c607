/**
 * The command line as users run it, through npm: example-dataset -> train (64x64, 1 epoch) ->
 * predict, and Ctrl-C during training (no version). No Redis involved.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MALLOC_ENV } from '../../src/malloc-env.ts';
import { syntheticXray } from '../helpers/synthetic-xray.ts';
import { ROOT } from '../helpers/jobs-harness.ts';

let dir: string;
let env: NodeJS.ProcessEnv;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function npm(args: string[], opts: { onStderr?: (text: string, pid: number) => void } = {}): Promise<Run> {
  return new Promise((resolve) => {
    // Detached: its own process group, so a "Ctrl-C" can reach npm, tsx and node together as a terminal's would.
    const child = spawn('npm', ['run', '--silent', ...args], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      opts.onStderr?.(stderr, child.pid!);
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cxr-cli-'));
  env = { ...process.env, DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'warn' };
  // Prove the train command puts the malloc setting in place itself.
  for (const k of Object.keys(MALLOC_ENV)) delete env[k];
  delete env.CXR_NO_RELAUNCH;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('command line', () => {
  const zip = () => path.join(dir, 'example.zip');

  it('example-dataset writes a zip of generated images with a README saying so', async () => {
    const r = await npm(['example-dataset', '--', '--out', zip(), '--count', '40', '--size', '64']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(zip());
    const { default: yauzl } = await import('yauzl');
    const names = await new Promise<string[]>((resolve, reject) =>
      yauzl.open(zip(), { lazyEntries: false }, (err, z) => {
        if (err) return reject(err);
        const out: string[] = [];
        z.on('entry', (e: { fileName: string }) => out.push(e.fileName));
        z.on('end', () => resolve(out));
      }),
    );
    expect(names).toContain('README.txt');
    expect(names.filter((n) => n.startsWith('NORMAL/'))).toHaveLength(20);
    expect(names.filter((n) => n.startsWith('PNEUMONIA/'))).toHaveLength(20);
  }, 120_000);

  it('train imports the zip, shows progress, prints validation and test metrics and the new version', async () => {
    const r = await npm(['train', '--', '--data', zip(), '--epochs', '1', '--input-size', '64', '--batch-size', '8']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('malloc setting on');
    expect(r.stderr).toMatch(/dataset ds_[a-z2-7]{16} "example": 40 images \(NORMAL 20, PNEUMONIA 20\)/);
    expect(r.stderr).toMatch(/epoch 1\/1 {2}loss \d\.\d{4} {2}acc/);
    expect(r.stdout).toMatch(/metric\s+validation\s+test/);
    expect(r.stdout).toMatch(/ROC AUC\s+\d\.\d{4}\s+\d\.\d{4}/);
    expect(r.stdout).toMatch(/sensitivity\s+\d\.\d{4}\s+\d\.\d{4}/);
    expect(r.stdout).toContain("sensitivity:0.95 on validation");
    expect(r.stdout).toContain('published model chestxraynet version 1');
    expect(await readdir(path.join(dir, 'data', 'models', 'chestxraynet', 'versions'))).toEqual(['1']);
  }, 180_000);

  it('predict prints one line per image with a probability and a label', async () => {
    const files: string[] = [];
    for (const [i, positive] of [false, true].entries()) {
      const f = path.join(dir, `x${i}.png`);
      await writeFile(f, await sharp(Buffer.from(syntheticXray(128, positive, 9000 + i)), { raw: { width: 128, height: 128, channels: 1 } }).png().toBuffer());
      files.push(f);
    }
    const r = await npm(['predict', '--', ...files]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('model chestxraynet version 1');
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    lines.forEach((line, i) => {
      const [file, prob, label] = line.split('\t');
      expect(file).toBe(files[i]);
      expect(Number(prob)).toBeGreaterThanOrEqual(0);
      expect(Number(prob)).toBeLessThanOrEqual(1);
      expect(['NORMAL', 'PNEUMONIA']).toContain(label);
    });
    const v = await npm(['predict', '--', '--version', '7', files[0]!]);
    expect(v.code).not.toBe(0);
    expect(v.stderr).toMatch(/VERSION_NOT_FOUND/);
  }, 120_000);

  it('Ctrl-C during training stops it and publishes nothing', async () => {
    let sent = false;
    const r = await npm(['train', '--', '--data', zip(), '--epochs', '200', '--input-size', '64', '--batch-size', '4'], {
      onStderr: (text, pid) => {
        if (!sent && /epoch 1\/200 {2}loss/.test(text)) {
          sent = true;
          process.kill(-pid, 'SIGINT'); // the whole process group, as a terminal does
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('training cancelled: no model version was published');
    expect(await readdir(path.join(dir, 'data', 'models', 'chestxraynet', 'versions'))).toEqual(['1']);
  }, 180_000);

  it('bad options are refused before any work', async () => {
    const r = await npm(['train', '--', '--data', zip(), '--epochs', '0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/epochs/);
    const u = await npm(['train', '--', '--bogus']);
    expect(u.code).not.toBe(0);
    expect(u.stderr).toMatch(/bogus/);
  }, 120_000);
});
