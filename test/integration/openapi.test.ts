import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { validate } from '@readme/openapi-parser';
import Fastify, { type RouteOptions } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { serverOptions, serviceApp } from '../../src/app.ts';
import { composeApi, type ComposedApi } from '../../src/compose.ts';
import { loadConfig } from '../../src/config.ts';
import { generateOpenApiYaml } from '../../scripts/openapi/generate.ts';
import { OPENAPI_PATH, toOpenApiPath } from '../helpers/contract.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';

const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

describe('openapi.yaml is the contract of the running app', () => {
  let dataDir: string;
  let committed: string;
  let api: ComposedApi;
  const routes: RouteOptions[] = [];
  let served: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'cxr-openapi-test-'));
    committed = await readFile(OPENAPI_PATH, 'utf8');
    const config = loadConfig({ DATA_DIR: dataDir, REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: uniquePrefix(import.meta.url), LOG_LEVEL: 'silent' });
    api = composeApi(config, { name: 'tensorflow', tfjsVersion: 'n/a', description: 'test' }, pino({ level: 'silent' }));
    const deps = { ...api.deps, logger: false as const };
    const app = Fastify(serverOptions(deps));
    app.addHook('onRoute', (r) => void routes.push(r));
    await app.register(serviceApp, { deps });
    await app.ready();
    const res = await app.inject({ method: 'GET', url: '/openapi.yaml' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('yaml');
    served = res.body;
    await app.close();
  });

  afterAll(async () => {
    await api?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('validates as OpenAPI 3.1', async () => {
    const doc = parse(committed) as { openapi: string };
    expect(doc.openapi).toMatch(/^3\.1\./);
    const result = await validate(parse(committed));
    expect(result.valid ? [] : result.errors).toEqual([]);
  });

  it('is exactly what the app serves at /openapi.yaml and what npm run openapi writes', async () => {
    expect(served).toBe(committed);
    const generatedDir = await mkdtemp(path.join(tmpdir(), 'cxr-openapi-gen-'));
    try {
      expect(await generateOpenApiYaml(generatedDir, pino({ level: 'silent' }))).toBe(committed);
    } finally {
      await rm(generatedDir, { recursive: true, force: true });
    }
  });

  it('lists every registered route, and registers every path it lists', () => {
    const doc = parse(committed) as { paths: Record<string, Record<string, unknown>> };
    const inSpec = new Set<string>();
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const m of Object.keys(ops)) if (METHODS.includes(m)) inSpec.add(`${m.toUpperCase()} ${p}`);
    }
    const registered = new Set<string>();
    for (const r of routes) {
      if (r.url.startsWith('/docs')) continue; // Swagger UI's page and assets
      for (const m of [r.method].flat()) {
        if (m === 'HEAD' || m === 'OPTIONS') continue;
        registered.add(`${m} ${toOpenApiPath(r.url)}`);
      }
    }
    expect([...registered].filter((r) => !inSpec.has(r))).toEqual([]);
    expect([...inSpec].filter((r) => !registered.has(r))).toEqual([]);
    expect(registered.size).toBeGreaterThan(15);
  });

  it('documents every operation with an id, a summary, tags, and an error response with an example', () => {
    const doc = parse(committed) as {
      paths: Record<string, Record<string, { operationId?: string; summary?: string; tags?: string[]; responses: Record<string, { content?: Record<string, { example?: unknown }> }> }>>;
    };
    const ids = new Set<string>();
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        if (!METHODS.includes(m)) continue;
        const where = `${m.toUpperCase()} ${p}`;
        expect(op.operationId, where).toBeTruthy();
        expect(ids.has(op.operationId!), `${where} duplicate operationId`).toBe(false);
        ids.add(op.operationId!);
        expect(op.summary, where).toBeTruthy();
        expect(op.tags?.length, where).toBeGreaterThan(0);
        const errors = Object.entries(op.responses).filter(([s]) => Number(s) >= 400);
        expect(errors.length, where).toBeGreaterThan(0);
        for (const [status, r] of errors) {
          expect(r.content?.['application/json']?.example, `${where} ${status} example`).toBeTruthy();
        }
      }
    }
  });

  it('serves Swagger UI at /docs from local assets', async () => {
    const app = Fastify(serverOptions({ ...api.deps, logger: false }));
    await app.register(serviceApp, { deps: { ...api.deps, logger: false } });
    await app.ready();
    try {
      const page = await app.inject({ method: 'GET', url: '/docs/' });
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain('swagger');
      const assets = [...page.body.matchAll(/(?:src|href)="\.?\/?([^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
      expect(assets.length).toBeGreaterThan(0);
      for (const a of assets) {
        expect(a.startsWith('http'), `${a} must be served locally`).toBe(false);
        const res = await app.inject({ method: 'GET', url: `/docs/${a.replace(/^docs\//, '')}` });
        expect(res.statusCode, a).toBe(200);
      }
    } finally {
      await app.close();
    }
  });
});
