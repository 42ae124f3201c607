/**
 * The api process (src/server.ts) picks its predict runtime at start: PREDICT_RUNTIME=onnxruntime
 * without onnxruntime-node is a start-up error (exit 1, the reason logged); auto without it
 * serves on TensorFlow.js loudly (a warning in the log, /health/ready's runtime and
 * fallbackReason, a metric); auto with it serves on onnxruntime, and the default model published
 * before the start is loaded and warmed before /health/ready turns 200. "Without onnxruntime-node"
 * is a resolve hook that answers its import as Node answers a missing package.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelRegistry } from '../../src/storage/model-registry.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { freePort, ROOT } from '../helpers/service-process.ts';
import { METADATA, untrainedModel, withOnnx } from '../helpers/predict-harness.ts';

interface Api {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
  base: string;
}

async function startApi(dataDir: string, env: Record<string, string>, hideOnnxruntime: boolean): Promise<Api> {
  const port = await freePort();
  const args = ['--import', 'tsx', ...(hideOnnxruntime ? ['--import', './test/helpers/hide-onnxruntime.mjs'] : []), 'src/server.ts'];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      TF_CPP_MIN_LOG_LEVEL: '3',
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: uniquePrefix(import.meta.url),
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, exited, base: `http://127.0.0.1:${port}` };
}

async function stop(api: Api): Promise<void> {
  if (api.child.exitCode === null) api.child.kill('SIGTERM');
  const timer = setTimeout(() => api.child.kill('SIGKILL'), 30_000);
  await api.exited;
  clearTimeout(timer);
}

/** Polls GET /health/ready until `ok` accepts its answer. */
async function pollReady(api: Api, ok: (status: number, body: Record<string, unknown>) => boolean, ms = 90_000): Promise<Record<string, unknown>> {
  const until = Date.now() + ms;
  for (;;) {
    if (api.child.exitCode !== null) throw new Error(`the api exited (${api.child.exitCode}):\n${api.out()}`);
    const res = await fetch(`${api.base}/health/ready`).catch(() => undefined);
    if (res) {
      const body = (await res.json()) as Record<string, unknown>;
      if (ok(res.status, body)) return body;
    }
    if (Date.now() > until) throw new Error(`readiness never satisfied the test:\n${api.out()}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe('the api process and PREDICT_RUNTIME', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'cxr-runtime-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('onnxruntime without onnxruntime-node: exits 1 at start, saying why', async () => {
    const api = await startApi(dataDir, { PREDICT_RUNTIME: 'onnxruntime' }, true);
    expect(await api.exited).toBe(1);
    expect(api.out()).toContain('PREDICT_RUNTIME=onnxruntime was requested but onnxruntime-node did not load: Cannot find package');
  }, 120_000);

  it('auto without onnxruntime-node: serves on TensorFlow.js, with a warning, the reason in /health/ready and a metric', async () => {
    const api = await startApi(dataDir, { PREDICT_RUNTIME: 'auto' }, true);
    try {
      const body = await pollReady(api, (status) => status === 200);
      expect(body).toMatchObject({ runtime: 'tfjs', predictRuntime: { requested: 'auto' } });
      expect((body.predictRuntime as { fallbackReason?: string }).fallbackReason).toMatch(/^onnxruntime-node did not load: Cannot find package 'onnxruntime-node'/);
      const warning = api
        .out()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; msg: string })
        .find((l) => l.msg.startsWith('predictions run on TensorFlow.js, not onnxruntime'));
      expect(warning?.level).toBe(40);
      const metrics = await (await fetch(`${api.base}/metrics`)).text();
      expect(metrics).toContain('cxr_predict_runtime{runtime="tfjs",requested="auto"} 1');
      expect(metrics).toContain('cxr_predict_runtime_fallbacks_total{scope="process",reason="onnxruntime-unavailable"} 1');
    } finally {
      await stop(api);
    }
  }, 120_000);

  it('auto with onnxruntime-node: the default model is loaded and warm on onnxruntime before readiness turns 200', async () => {
    const registry = createModelRegistry({ dataDir, defaultModel: 'chestxraynet' });
    await registry.publish('chestxraynet', await withOnnx(await untrainedModel()), { ...METADATA });
    const api = await startApi(dataDir, { PREDICT_RUNTIME: 'auto', ONNX_THREADS: '1' }, false);
    try {
      const body = await pollReady(api, (status, b) => {
        // never 200 before the model is loaded and warm
        if (status === 200) expect((b.models as { default: { status: string } }).default.status).toBe('ready');
        return status === 200;
      });
      expect(body).toMatchObject({
        runtime: 'onnxruntime',
        models: { default: { name: 'chestxraynet', status: 'ready', version: 1 }, loaded: [{ name: 'chestxraynet', version: 1, runtime: 'onnxruntime' }] },
      });
      expect((body.predictRuntime as { description: string }).description).toMatch(/^onnxruntime-node .* 1 intra-op thread\)$/);
    } finally {
      await stop(api);
    }
  }, 120_000);
});
