import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app.ts';
import { errorResponses } from '../schemas/error.ts';

const SCRAPE_REFRESH_MS = 1000;

/** GET /metrics: Prometheus text exposition of this process's registry. */
export default async function metricsRoutes(app: FastifyInstance, opts: { deps: AppDeps }): Promise<void> {
  const { metrics, jobs, predictions } = opts.deps;

  /** Gauges read from their sources at scrape time; a slow or absent Redis only leaves the job gauge stale. */
  async function refresh(): Promise<void> {
    metrics.loadedModels.reset();
    for (const m of predictions.loaded()) metrics.loadedModels.set({ model: m.name, version: String(m.version) }, 1);
    let timer: NodeJS.Timeout | undefined;
    try {
      const counts = await Promise.race([
        jobs.counts(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), SCRAPE_REFRESH_MS);
        }),
      ]);
      for (const [state, n] of Object.entries(counts)) metrics.queueJobs.set({ state }, n);
    } catch (err) {
      app.log.debug({ err }, 'job counts unavailable for this scrape');
    } finally {
      clearTimeout(timer);
    }
  }

  app.get('/metrics', {
    config: { auth: 'operational' },
    schema: {
      tags: ['operations'],
      summary: 'Prometheus metrics',
      description:
        'Request latency per route, predictions by label, batch sizes, training jobs by state, loaded model versions, process metrics.',
      operationId: 'getMetrics',
      produces: ['text/plain'],
      response: {
        200: {
          description: 'Prometheus text format 0.0.4',
          content: { 'text/plain': { schema: { type: 'string' } } },
        },
        ...errorResponses(),
      },
    },
    handler: async (_request, reply) => {
      await refresh();
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  });
}
