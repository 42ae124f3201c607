import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/*
 * The layer rules of .dependency-cruiser.cjs (run by `npm run lint`) must fire. A throwaway tree
 * with one deliberate wrong-way import per rule is cruised with the project's own rule set; the
 * real tree is cruised too and must have none.
 */
const root = path.resolve(import.meta.dirname, '../../..');
const config = createRequire(import.meta.url)(path.join(root, '.dependency-cruiser.cjs')) as {
  forbidden: unknown[];
  options: Record<string, unknown>;
};

const FIXTURE: Record<string, string> = {
  'src/ml/model.ts': "import { route } from '../http/route.ts';\nimport { readFileSync } from 'node:fs';\nexport const m = [route, readFileSync];\n",
  'src/http/route.ts': "import { store } from '../storage/store.ts';\nexport const route = store;\n",
  'src/storage/store.ts': "import { svc } from '../services/svc.ts';\nexport const store = svc;\n",
  'src/services/svc.ts': "import * as tf from '@tensorflow/tfjs';\nimport type { Redis } from 'ioredis';\nimport { readFile } from 'node:fs/promises';\nexport const svc: [unknown, Redis | null, unknown] = [tf, null, readFile];\n",
  'src/domain/a.ts': "import { b } from './b.ts';\nexport const a = () => b;\n",
  'src/domain/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
  'workers/main.ts': "import { route } from '../src/http/route.ts';\nexport const w = route;\n",
  'src/onnx/writer.ts': "import * as tf from '@tensorflow/tfjs';\nimport { m } from '../ml/model.ts';\nimport type { G } from '../ml/network-graph.ts';\nexport const w: [unknown, unknown, G | null] = [tf, m, null];\n",
  'src/ml/network-graph.ts': 'export type G = { ops: number[] };\n',
  'src/http/onnx-route.ts': "import { w } from '../onnx/writer.ts';\nexport const r = w;\n",
  'src/services/ort.ts': "import * as ort from 'onnxruntime-node';\nexport const o = ort;\n",
};

let dir = '';
const violations = new Map<string, string[]>();

async function cruiseTree(base: string, entries: string[]): Promise<ICruiseResult> {
  const out = await cruise(
    entries,
    {
      baseDir: base,
      validate: true,
      ruleSet: { forbidden: config.forbidden } as never,
      doNotFollow: { path: 'node_modules' },
      tsPreCompilationDeps: true,
    },
    { extensions: ['.ts', '.js', '.json'] },
  );
  return out.output as ICruiseResult;
}

beforeAll(async () => {
  await mkdir(path.join(root, 'tmp'), { recursive: true });
  dir = await mkdtemp(path.join(root, 'tmp', 'arch-'));
  for (const [file, text] of Object.entries(FIXTURE)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
  const result = await cruiseTree(dir, ['src', 'workers']);
  for (const v of result.summary.violations) {
    const list = violations.get(v.rule.name) ?? [];
    list.push(`${v.from} -> ${v.to}`);
    violations.set(v.rule.name, list);
  }
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('layer rules', () => {
  it.each([
    ['ml-imports-only-tensorflow', 'src/ml/model.ts -> src/http/route.ts'],
    ['ml-node-builtins-only-in-engine', 'src/ml/model.ts -> fs'],
    ['http-goes-through-services', 'src/http/route.ts -> src/storage/store.ts'],
    ['lower-layers-never-import-upwards', 'src/storage/store.ts -> src/services/svc.ts'],
    ['services-stay-technology-free', 'src/services/svc.ts -> fs/promises'],
    ['workers-never-import-http', 'workers/main.ts -> src/http/route.ts'],
    ['no-circular', 'src/domain/a.ts -> src/domain/b.ts'],
    ['onnx-imports-only-onnx-libraries', 'src/onnx/writer.ts -> src/ml/model.ts'],
    ['http-goes-through-services', 'src/http/onnx-route.ts -> src/onnx/writer.ts'],
  ])('%s fires on %s', (rule, edge) => {
    expect(violations.get(rule) ?? []).toContain(edge);
  });

  it('services may not import TensorFlow.js or ioredis', () => {
    const edges = violations.get('services-stay-technology-free') ?? [];
    expect(edges.some((e) => e.includes('node_modules/@tensorflow/'))).toBe(true);
    expect(edges.some((e) => e.includes('node_modules/ioredis/'))).toBe(true);
  });

  it('onnx may not import TensorFlow.js, but may import the graph types; services may not import onnxruntime', () => {
    const onnx = violations.get('onnx-imports-only-onnx-libraries') ?? [];
    expect(onnx.some((e) => e.includes('node_modules/@tensorflow/'))).toBe(true);
    expect(onnx.some((e) => e.includes('network-graph'))).toBe(false);
    const services = violations.get('services-stay-technology-free') ?? [];
    expect(services.some((e) => e.startsWith('src/services/ort.ts -> ') && e.includes('node_modules/onnxruntime-node/'))).toBe(true);
  });

  it('the real tree keeps every rule', async () => {
    const result = await cruiseTree(root, ['src', 'workers', 'scripts']);
    expect(result.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)).toEqual([]);
  }, 60_000);
});
