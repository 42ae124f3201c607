import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import Fastify, { type RouteOptions } from 'fastify';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { serverOptions, serviceApp } from '../../src/app.ts';
import { composeApi, type ComposedApi } from '../../src/compose.ts';
import { loadConfig } from '../../src/config.ts';
import { ERROR_CATALOGUE } from '../../src/errors.ts';
import { generateOpenApiYaml } from '../../scripts/openapi/generate.ts';
import { OPENAPI_PATH, toOpenApiPath } from '../helpers/contract.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';

const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

interface Example {
  value?: unknown;
  summary?: string;
  description?: string;
}
interface Media {
  schema?: object;
  example?: unknown;
  examples?: Record<string, Example>;
}
interface Response {
  description?: string;
  content?: Record<string, Media>;
}
interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, Response>;
}
interface Doc {
  openapi: string;
  info: unknown;
  paths: Record<string, Record<string, Operation>>;
}

/** Every operation of the document, as ["GET /path", operation]. */
function operations(doc: Doc): [string, Operation][] {
  return Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.entries(ops)
      .filter(([m]) => METHODS.includes(m))
      .map(([m, op]): [string, Operation] => [`${m.toUpperCase()} ${p}`, op]),
  );
}

const isJson = (media: string) => media === 'application/json';

/** The literal examples of a media type: `example`, or the values of `examples`. */
function literalExamples(media: Media): unknown[] {
  if (media.example !== undefined) return [media.example];
  return Object.values(media.examples ?? {}).flatMap((e) => (e.value === undefined ? [] : [e.value]));
}

/** Whether a media type has an example: a literal one, or (binary forms) a named one that says how to send it. */
function hasExample(media: Media): boolean {
  if (media.example !== undefined) return true;
  const named = Object.values(media.examples ?? {});
  return named.length > 0 && named.every((e) => e.value !== undefined || Boolean(e.summary && e.description));
}

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });

/** Ajv's complaints about `value` against `schema`; empty when it validates. */
function problems(schema: object | undefined, value: unknown): string[] {
  if (!schema) return ['no schema'];
  const check = ajv.compile(schema);
  return check(value) ? [] : [ajv.errorsText(check.errors)];
}

/** The frames of a text/event-stream body: [event, parsed data] (comments and retry lines skipped). */
function sseEvents(text: string): [string, unknown][] {
  return text
    .split('\n\n')
    .filter((frame) => frame.includes('data: '))
    .map((frame) => {
      const lines = frame.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
      const data = lines.find((l) => l.startsWith('data: '))!.slice(6);
      return [event, JSON.parse(data) as unknown];
    });
}

describe('openapi.yaml is the contract of the running app', () => {
  let dataDir: string;
  let committed: string;
  let api: ComposedApi;
  const routes: RouteOptions[] = [];
  let served: string;
  let metricsText: string;

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
    const scrape = await app.inject({ method: 'GET', url: '/metrics' });
    expect(scrape.statusCode).toBe(200);
    metricsText = scrape.body;
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
      if (r.url === '/' || r.url === '/ui' || r.url.startsWith('/ui/')) continue; // the dashboard's pages and assets (src/http/ui)
      for (const m of [r.method].flat()) {
        if (m === 'HEAD' || m === 'OPTIONS') continue;
        registered.add(`${m} ${toOpenApiPath(r.url)}`);
      }
    }
    expect([...registered].filter((r) => !inSpec.has(r))).toEqual([]);
    expect([...inSpec].filter((r) => !registered.has(r))).toEqual([]);
    expect(registered.size).toBeGreaterThan(15);
  });

  it('documents every operation with an id, a summary, tags, and error responses', () => {
    const doc = parse(committed) as Doc;
    const ids = new Set<string>();
    for (const [where, op] of operations(doc)) {
      expect(op.operationId, where).toBeTruthy();
      expect(ids.has(op.operationId!), `${where} duplicate operationId`).toBe(false);
      ids.add(op.operationId!);
      expect(op.summary, where).toBeTruthy();
      expect(op.tags?.length, where).toBeGreaterThan(0);
      expect(Object.keys(op.responses).filter((s) => Number(s) >= 400).length, where).toBeGreaterThan(0);
    }
  });

  it('gives every response of every operation a description and an example; JSON examples validate against their schema', () => {
    const doc = parse(committed) as Doc;
    const missing: string[] = [];
    const invalid: string[] = [];
    let checked = 0;
    for (const [where, op] of operations(doc)) {
      for (const [status, response] of Object.entries(op.responses)) {
        const at = `${where} ${status}`;
        if (!response.description || response.description === 'Default Response') missing.push(`${at}: description`);
        if (status === '204') {
          if (response.content !== undefined) invalid.push(`${at}: a 204 has no body`);
          continue;
        }
        const content = Object.entries(response.content ?? {});
        if (content.length === 0) missing.push(`${at}: content`);
        // Errors are JSON on every route, whatever the success answer is; STOW-RS's 409 (none stored) is its
        // PS3.18 store response in DICOM JSON, as the standard says.
        const types = content.map(([media]) => media).join(', ');
        const stowConflict = at === 'POST /dicomweb/studies 409' && types === 'application/dicom+json';
        if (Number(status) >= 400 && types !== 'application/json' && !stowConflict) invalid.push(`${at}: errors are application/json, not ${types}`);
        for (const [media, m] of content) {
          if (!hasExample(m)) missing.push(`${at} ${media}: example`);
          if (!isJson(media)) continue;
          const values = literalExamples(m);
          if (values.length === 0) missing.push(`${at} ${media}: literal example`);
          for (const value of values) {
            checked++;
            for (const p of problems(m.schema, value)) invalid.push(`${at}: ${p}`);
            if (Number(status) >= 400) {
              const code = (value as { error?: { code?: string } }).error?.code ?? '';
              const catalogued = (ERROR_CATALOGUE as Record<string, number>)[code];
              if (catalogued !== Number(status)) invalid.push(`${at}: example code ${code} answers ${catalogued ?? 'nothing'}, not ${status}`);
            }
          }
        }
      }
    }
    expect({ missing, invalid }).toEqual({ missing: [], invalid: [] });
    expect(checked).toBeGreaterThan(150);
  });

  it('gives every request body an example; JSON examples validate against their schema', () => {
    const doc = parse(committed) as Doc;
    const missing: string[] = [];
    const invalid: string[] = [];
    const withBody: string[] = [];
    for (const [where, op] of operations(doc)) {
      if (!op.requestBody) continue;
      withBody.push(where);
      for (const [media, m] of Object.entries(op.requestBody.content)) {
        if (!hasExample(m)) missing.push(`${where} ${media}`);
        if (!isJson(media)) continue;
        const values = literalExamples(m);
        if (values.length === 0) missing.push(`${where} ${media}: literal example`);
        for (const value of values) for (const p of problems(m.schema, value)) invalid.push(`${where}: ${p}`);
      }
    }
    expect({ missing, invalid }).toEqual({ missing: [], invalid: [] });
    expect(withBody.sort()).toEqual(
      [
        'POST /v1/datasets',
        'POST /v1/training-jobs',
        'PUT /v1/models/{name}/aliases/{alias}',
        'POST /v1/predict',
        'POST /predict',
        'POST /v1/models/{name}/predict',
        'POST /v1/explain',
        'POST /v1/models/{name}/versions/{version}/evaluations',
        'POST /dicomweb/studies',
      ].sort(),
    );
  });

  it('describes the multipart and raw-image request bodies and the non-JSON responses', () => {
    const doc = parse(committed) as Doc;
    const op = (method: string, p: string) => doc.paths[p]![method]!;
    type Form = {
      type?: string;
      format?: string;
      required?: string[];
      properties?: Record<string, { type?: string; format?: string; items?: { format?: string } }>;
    };

    const upload = op('post', '/v1/datasets').requestBody!.content;
    expect(Object.keys(upload)).toEqual(['multipart/form-data']);
    const uploadForm = upload['multipart/form-data']!.schema as Form;
    expect(uploadForm.required).toEqual(['file']);
    expect(uploadForm.properties?.file?.format).toBe('binary');
    expect(Object.keys(uploadForm.properties ?? {}).sort()).toEqual(['file', 'name', 'positiveClass']);

    for (const [method, p, many] of [
      ['post', '/v1/predict', true],
      ['post', '/predict', true],
      ['post', '/v1/models/{name}/predict', true],
      ['post', '/v1/explain', false],
    ] as const) {
      const content = op(method, p).requestBody!.content;
      expect(Object.keys(content).sort(), p).toEqual(['application/dicom', 'application/json', 'image/jpeg', 'image/png', 'multipart/form-data']);
      const form = content['multipart/form-data']!.schema as Form;
      expect(form.required, p).toEqual(['image']);
      const image = form.properties!.image!;
      expect(many ? image.items?.format : image.format, p).toBe('binary');
      for (const raw of ['image/png', 'image/jpeg', 'application/dicom']) expect((content[raw]!.schema as Form).format, `${p} ${raw}`).toBe('binary');
    }

    const success = (method: string, p: string, status = '200') => Object.keys(op(method, p).responses[status]!.content ?? {});
    expect(success('post', '/v1/explain')).toEqual(['application/json', 'image/png']);
    expect(success('get', '/v1/training-jobs/{id}/events')).toEqual(['text/event-stream']);
    expect(success('get', '/metrics')).toEqual(['text/plain']);
    expect(success('get', '/openapi.yaml')).toEqual(['application/yaml']);
  });

  it('shows non-JSON examples in the form the service sends them', async () => {
    const doc = parse(committed) as Doc;
    const op = (method: string, p: string) => doc.paths[p]![method]!;
    const example = (method: string, p: string, media: string) => op(method, p).responses['200']!.content![media]!.example;

    // Server-Sent Events: every frame's data is what GET /v1/training-jobs/{id} and its progress object describe.
    const jobSchema = op('get', '/v1/training-jobs/{id}').responses['200']!.content!['application/json']!.schema as {
      properties: { progress: { anyOf: { type?: string }[] } };
    };
    const progressSchema = jobSchema.properties.progress.anyOf.find((s) => s.type === 'object')!;
    const events = sseEvents(String(example('get', '/v1/training-jobs/{id}/events', 'text/event-stream')));
    expect(events.map(([e]) => e)).toEqual(['status', 'progress', 'progress', 'completed']);
    for (const [event, data] of events) {
      expect(problems(event === 'progress' ? progressSchema : jobSchema, data), event).toEqual([]);
    }

    // Prometheus text: every metric the example names is one this service exports.
    const scraped = new Set([...metricsText.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const named = [...String(example('get', '/metrics', 'text/plain')).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(3);
    expect(named.filter((n) => !scraped.has(n))).toEqual([]);

    // The document's example is its own beginning.
    const head = parse(String(example('get', '/openapi.yaml', 'application/yaml'))) as Doc;
    expect(head.openapi).toBe(doc.openapi);
    expect(head.info).toEqual(doc.info);

    // Base64 images in the examples are real PNGs, so "try it out" works against a trained model.
    const pngs: string[] = [
      ...(op('post', '/v1/predict').requestBody!.content['application/json']!.example as { images: string[] }).images,
      ...(op('post', '/v1/explain').requestBody!.content['application/json']!.example as { images: string[] }).images,
      (example('post', '/v1/explain', 'application/json') as { heatmap: string }).heatmap,
    ];
    for (const png of pngs) expect((await sharp(Buffer.from(png, 'base64')).metadata()).format).toBe('png');
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
