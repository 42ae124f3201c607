import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { EvaluationService } from '../../services/evaluations.ts';
import { BODY_TOO_LARGE, errorResponses, JSON_TOO_DEEP, type ErrorExample } from '../schemas/error.ts';
import { EXAMPLE_MODEL } from '../schemas/examples.ts';
import {
  EvaluationFound,
  EvaluationListQuery,
  EvaluationParams,
  EvaluationQueued,
  EvaluationRequest,
  EvaluationsListed,
  EvaluationsParams,
  EXAMPLE_EVALUATION_ID,
} from './schemas.ts';

const tags = ['evaluations'];

/** What these routes use of the evaluation service. */
export interface EvaluationRouteDeps {
  readonly evaluations: Pick<EvaluationService, 'submit' | 'get' | 'list'>;
}

const MODEL_NOT_FOUND: ErrorExample = { code: 'MODEL_NOT_FOUND', message: 'No model named "chestxraynet-v2"', details: { name: 'chestxraynet-v2' } };
const VERSION_NOT_FOUND: ErrorExample = { code: 'VERSION_NOT_FOUND', message: `Model '${EXAMPLE_MODEL}' has no version 7`, details: { name: EXAMPLE_MODEL, version: 7 } };
const BAD_VERSION: ErrorExample = {
  code: 'VALIDATION_FAILED',
  message: 'params/version: must be an integer >= 1 and <= 9007199254740991 (got "0x10")',
  details: { errors: ['params/version: must be an integer >= 1 and <= 9007199254740991 (got "0x10")'] },
};
const QUEUE_DOWN: ErrorExample = { code: 'QUEUE_UNAVAILABLE', message: 'The job queue (Redis) is unavailable; try again shortly' };

const DEFAULT_LIST_LIMIT = 20;

/**
 * External evaluations of a model version: score every image of an uploaded, labelled dataset
 * with the version, queued to the worker like training; the records live beside the version.
 * Submitting needs an admin key; reading needs a predict or admin key (as reading versions does).
 */
export default async function evaluationsRoutes(fastify: FastifyInstance, opts: { deps: EvaluationRouteDeps }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { evaluations } = opts.deps;

  app.post('/v1/models/:name/versions/:version/evaluations', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'Evaluate a model version on a labelled dataset',
      description:
        'Queues an evaluation (to the training worker, one job at a time): the version scores every image of the dataset ' +
        'with the same preprocessing as training and serving, calibrated as serving answers, at its stored decision ' +
        'threshold. Answers 202 with the record and its Location; poll it for progress (images done / total) and the ' +
        'metrics with 95% intervals. The dataset classes must be the version classes (negative, positive).',
      operationId: 'createEvaluation',
      params: EvaluationsParams,
      body: EvaluationRequest,
      response: {
        202: {
          ...EvaluationQueued,
          headers: { location: Type.String({ examples: [`/v1/models/${EXAMPLE_MODEL}/versions/3/evaluations/${EXAMPLE_EVALUATION_ID}`] }) },
        },
        ...errorResponses({
          400: [
            {
              code: 'VALIDATION_FAILED',
              message: 'body/datasetId: must match ^ds_[a-z2-7]{16}$ (got "hospital-b")',
              details: { errors: ['body/datasetId: must match ^ds_[a-z2-7]{16}$ (got "hospital-b")'] },
            },
            {
              code: 'INVALID_GROUP_PATTERN',
              message: 'groupPattern must have exactly one capture group, e.g. "(person\\d+)_" (it has 0)',
              details: { field: 'groupPattern', reason: 'capture-groups' },
            },
            JSON_TOO_DEEP,
          ],
          404: [VERSION_NOT_FOUND, MODEL_NOT_FOUND, { code: 'DATASET_NOT_FOUND', message: 'dataset "ds_h2mcw6q4zt7xkr3e" not found' }],
          413: BODY_TOO_LARGE,
          415: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Unsupported Media Type' },
          422: {
            code: 'DATASET_CLASSES_MISMATCH',
            message: 'Dataset ds_h2mcw6q4zt7xkr3e has classes ["NORMAL", "COVID"] (negative, positive) but the model version predicts ["NORMAL", "PNEUMONIA"]',
            details: { datasetClasses: ['NORMAL', 'COVID'], versionClasses: ['NORMAL', 'PNEUMONIA'] },
          },
          503: QUEUE_DOWN,
        }),
      },
    },
    handler: async (request, reply) => {
      const { name, version } = request.params;
      const rec = await evaluations.submit(name, version, request.body);
      request.log.info({ evaluationId: rec.id, model: name, version, datasetId: rec.dataset.id }, 'evaluation queued');
      return reply.code(202).header('location', `/v1/models/${name}/versions/${version}/evaluations/${rec.id}`).send(rec);
    },
  });

  app.get('/v1/models/:name/versions/:version/evaluations', {
    config: { auth: 'predict' },
    schema: {
      tags,
      summary: 'List the evaluations of a model version',
      description: 'Newest first (default 20, at most 100). Works while Redis is down (records live beside the version).',
      operationId: 'listEvaluations',
      params: EvaluationsParams,
      querystring: EvaluationListQuery,
      response: { 200: EvaluationsListed, ...errorResponses({ 400: BAD_VERSION, 404: [VERSION_NOT_FOUND, MODEL_NOT_FOUND] }) },
    },
    handler: async (request) => ({
      evaluations: await evaluations.list(request.params.name, request.params.version, request.query.limit ?? DEFAULT_LIST_LIMIT),
    }),
  });

  app.get('/v1/models/:name/versions/:version/evaluations/:id', {
    config: { auth: 'predict' },
    schema: {
      tags,
      summary: 'Get an evaluation',
      description: 'Status, progress (images done / total), and once completed the metrics with their intervals; or the error.',
      operationId: 'getEvaluation',
      params: EvaluationParams,
      response: {
        200: EvaluationFound,
        ...errorResponses({
          400: {
            code: 'VALIDATION_FAILED',
            message: 'params/id: must match ^ev_[a-z2-7]{16}$ (got "ev_1")',
            details: { errors: ['params/id: must match ^ev_[a-z2-7]{16}$ (got "ev_1")'] },
          },
          404: [
            { code: 'EVALUATION_NOT_FOUND', message: `Model '${EXAMPLE_MODEL}' version 3 has no evaluation "${EXAMPLE_EVALUATION_ID}"` },
            VERSION_NOT_FOUND,
            MODEL_NOT_FOUND,
          ],
        }),
      },
    },
    handler: async (request) => evaluations.get(request.params.name, request.params.version, request.params.id),
  });
}
