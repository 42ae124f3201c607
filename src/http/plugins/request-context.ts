import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { sharedPlugin } from './shared.ts';

export const REQUEST_ID_HEADER = 'x-request-id';
/** What a client-supplied request id may look like (anything else is replaced, never logged). */
const SANE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * Fastify's `genReqId`: the client's `x-request-id` when it is sane (1-128 of letters, digits and
 * `._:-`), else a fresh UUID.
 */
export function requestId(req: IncomingMessage): string {
  const header = req.headers[REQUEST_ID_HEADER];
  const candidate = Array.isArray(header) ? header[0] : header;
  return candidate !== undefined && SANE_REQUEST_ID.test(candidate) ? candidate : randomUUID();
}

/** Routes whose successful requests are logged at debug level (probes and scrapes are noise). */
const QUIET_ROUTES = new Set(['/health/live', '/health/ready', '/metrics']);

/**
 * Echoes the request id on every response and writes one log line per finished request
 * (method, route template, status, duration; never bodies, headers or image bytes). Fastify's
 * own per-request logging is disabled in the server options so there is exactly one line.
 */
export const requestContextPlugin = sharedPlugin('request-context', async (app: FastifyInstance) => {
  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    const line = {
      method: request.method,
      route: route ?? null,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (reply.statusCode < 400 && route !== undefined && QUIET_ROUTES.has(route)) request.log.debug(line, 'request done');
    else request.log.info(line, 'request done');
  });
});
