import { spawn } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startService, type ServiceProcess } from '../helpers/service-process.ts';

/** The shell blocks of the README's "API tour" section, in order, as one script. */
export async function tourScript(): Promise<string> {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## API tour');
  const end = readme.indexOf('\n## ', start + 1);
  expect(start, 'README has an "## API tour" section').toBeGreaterThan(0);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.join('\n');
}

function runBash(script: string, env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const proc = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, env: { ...process.env, ...env } });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('the README API tour, run as pasted against a started service', () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    await rm(path.join(ROOT, 'tour'), { recursive: true, force: true });
    service = await startService(import.meta.url);
  }, 120_000);

  afterAll(async () => {
    const code = await service?.stop();
    await rm(path.join(ROOT, 'tour'), { recursive: true, force: true });
    expect(code).toBe(0);
  }, 60_000);

  it('every command succeeds and the answers say what the README says', async () => {
    const script = await tourScript();
    expect(script).toContain('export API=http://localhost:3000');
    expect(script.split('\n').filter((l) => l.includes('curl')).length).toBeGreaterThanOrEqual(15);
    // The README's own address becomes the test service's; everything else runs verbatim.
    const runnable = script.replace('export API=http://localhost:3000', `export API=${service.url}`);
    const { code, out } = await runBash(runnable, {}, 240_000);
    expect(code, out + service.output()).toBe(0);

    // Upload, jobs, versions, the alias moves and the last predict came from version 1 again.
    expect(out).toMatch(/"id":"ds_[a-z2-7]{16}"/);
    expect(out).toMatch(/event: completed/);
    expect(out).toMatch(/"alias":"production","version":2,"previous":1/);
    expect(out).toMatch(/"alias":"production","version":1,"previous":2/);
    // curl prints no newline after a body: the last answer is the last {"model":...} object.
    const last = JSON.parse(out.slice(out.lastIndexOf('{"model":')).trim()) as { model: { version: number }; predictions: { probability: number; label: string }[] };
    expect(last.model.version).toBe(1);
    expect(last.predictions).toHaveLength(1);
    expect(last.predictions[0]!.label).toBe('PNEUMONIA');

    const heat = await stat(path.join(ROOT, 'tour', 'explain.png'));
    expect(heat.size).toBeGreaterThan(1000);
    const meta = await sharp(path.join(ROOT, 'tour', 'explain.png')).metadata();
    expect(meta.format).toBe('png');
  }, 300_000);
});
