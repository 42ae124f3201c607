import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { EngineInfo } from '../../services/health.ts';
import type { HealthService } from '../../services/health.ts';
import type { PredictionService } from '../../services/predictions.ts';
import { errorResponse, errorResponses } from '../schemas/error.ts';
import { EXAMPLE_MODEL, EXAMPLE_VERSION } from '../schemas/examples.ts';
import { withExample } from '../schemas/openapi.ts';

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

const ENGINE_EXAMPLE = { name: 'tensorflow', description: 'tfjs-node 4.22.0 on libtensorflow (native)', tfjsVersion: '4.22.0' };
const LiveResponse = withExample(Live, { status: 'ok' }, 'The process is up');
const ReadyResponse = withExample(
  Readiness,
  {
    status: 'ready',
    redis: true,
    engine: ENGINE_EXAMPLE,
    models: { loaded: [{ name: EXAMPLE_MODEL, version: EXAMPLE_VERSION }] },
    workers: 2,
    uptimeSeconds: 5231.47,
  },
  'Ready: Redis answers; the engine, the versions loaded here and the workers connected',
);
const NotReadyResponse = {
  ...withExample(NotReady, {
    status: 'not-ready',
    redis: false,
    engine: ENGINE_EXAMPLE,
    models: { loaded: [{ name: EXAMPLE_MODEL, version: EXAMPLE_VERSION }] },
    workers: null,
    uptimeSeconds: 5236.02,
    error: { code: 'QUEUE_UNAVAILABLE', message: 'Redis does not answer: jobs cannot be submitted or followed' },
  }),
  headers: { 'retry-after': Type.Integer({ description: 'Seconds to wait before asking again', examples: [RETRY_AFTER_SECONDS] }) },
};

/** What these routes use: the Redis and worker probes, the engine, the versions loaded here. */
export interface HealthRouteDeps {
  readonly health: HealthService;
  readonly engine: EngineInfo;
  readonly predictions: Pick<PredictionService, 'loaded'>;
}

/** Liveness (the process answers) and readiness (Redis answers; what is loaded). */
export default async function healthRoutes(app: FastifyInstance, opts: { deps: HealthRouteDeps }): Promise<void> {
  const { health, engine, predictions } = opts.deps;
  const started = process.hrtime.bigint();

  app.get('/health/live', {
    config: { auth: 'operational' },
    schema: {
      tags,
      summary: 'Liveness: the process is up and serving HTTP',
      operationId: 'healthLive',
      response: { 200: LiveResponse, ...errorResponses() },
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
      response: { 200: ReadyResponse, 503: NotReadyResponse, ...errorResponses() },
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
