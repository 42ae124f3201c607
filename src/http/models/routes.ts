import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app.ts';
import { errorResponses } from '../schemas/error.ts';
import { typeboxValidator } from '../schemas/validator.ts';
import {
  AliasMoved,
  AliasParams,
  ModelDetail,
  ModelList,
  ModelParams,
  ModelVersion,
  NoContent,
  SetAliasBody,
  VersionParams,
} from './schemas.ts';

const tags = ['models'];

/**
 * The model registry: list models and versions, delete versions, and move aliases (promote or
 * roll back). Reading needs a predict or admin key (clients choose versions); changing needs admin.
 */
export default async function modelsRoutes(app: FastifyInstance, opts: { deps: AppDeps }): Promise<void> {
  const { models, config } = opts.deps;
  app.setValidatorCompiler(typeboxValidator);

  app.get('/v1/models', {
    config: { auth: 'predict' },
    schema: {
      tags,
      summary: 'List models',
      description: 'Every model with its latest version, version count and aliases.',
      operationId: 'listModels',
      response: { 200: ModelList, ...errorResponses() },
    },
    handler: async () => ({ defaultModel: config.defaultModelName, models: await models.list() }),
  });

  app.get<{ Params: ModelParams }>('/v1/models/:name', {
    config: { auth: 'predict' },
    schema: {
      tags,
      summary: 'Get a model with all its versions and aliases',
      operationId: 'getModel',
      params: ModelParams,
      response: { 200: ModelDetail, ...errorResponses(400, 404) },
    },
    handler: async (request) => models.get(request.params.name),
  });

  app.get<{ Params: VersionParams }>('/v1/models/:name/versions/:version', {
    config: { auth: 'predict' },
    schema: {
      tags,
      summary: 'Get one model version',
      description: 'Its metadata (dataset, training parameters, test metrics, threshold) and the aliases pointing at it.',
      operationId: 'getModelVersion',
      params: VersionParams,
      response: { 200: ModelVersion, ...errorResponses(400, 404) },
    },
    handler: async (request) => models.getVersion(request.params.name, request.params.version),
  });

  app.delete<{ Params: VersionParams }>('/v1/models/:name/versions/:version', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'Delete a model version',
      description: 'Refused with 409 VERSION_IN_USE while an alias points at it: move the alias first.',
      operationId: 'deleteModelVersion',
      params: VersionParams,
      response: { 204: NoContent, ...errorResponses(400, 404, 409) },
    },
    handler: async (request, reply) => {
      await models.deleteVersion(request.params.name, request.params.version);
      return reply.code(204).send();
    },
  });

  app.put<{ Params: AliasParams; Body: SetAliasBody }>('/v1/models/:name/aliases/:alias', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'Point an alias at a version (promote or roll back)',
      description:
        'Creates or moves the alias. `production` is what POST /v1/predict serves by default. Every API ' +
        'replica is told (Redis pub/sub), loads and warms the version, then switches; requests in flight finish on the old one.',
      operationId: 'setModelAlias',
      params: AliasParams,
      body: SetAliasBody,
      response: { 200: AliasMoved, ...errorResponses(400, 404, 415) },
    },
    handler: async (request) => models.setAlias(request.params.name, request.params.alias, request.body.version),
  });

  app.delete<{ Params: AliasParams }>('/v1/models/:name/aliases/:alias', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'Remove an alias',
      description: 'Without `production`, POST /v1/predict serves the latest version.',
      operationId: 'deleteModelAlias',
      params: AliasParams,
      response: { 204: NoContent, ...errorResponses(400, 404) },
    },
    handler: async (request, reply) => {
      await models.deleteAlias(request.params.name, request.params.alias);
      return reply.code(204).send();
    },
  });
}
