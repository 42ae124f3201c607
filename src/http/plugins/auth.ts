import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config, Role } from '../../config.ts';
import { AppError } from '../../errors.ts';
import { sharedPlugin } from './shared.ts';

/**
 * What a route needs, declared as `config: { auth: ... }` on the route:
 * - 'admin': an admin key (every mutating route: uploads, deletes, jobs, aliases).
 * - 'predict': a predict or an admin key (predict, explain, and reading the model registry).
 * - 'operational': open when OPEN_OPERATIONAL_ROUTES is true (the default), else any key
 *   (health, metrics, API docs).
 * - 'open': never checked.
 * A route that declares nothing needs an admin key (the safe default).
 * When API_KEYS is empty, auth is off and every route is open.
 */
export type AuthLevel = 'admin' | 'predict' | 'operational' | 'open';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthLevel;
  }
  interface FastifyRequest {
    /** Role of the API key that authenticated the request; null when auth is off or not needed. */
    apiRole: Role | null;
    /** Which key that was, as 'key#N' (its position in API_KEYS; never the key itself); null when auth is off or not needed. */
    apiKeyName: string | null;
  }
}

const digest = (key: string): string => createHash('sha256').update(key).digest('hex');

/** The API key of a request: `x-api-key: <key>` or `Authorization: Bearer <key>`. */
export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  const direct = Array.isArray(header) ? header[0] : header;
  if (direct) return direct.trim();
  const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  return m?.[1];
}

export const authPlugin = sharedPlugin('auth', async (app: FastifyInstance, opts: { config: Config }) => {
  const { apiKeys, openOperationalRoutes } = opts.config;
  // Looked up by digest, so a lookup's timing says nothing about how much of a key matched.
  const roles = new Map<string, Role>([...apiKeys].map(([key, role]) => [digest(key), role]));
  const names = new Map<string, string>([...apiKeys.keys()].map((key, i) => [digest(key), `key#${i + 1}`]));
  app.decorateRequest('apiRole', null);
  app.decorateRequest('apiKeyName', null);
  if (roles.size === 0) return;

  app.addHook('onRequest', async (request, reply) => {
    if (request.is404) return;
    const level: AuthLevel = request.routeOptions.config.auth ?? 'admin';
    if (level === 'open' || (level === 'operational' && openOperationalRoutes)) return;
    const key = presentedKey(request);
    const keyDigest = key ? digest(key) : undefined;
    const role = keyDigest ? roles.get(keyDigest) : undefined;
    if (role === undefined) {
      reply.header('www-authenticate', 'Bearer');
      throw new AppError(
        'UNAUTHENTICATED',
        key ? 'Unknown API key' : 'An API key is required: send it as x-api-key or Authorization: Bearer <key>',
      );
    }
    if (level === 'admin' && role !== 'admin') {
      throw new AppError('FORBIDDEN', `This route needs an admin key; the key presented has the ${role} role`);
    }
    request.apiRole = role;
    request.apiKeyName = names.get(keyDigest!) ?? null;
  });
});
