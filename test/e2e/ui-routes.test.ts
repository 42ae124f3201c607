import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { authPlugin } from '../../src/http/plugins/auth.ts';
import { errorHandlerPlugin } from '../../src/http/plugins/error-handler.ts';
import uiRoutes from '../../src/http/ui/routes.ts';

// How the API serves the dashboard bundle: open even with API keys, cache headers, CSP, and a
// clear 503 when the bundle was never built.
const KEY = 'ui-routes-admin-key-0123';

async function app(root: string): Promise<FastifyInstance> {
  const a = Fastify({ logger: false });
  await a.register(authPlugin, { config: loadConfig({ API_KEYS: `${KEY}:admin` }) });
  await a.register(errorHandlerPlugin);
  await a.register(uiRoutes, { root });
  a.get('/v1/secret', async () => ({ ok: true }));
  await a.ready();
  return a;
}

describe('the dashboard routes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cxr-ui-'));
    await mkdir(path.join(dir, 'built', 'assets'), { recursive: true });
    await writeFile(path.join(dir, 'built', 'index.html'), '<!doctype html><title>t</title>');
    await writeFile(path.join(dir, 'built', 'assets', 'index-abc123.js'), 'console.log(1)');
    await mkdir(path.join(dir, 'empty'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('serves the bundle without a key (the API behind it still wants one), with cache and security headers', async () => {
    const a = await app(path.join(dir, 'built'));
    const root = await a.inject('/');
    expect(root.statusCode).toBe(302);
    expect(root.headers.location).toBe('/ui/');
    const bare = await a.inject('/ui');
    expect(bare.statusCode).toBe(301);
    expect(bare.headers.location).toBe('/ui/');
    const page = await a.inject('/ui/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    const asset = await a.inject('/ui/assets/index-abc123.js');
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await a.inject('/ui/assets/missing.js')).statusCode).toBe(404);
    expect((await a.inject('/ui/../package.json')).statusCode).toBe(404);
    expect((await a.inject('/v1/secret')).statusCode).toBe(401);
    await a.close();
  });

  it('answers 503 with how to build it when ui/dist has no bundle', async () => {
    const a = await app(path.join(dir, 'empty'));
    const res = await a.inject('/ui/');
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('UI_NOT_BUILT');
    expect(res.json().error.message).toContain('npm run build:ui');
    expect((await a.inject('/ui/assets/x.js')).statusCode).toBe(503);
    expect((await a.inject('/')).headers.location).toBe('/ui/');
    await a.close();
  });
});
