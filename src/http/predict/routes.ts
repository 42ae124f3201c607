import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../config.ts';
import type { PredictionService, PredictionTarget } from '../../services/predictions.ts';
import { hideBinaryBody, imageBodySchema, readImages, registerImageInput } from '../image-input.ts';
import { errorResponses } from '../schemas/error.ts';
import { ModelParams, PredictResponse, TargetQuery } from './schemas.ts';

/** What these routes use of the app's dependencies (AppDeps satisfies it). */
export interface PredictRouteDeps {
  readonly config: Config;
  readonly predictions: PredictionService;
}

const tags = ['predict'];
const ERRORS = errorResponses(400, 404, 413, 415, 422, 503);
const DESCRIPTION =
  'Pneumonia probability for each image. Send images as multipart/form-data `image` parts (one or more), ' +
  'as one raw image/png or image/jpeg body, or as JSON {"images": [base64, ...]}. Choose the version with ' +
  '`version` or `alias`; otherwise the `production` alias serves, else the latest version. ' +
  'Bad images are answered 415 (not PNG/JPEG), 422 (empty, truncated, corrupt, zero-size) or 413 (too many ' +
  'pixels) with the index of the failing image in error.details.index; 503 with Retry-After while no version exists.';

/**
 * POST /v1/predict (the default model), POST /v1/models/:name/predict, and POST /predict (the same
 * as /v1/predict: the name users look for first).
 */
export default async function predictRoutes(app: FastifyInstance, opts: { deps: PredictRouteDeps }): Promise<void> {
  const { config, predictions } = opts.deps;
  const bodyLimit = config.limits.requestBytes;
  await registerImageInput(app, { bodyLimit });
  const limits = { maxImages: config.limits.imagesPerRequest, maxBytes: bodyLimit };
  const body = imageBodySchema(config.limits.imagesPerRequest);

  const handle = async (request: FastifyRequest, name: string) => {
    const images = await readImages(request, limits);
    const { version, alias } = request.query as TargetQuery;
    const target: PredictionTarget = {
      name,
      ...(version !== undefined ? { version } : {}),
      ...(alias !== undefined ? { alias } : {}),
    };
    return predictions.predict(images, target);
  };

  const defaultModelRoute = (url: string, operationId: string, summary: string) =>
    app.post<{ Querystring: TargetQuery }>(url, {
      bodyLimit,
      config: { auth: 'predict' },
      preValidation: hideBinaryBody,
      schema: {
        tags,
        summary,
        description: DESCRIPTION,
        operationId,
        querystring: TargetQuery,
        body,
        response: { 200: PredictResponse, ...ERRORS },
      },
      handler: (request) => handle(request, config.defaultModelName),
    });

  defaultModelRoute('/v1/predict', 'predict', 'Classify chest X-rays with the default model');
  defaultModelRoute('/predict', 'predictUnversioned', 'Classify chest X-rays (same as POST /v1/predict)');

  app.post<{ Params: ModelParams; Querystring: TargetQuery }>('/v1/models/:name/predict', {
    bodyLimit,
    config: { auth: 'predict' },
    preValidation: hideBinaryBody,
    schema: {
      tags,
      summary: 'Classify chest X-rays with a named model',
      description: DESCRIPTION,
      operationId: 'predictWithModel',
      params: ModelParams,
      querystring: TargetQuery,
      body,
      response: { 200: PredictResponse, ...ERRORS },
    },
    handler: (request) => handle(request, request.params.name),
  });
}
