import type { FastifyInstance } from 'fastify';
import type { AppMetrics } from '../../metrics.ts';
import { sharedPlugin } from './shared.ts';

/**
 * Observes every response in the request-latency histogram, labelled with the route template
 * (`/v1/datasets/:id`, never the raw URL) or `unmatched` for 404s, so label cardinality stays fixed.
 */
export const metricsHookPlugin = sharedPlugin('metrics-hook', async (app: FastifyInstance, opts: { metrics: AppMetrics }) => {
  const { httpDuration } = opts.metrics;
  app.addHook('onResponse', async (request, reply) => {
    httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
});
