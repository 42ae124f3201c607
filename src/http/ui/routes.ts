import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.ts';

/** Where `npm run build:ui` (run by `npm ci`) writes the dashboard bundle. */
export const UI_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'ui', 'dist');

/**
 * Same-origin only: the bundle's own scripts and styles, pictures from blob:/data: URLs (the
 * X-rays a user drops and the heat maps the API returns), requests to this API. 'unsafe-eval'
 * is for TypeBox's compiled validator, the one the API checks training parameters with.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The web dashboard (ui/, built to ui/dist) under /ui/, and `GET /` redirecting there. The
 * pages are open whatever API_KEYS says: they hold no data, and every call they make to the API
 * carries the key the user enters. Without a built bundle, /ui/ answers 503 saying how to build it.
 */
export default async function uiRoutes(app: FastifyInstance, opts: { root?: string }): Promise<void> {
  const root = opts.root ?? UI_DIST;
  app.addHook('onRoute', (route) => {
    route.config = { ...(route.config ?? {}), auth: 'open' };
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('content-security-policy', CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    return payload;
  });

  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/ui/', 302));
  app.get('/ui', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/ui/', 301));

  if (!existsSync(path.join(root, 'index.html'))) {
    const notBuilt = async () => {
      throw new AppError('UI_NOT_BUILT', `The dashboard is not built (no ${path.join(root, 'index.html')}): run \`npm run build:ui\` (npm ci runs it), then restart the API`);
    };
    app.get('/ui/*', { schema: { hide: true } }, notBuilt);
    return;
  }

  await app.register(fastifyStatic, {
    root,
    prefix: '/ui/',
    index: 'index.html',
    decorateReply: false,
    cacheControl: false,
    // Vite names assets by content hash: they never change. The page itself is always revalidated.
    setHeaders(res, file) {
      res.setHeader('cache-control', file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
}
