/** What the predict benches share: flags, a JSON-printing child, waiting for the API. */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../test/helpers/service-process.ts';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `--name value` from argv, else `fallback`. */
export function flagReader(argv: readonly string[]): (name: string, fallback: string) => string {
  return (name, fallback) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
  };
}

/** Runs `command` to completion and parses the JSON line it prints last (stdout). */
export function runJsonCommand(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as Record<string, unknown>);
      else reject(new Error(`${args[0] ?? command} exited ${code}: ${err.split('\n').filter((l) => !/absl|oneDNN/.test(l)).join('\n').slice(-2000)}`));
    });
  });
}

/** Runs a tsx script to completion and parses the JSON line it prints last. */
export function runJson(script: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  return runJsonCommand(process.execPath, ['--import', 'tsx', script, ...args], env);
}

/** Waits until `url` answers 2xx, failing early when `child` (the API) exits. */
export async function waitFor(url: string, child: ChildProcess, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`the API exited with ${child.exitCode} while starting`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer in time`);
}

/**
 * The real API (src/server.ts) in a child on a free loopback port over `dataDir`, with `env` (the
 * bench's own malloc and engine settings) and its own queue prefix; resolves once /health/live answers.
 */
export async function startApi(dataDir: string, prefix: string, env: NodeJS.ProcessEnv): Promise<{ api: ChildProcess; base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const api = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { ...env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', QUEUE_PREFIX: `${prefix}-${process.pid}` },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitFor(`${base}/health/live`, api);
  } catch (err) {
    api.kill('SIGKILL');
    throw err;
  }
  return { api, base };
}
