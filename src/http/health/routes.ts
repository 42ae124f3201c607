import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config.ts';
import { isAppError } from '../../errors.ts';
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
  runtime: Type.Union([Type.Literal('onnxruntime'), Type.Literal('tfjs')], {
    description: 'What runs predictions in this process (Grad-CAM always runs on TensorFlow.js)',
  }),
  predictRuntime: Type.Object(
    {
      requested: Type.Union([Type.Literal('auto'), Type.Literal('onnxruntime'), Type.Literal('tfjs')], { description: 'PREDICT_RUNTIME' }),
      description: Type.String(),
      fallbackReason: Type.Optional(Type.String({ description: 'Why onnxruntime is not in use although PREDICT_RUNTIME=auto asked for it' })),
    },
    { description: 'The runtime in detail' },
  ),
  models: Type.Object({
    loaded: Type.Array(
      Type.Object({
        name: Type.String(),
        version: Type.Integer(),
        runtime: Type.Optional(Type.Union([Type.Literal('onnxruntime'), Type.Literal('tfjs')], { description: 'What runs this version (tfjs for a version without model.onnx)' })),
      }),
      { description: 'Model versions loaded and warm in this process' },
    ),
    default: Type.Object(
      {
        name: Type.String(),
        status: Type.Union([Type.Literal('ready'), Type.Literal('loading'), Type.Literal('failed'), Type.Literal('absent')], {
          description: 'ready: loaded and warm; loading: being loaded; failed: the last load failed (retried); absent: the model has no version yet',
        }),
        version: Type.Union([Type.Integer(), Type.Null()], { description: 'The version that serves it (production, else the latest)' }),
        reason: Type.Optional(Type.String()),
      },
      { description: 'The default model (DEFAULT_MODEL_NAME): readiness waits for it when it exists' },
    ),
  }),
  workers: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
    description: 'Training workers connected to the queue; null when unknown',
  }),
  uptimeSeconds: Type.Number(),
});

const NotReady = Type.Object(
  { ...Readiness.properties, error: errorResponse.properties.error },
  {
    description:
      'Not ready: Redis does not answer (QUEUE_UNAVAILABLE), or the default model has a version that is not loaded and warm yet (MODEL_NOT_READY). The same report, plus the usual error object',
  },
);

const RETRY_AFTER_SECONDS = 2;

const ENGINE_EXAMPLE = { name: 'tensorflow', description: 'tfjs-node 4.22.0 on libtensorflow (native)', tfjsVersion: '4.22.0' };
const RUNTIME_EXAMPLE = { requested: 'auto' as const, description: 'onnxruntime-node 1.30.0 (CPU, 2 intra-op threads; batches under 4 on 1)' };
const LiveResponse = withExample(Live, { status: 'ok' }, 'The process is up');
const ReadyResponse = withExample(
  Readiness,
  {
    status: 'ready',
    redis: true,
    engine: ENGINE_EXAMPLE,
    runtime: 'onnxruntime',
    predictRuntime: RUNTIME_EXAMPLE,
    models: {
      loaded: [{ name: EXAMPLE_MODEL, version: EXAMPLE_VERSION, runtime: 'onnxruntime' }],
      default: { name: EXAMPLE_MODEL, status: 'ready', version: EXAMPLE_VERSION },
    },
    workers: 2,
    uptimeSeconds: 5231.47,
  },
  'Ready: Redis answers and the default model (when it has a version) is loaded and warm; the engine, the runtime, the versions loaded here and the workers connected',
);
const NotReadyResponse = {
  ...withExample(NotReady, {
    status: 'not-ready',
    redis: false,
    engine: ENGINE_EXAMPLE,
    runtime: 'onnxruntime',
    predictRuntime: RUNTIME_EXAMPLE,
    models: {
      loaded: [{ name: EXAMPLE_MODEL, version: EXAMPLE_VERSION, runtime: 'onnxruntime' }],
      default: { name: EXAMPLE_MODEL, status: 'ready', version: EXAMPLE_VERSION },
    },
    workers: null,
    uptimeSeconds: 5236.02,
    error: { code: 'QUEUE_UNAVAILABLE', message: 'Redis does not answer: jobs cannot be submitted or followed' },
  }),
  headers: { 'retry-after': Type.Integer({ description: 'Seconds to wait before asking again', examples: [RETRY_AFTER_SECONDS] }) },
};

/** What these routes use: the Redis and worker probes, the engine, the runtime, the versions loaded here. */
export interface HealthRouteDeps {
  readonly config: Pick<Config, 'defaultModelName'>;
  readonly health: HealthService;
  readonly engine: EngineInfo;
  readonly predictions: Pick<PredictionService, 'loaded' | 'readiness' | 'runtime'>;
}

type DefaultModel = Static<typeof Readiness>['models']['default'];

/** The default model's readiness; a model without versions is 'absent' (nothing to wait for). */
async function defaultModel(predictions: HealthRouteDeps['predictions'], name: string): Promise<DefaultModel> {
  try {
    const r = await predictions.readiness(name);
    return { name, status: r.status, version: r.version, ...(r.reason !== undefined ? { reason: r.reason } : {}) };
  } catch (err) {
    if (isAppError(err) && (err.code === 'NO_MODEL' || err.code === 'MODEL_NOT_FOUND')) return { name, status: 'absent', version: null };
    return { name, status: 'failed', version: null, reason: err instanceof Error ? err.message.split('\n')[0]! : String(err) };
  }
}

/** Liveness (the process answers) and readiness (Redis answers; what is loaded). */
export default async function healthRoutes(app: FastifyInstance, opts: { deps: HealthRouteDeps }): Promise<void> {
  const { health, engine, predictions, config } = opts.deps;
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
      summary: 'Readiness: 200 once Redis answers and the default model is loaded and warm, else 503',
      description:
        'While the default model has a version that is not loaded and warm yet, 503 MODEL_NOT_READY (asking starts the load; ' +
        'the api also starts it at start-up). A default model without versions does not hold readiness back. Also reports the ' +
        'TensorFlow.js engine, which runtime serves predictions (onnxruntime or tfjs, and why not onnxruntime when it fell back), ' +
        'the model versions loaded here and the worker count.',
      operationId: 'healthReady',
      response: { 200: ReadyResponse, 503: NotReadyResponse, ...errorResponses() },
    },
    handler: async (_request, reply) => {
      const [redis, workers, model] = await Promise.all([health.redisReady(), health.workers(), defaultModel(predictions, config.defaultModelName)]);
      const modelReady = model.status === 'ready' || model.status === 'absent';
      const runtime = predictions.runtime();
      const report = {
        status: redis && modelReady ? ('ready' as const) : ('not-ready' as const),
        redis,
        engine: {
          name: engine.name,
          description: engine.description,
          tfjsVersion: engine.tfjsVersion,
          ...(engine.fallbackReason ? { fallbackReason: engine.fallbackReason } : {}),
        },
        runtime: runtime.name,
        predictRuntime: {
          requested: runtime.requested,
          description: runtime.description,
          ...(runtime.fallbackReason !== undefined ? { fallbackReason: runtime.fallbackReason } : {}),
        },
        models: { loaded: predictions.loaded(), default: model },
        workers,
        uptimeSeconds: Math.round(Number(process.hrtime.bigint() - started) / 1e7) / 100,
      };
      if (report.status === 'ready') return report;
      reply.header('retry-after', String(RETRY_AFTER_SECONDS));
      const error = !redis
        ? { code: 'QUEUE_UNAVAILABLE', message: 'Redis does not answer: jobs cannot be submitted or followed' }
        : {
            code: 'MODEL_NOT_READY',
            message:
              model.status === 'failed'
                ? `the default model '${model.name}' v${model.version ?? '?'} failed to load: ${model.reason ?? 'unknown'} (retried)`
                : `the default model '${model.name}' v${model.version ?? '?'} is still loading`,
          };
      return reply.code(503).send({ ...report, error });
    },
  });
}
