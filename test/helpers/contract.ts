/**
 * Checks real responses against openapi.yaml: every response a test receives from a route must
 * have a status and a media type the contract documents for that route, and every JSON body must
 * validate against that route's response schema in the committed contract. Harnesses call
 * buildCheckedApp(deps) (or installContractCheck(app)) and assertContractHeld() at close.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import Fastify, { type FastifyInstance } from 'fastify';
import { parse } from 'yaml';
import { serverOptions, serviceApp, type AppDeps } from '../../src/app.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const OPENAPI_PATH = path.join(root, 'openapi.yaml');

type Spec = { paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>> };

let spec: Spec | undefined;
const validators = new Map<string, ValidateFunction | null>();
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });

export function loadSpec(): Spec {
  spec ??= parse(readFileSync(OPENAPI_PATH, 'utf8')) as Spec;
  return spec;
}

/** Fastify's `/v1/models/:name` is OpenAPI's `/v1/models/{name}`. */
export function toOpenApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function documentedResponse(method: string, route: string, status: number) {
  const op = loadSpec().paths[toOpenApiPath(route)]?.[method.toLowerCase()];
  return op?.responses?.[String(status)] ?? op?.responses?.default;
}

function validatorFor(method: string, route: string, status: number): ValidateFunction | null | undefined {
  const key = `${method} ${route} ${status}`;
  if (validators.has(key)) return validators.get(key);
  const response = documentedResponse(method, route, status);
  if (!response) return undefined;
  const schema = response.content?.['application/json']?.schema;
  const fn = schema ? ajv.compile(schema as object) : null;
  validators.set(key, fn);
  return fn;
}

export interface ContractViolation {
  method: string;
  route: string;
  status: number;
  problem: string;
}

const violations: ContractViolation[] = [];
export const checkedResponses = { count: 0 };

/** Adds an onSend hook that validates each JSON response against the contract. */
export function installContractCheck(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const route = request.routeOptions.url;
    if (!route || route.startsWith('/docs')) return payload;
    const method = request.method;
    const status = reply.statusCode;
    const validate = validatorFor(method, route, status);
    if (validate === undefined) {
      if (route !== '*' && status !== 404) {
        violations.push({ method, route, status, problem: 'status not documented in openapi.yaml' });
      }
      return payload;
    }
    const type = String(reply.getHeader('content-type') ?? '');
    const media = type.split(';')[0]!.trim().toLowerCase();
    const documented = Object.keys(documentedResponse(method, route, status)?.content ?? {});
    if (media && status !== 204 && !documented.includes(media)) {
      violations.push({ method, route, status, problem: `${media} is not documented (documented: ${documented.join(', ') || 'no body'})` });
    }
    if (!validate || !type.includes('application/json') || typeof payload !== 'string') return payload;
    checkedResponses.count++;
    if (!validate(JSON.parse(payload))) {
      violations.push({ method, route, status, problem: ajv.errorsText(validate.errors) });
    }
    return payload;
  });
}

/** Throws when any response seen so far broke the contract. */
export function assertContractHeld(): void {
  if (violations.length > 0) {
    const lines = violations.map((v) => `${v.method} ${v.route} -> ${v.status}: ${v.problem}`);
    violations.length = 0;
    throw new Error(`responses that break openapi.yaml:\n${[...new Set(lines)].join('\n')}`);
  }
}

/**
 * The service app exactly as buildApp makes it, with the contract check on every response.
 * `instrument` adds a test's own root hooks (e.g. timings) before the routes are registered.
 */
export async function buildCheckedApp(deps: AppDeps, instrument?: (app: FastifyInstance) => void): Promise<FastifyInstance> {
  const app = Fastify(serverOptions(deps));
  installContractCheck(app);
  instrument?.(app);
  await app.register(serviceApp, { deps });
  return app;
}
