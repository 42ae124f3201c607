import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config.ts';
import type { ModelService } from '../../services/models.ts';
import { BODY_TOO_LARGE, errorResponses, JSON_TOO_DEEP, type ErrorExample } from '../schemas/error.ts';
import { EXAMPLE_MODEL, EXAMPLE_VERSION } from '../schemas/examples.ts';
import {
  AliasMovedResponse,
  AliasParams,
  ModelFound,
  ModelParams,
  ModelsListed,
  NoContent,
  SetAliasRequest,
  VersionFound,
  VersionParams,
} from './schemas.ts';

const tags = ['models'];

/** What these routes use: the default model name and the model service. */
export interface ModelRouteDeps {
  readonly config: Pick<Config, 'defaultModelName'>;
  readonly models: Pick<ModelService, 'list' | 'get' | 'getVersion' | 'deleteVersion' | 'setAlias' | 'deleteAlias'>;
}

const BAD_NAME: ErrorExample = { code: 'VALIDATION_FAILED', message: 'params/name: must match ^[a-z0-9][a-z0-9-]{0,62}$ (got "Chest_XRay")', details: { errors: ['params/name: must match ^[a-z0-9][a-z0-9-]{0,62}$ (got "Chest_XRay")'] } };
const BAD_VERSION: ErrorExample = { code: 'VALIDATION_FAILED', message: 'params/version: must be an integer >= 1 and <= 9007199254740991 (got "0x10")', details: { errors: ['params/version: must be an integer >= 1 and <= 9007199254740991 (got "0x10")'] } };
const MODEL_NOT_FOUND: ErrorExample = { code: 'MODEL_NOT_FOUND', message: 'No model named "chestxraynet-v2"', details: { name: 'chestxraynet-v2' } };
const VERSION_NOT_FOUND: ErrorExample = {
  code: 'VERSION_NOT_FOUND',
  message: `Model '${EXAMPLE_MODEL}' has no version 7`,
  details: { name: EXAMPLE_MODEL, version: 7 },
};

/**
 * The model registry: list models and versions, delete versions, and move aliases (promote or
 * roll back). Reading needs a predict or admin key (clients choose versions); changing needs admin.
 */
export default async function modelsRoutes(fastify: FastifyInstance, opts: { deps: ModelRouteDeps }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { models, config } = opts.deps;

  app.get('/v1/models', {
    config: { auth: 'predict' },
    schema: {
      tags,
      summary: 'List models',
      description: 'Every model with its latest version, version count and aliases.',
      operationId: 'listModels',
      response: { 200: ModelsListed, ...errorResponses() },
    },
    handler: async () => ({ defaultModel: config.defaultModelName, models: await models.list() }),
  });

  app.get('/v1/models/:name', {
    config: { auth: 'predict' },
    schema: {
      tags,
      summary: 'Get a model with all its versions and aliases',
      operationId: 'getModel',
      params: ModelParams,
      response: { 200: ModelFound, ...errorResponses({ 400: BAD_NAME, 404: MODEL_NOT_FOUND }) },
    },
    handler: async (request) => models.get(request.params.name),
  });

  app.get('/v1/models/:name/versions/:version', {
    config: { auth: 'predict' },
    schema: {
      tags,
      summary: 'Get one model version',
      description: 'Its metadata (dataset, training parameters, test metrics, threshold) and the aliases pointing at it.',
      operationId: 'getModelVersion',
      params: VersionParams,
      response: { 200: VersionFound, ...errorResponses({ 400: BAD_VERSION, 404: [VERSION_NOT_FOUND, MODEL_NOT_FOUND] }) },
    },
    handler: async (request) => models.getVersion(request.params.name, request.params.version),
  });

  app.delete('/v1/models/:name/versions/:version', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'Delete a model version',
      description: 'Refused with 409 VERSION_IN_USE while an alias points at it: move the alias first.',
      operationId: 'deleteModelVersion',
      params: VersionParams,
      response: {
        204: NoContent,
        ...errorResponses({
          400: BAD_VERSION,
          404: [VERSION_NOT_FOUND, MODEL_NOT_FOUND],
          409: {
            code: 'VERSION_IN_USE',
            message: `Version ${EXAMPLE_VERSION} of '${EXAMPLE_MODEL}' is in use by alias production; move the alias first`,
            details: { name: EXAMPLE_MODEL, version: EXAMPLE_VERSION, aliases: ['production'] },
          },
        }),
      },
    },
    handler: async (request, reply) => {
      await models.deleteVersion(request.params.name, request.params.version);
      return reply.code(204).send(null);
    },
  });

  app.put('/v1/models/:name/aliases/:alias', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'Point an alias at a version (promote or roll back)',
      description:
        'Creates or moves the alias. `production` is what POST /v1/predict serves by default. Every API ' +
        'replica is told (Redis pub/sub), loads and warms the version, then switches; requests in flight finish on the old one.',
      operationId: 'setModelAlias',
      params: AliasParams,
      body: SetAliasRequest,
      response: {
        200: AliasMovedResponse,
        ...errorResponses({
          400: [{ code: 'VALIDATION_FAILED', message: 'body/version: must be an integer >= 1 and <= 9007199254740991 (got "3")', details: { errors: ['body/version: must be an integer >= 1 and <= 9007199254740991 (got "3")'] } }, JSON_TOO_DEEP],
          413: BODY_TOO_LARGE,
          404: [VERSION_NOT_FOUND, MODEL_NOT_FOUND],
          415: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Unsupported Media Type' },
        }),
      },
    },
    handler: async (request) => models.setAlias(request.params.name, request.params.alias, request.body.version),
  });

  app.delete('/v1/models/:name/aliases/:alias', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'Remove an alias',
      description: 'Without `production`, POST /v1/predict serves the latest version.',
      operationId: 'deleteModelAlias',
      params: AliasParams,
      response: {
        204: NoContent,
        ...errorResponses({
          400: { code: 'VALIDATION_FAILED', message: 'params/alias: must match ^[a-z][a-z0-9-]{0,31}$ (got "Production")', details: { errors: ['params/alias: must match ^[a-z][a-z0-9-]{0,31}$ (got "Production")'] } },
          404: {
            code: 'ALIAS_NOT_FOUND',
            message: `Model '${EXAMPLE_MODEL}' has no alias "staging"`,
            details: { name: EXAMPLE_MODEL, alias: 'staging' },
          },
        }),
      },
    },
    handler: async (request, reply) => {
      await models.deleteAlias(request.params.name, request.params.alias);
      return reply.code(204).send(null);
    },
  });
}
