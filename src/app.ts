import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from './config.ts';
import authRoutes from './http/auth/routes.ts';
import datasetsRoutes from './http/datasets/routes.ts';
import dicomwebRoutes, { type DicomwebRouteDeps } from './http/dicomweb/routes.ts';
import docsRoutes from './http/docs/routes.ts';
import evaluationsRoutes, { type EvaluationRouteDeps } from './http/evaluations/routes.ts';
import explainRoutes from './http/explain/routes.ts';
import healthRoutes from './http/health/routes.ts';
import metricsRoutes from './http/metrics/routes.ts';
import modelsRoutes from './http/models/routes.ts';
import { authPlugin } from './http/plugins/auth.ts';
import { clientErrorHandler, errorHandlerPlugin, frameworkErrors } from './http/plugins/error-handler.ts';
import { jsonBodyPlugin } from './http/plugins/json-body.ts';
import { metricsHookPlugin } from './http/plugins/metrics-hook.ts';
import { requestContextPlugin, requestId } from './http/plugins/request-context.ts';
import { sharedPlugin } from './http/plugins/shared.ts';
import predictRoutes, { type PredictRouteDeps } from './http/predict/routes.ts';
import resultRoutes, { type ResultRouteDeps } from './http/results/routes.ts';
import { formatValidationErrors, typeboxValidator } from './http/schemas/validator.ts';
import trainingJobsRoutes, { type TrainingJobRouteDeps } from './http/training-jobs/routes.ts';
import uiRoutes from './http/ui/routes.ts';
import type { DatasetRouteDeps } from './http/datasets/routes.ts';
import type { ExplainRouteDeps } from './http/explain/routes.ts';
import type { HealthRouteDeps } from './http/health/routes.ts';
import type { MetricsRouteDeps } from './http/metrics/routes.ts';
import type { ModelRouteDeps } from './http/models/routes.ts';
import type { AppMetrics } from './metrics.ts';

/**
 * Everything the HTTP layer needs, built by src/compose.ts (or by a test): the union of what each
 * route plugin declares it uses, so a test can hand in a service that has exactly those members.
 */
export interface AppDeps {
  config: Config;
  engine: HealthRouteDeps['engine'];
  /** Omitted: a pino JSON logger at config.logLevel. false: no logging (tests). */
  logger?: FastifyBaseLogger | false;
  datasets: DatasetRouteDeps['datasets'];
  models: ModelRouteDeps['models'];
  predictions: PredictRouteDeps['predictions'] &
    ExplainRouteDeps['predictions'] &
    HealthRouteDeps['predictions'] &
    MetricsRouteDeps['predictions'] &
    ModelRouteDeps['predictions'];
  jobs: TrainingJobRouteDeps['jobs'] & MetricsRouteDeps['jobs'];
  evaluations: EvaluationRouteDeps['evaluations'];
  health: HealthRouteDeps['health'];
  metrics: AppMetrics;
  /** DICOM results: STOW-RS in, GET /v1/results/{id} out (JSON, FHIR, DICOM SR). */
  results: ResultRouteDeps['results'] & DicomwebRouteDeps['results'] & PredictRouteDeps['results'];
}

/** Longest path parameter the router matches. */
const MAX_PARAM_LENGTH = 1000;

/** Default body limit for JSON routes; routes taking images or archives set their own. */
const JSON_BODY_LIMIT = 1024 * 1024;

/** Fastify server options (logging, request ids, parser strictness) for the app. */
export function serverOptions(deps: AppDeps): FastifyServerOptions {
  const logging: Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> =
    deps.logger === false
      ? { logger: false }
      : deps.logger
        ? { loggerInstance: deps.logger }
        : {
            logger: {
              level: deps.config.logLevel,
              // Request lines carry method, url and remote address only; keys never reach a log.
              redact: ['req.headers.authorization', 'req.headers["x-api-key"]'],
            },
          };
  return {
    ...logging,
    genReqId: requestId,
    requestIdHeader: false,
    // One line per request from the request-context plugin instead of Fastify's two.
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
    frameworkErrors,
    clientErrorHandler,
    // Path parameters up to this length reach the validator (ids are at most 64 characters), so an
    // over-long id is refused like any other malformed one; longer ones are refused by the router.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    schemaErrorFormatter: formatValidationErrors,
    bodyLimit: JSON_BODY_LIMIT,
    // Closing: new requests on kept-alive connections get 503 while in-flight ones finish.
    return503OnClosing: true,
  };
}

/**
 * The app as a plugin (the fastify/demo layout): cross-cutting plugins first (request ids and
 * logging, timing, auth, the one error handler, the one JSON parser and the one validator), then
 * one plugin per resource. Not encapsulated, so mounting it anywhere gives the same hooks and
 * handlers.
 */
export const serviceApp = sharedPlugin('service-app', async (app: FastifyInstance, opts: { deps: AppDeps }) => {
  const { deps } = opts;
  await app.register(requestContextPlugin);
  await app.register(metricsHookPlugin, { metrics: deps.metrics });
  await app.register(authPlugin, { config: deps.config });
  await app.register(errorHandlerPlugin);
  await app.register(jsonBodyPlugin);
  // Every route's params, querystring and body go through the one TypeBox validator.
  app.setValidatorCompiler(typeboxValidator);
  // JSON, multipart and the content types routes add themselves; a text/plain body is a 415, not a string.
  app.removeContentTypeParser('text/plain');

  // Collects every route's schema for the OpenAPI document (served by the docs plugin).
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Chest X-ray classifier service',
        version: '1',
        description: 'Upload datasets, train ChestXRayNet, keep model versions, serve pneumonia probabilities.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
      // Keys are needed only when the deployment sets API_KEYS: the empty requirement says so.
      security: [{ apiKey: [] }, { bearer: [] }, {}],
    },
  });

  // Multipart parsing is registered once, here; every route that reads parts passes its own
  // limits to request.parts()/file(). The defaults below are the strict predict-sized ones.
  await app.register(multipart, {
    limits: {
      fileSize: deps.config.limits.requestBytes,
      files: deps.config.limits.imagesPerRequest,
      fields: 20,
      fieldSize: 64 * 1024,
      parts: deps.config.limits.imagesPerRequest + 20,
      headerPairs: 100,
    },
    throwFileSizeLimit: true,
  });

  await app.register(healthRoutes, { deps });
  await app.register(metricsRoutes, { deps });
  await app.register(docsRoutes);
  await app.register(authRoutes, { deps });
  await app.register(datasetsRoutes, { deps });
  await app.register(trainingJobsRoutes, { deps });
  await app.register(modelsRoutes, { deps });
  await app.register(evaluationsRoutes, { deps });
  await app.register(predictRoutes, { deps });
  await app.register(explainRoutes, { deps });
  await app.register(resultRoutes, { deps });
  await app.register(dicomwebRoutes, { deps });
  await app.register(uiRoutes);
});

/** A ready-to-listen Fastify instance with every route of the API. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify(serverOptions(deps));
  await app.register(serviceApp, { deps });
  await app.ready();
  return app;
}
