import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app.ts';
import { errorResponse, errorResponses } from '../schemas/error.ts';

const tags = ['operations'];

const Live = Type.Object({ status: Type.Literal('ok') });

const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not-ready')]),
  redis: Type.Boolean({ description: 'Redis answered a PING' }),
  engine: Type.Object({
    name: Type.String(),
    description: Type.String(),
    tfjsVersion: Type.String(),
    fallbackReason: Type.Optional(Type.String()),
  }),
  models: Type.Object({
    loaded: Type.Array(Type.Object({ name: Type.String(), version: Type.Integer() }), {
      description: 'Model versions loaded and warm in this process',
    }),
  }),
  workers: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
    description: 'Training workers connected to the queue; null when unknown',
  }),
  uptimeSeconds: Type.Number(),
});

const NotReady = Type.Object(
  { ...Readiness.properties, error: errorResponse.properties.error },
  { description: 'Not ready (Redis does not answer): the same report, plus the usual error object' },
);

const RETRY_AFTER_SECONDS = 2;

/** Liveness (the process answers) and readiness (Redis answers; what is loaded). */
export default async function healthRoutes(app: FastifyInstance, opts: { deps: AppDeps }): Promise<void> {
  const { health, engine, predictions } = opts.deps;
  const started = process.hrtime.bigint();

  app.get('/health/live', {
    config: { auth: 'operational' },
    schema: {
      tags,
      summary: 'Liveness: the process is up and serving HTTP',
      operationId: 'healthLive',
      response: { 200: Live, ...errorResponses() },
    },
    handler: async () => ({ status: 'ok' as const }),
  });

  app.get('/health/ready', {
    config: { auth: 'operational' },
    schema: {
      tags,
      summary: 'Readiness: 200 once Redis answers, else 503',
      description: 'Also reports the TensorFlow.js engine, the model versions loaded here and the worker count.',
      operationId: 'healthReady',
      response: { 200: Readiness, 503: NotReady, ...errorResponses() },
    },
    handler: async (_request, reply) => {
      const [redis, workers] = await Promise.all([health.redisReady(), health.workers()]);
      const report = {
        status: redis ? ('ready' as const) : ('not-ready' as const),
        redis,
        engine: {
          name: engine.name,
          description: engine.description,
          tfjsVersion: engine.tfjsVersion,
          ...(engine.fallbackReason ? { fallbackReason: engine.fallbackReason } : {}),
        },
        models: { loaded: predictions.loaded() },
        workers,
        uptimeSeconds: Math.round(Number(process.hrtime.bigint() - started) / 1e7) / 100,
      };
      if (redis) return report;
      reply.header('retry-after', String(RETRY_AFTER_SECONDS));
      return reply.code(503).send({
        ...report,
        error: { code: 'QUEUE_UNAVAILABLE', message: 'Redis does not answer: jobs cannot be submitted or followed' },
      });
    },
  });
}
