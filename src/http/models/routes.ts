import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../config.ts';
import { renderModelCardMarkdown } from '../../services/model-card-markdown.ts';
import type { AliasActor, ModelService } from '../../services/models.ts';
import { PROMOTION_RULE } from '../../services/promotion-guard.ts';
import { prefersOver } from '../accept.ts';
import { AppError } from '../../errors.ts';
import type { PredictionService } from '../../services/predictions.ts';
import { BODY_TOO_LARGE, errorResponses, JSON_TOO_DEEP, type ErrorExample } from '../schemas/error.ts';
import { EXAMPLE_MODEL, EXAMPLE_VERSION } from '../schemas/examples.ts';
import { EXAMPLE_CARD_JSON, EXAMPLE_CARD_MARKDOWN, EXAMPLE_EXTERNAL_EVALUATION, ModelCardSchema } from './card-schemas.ts';
import {
  AliasHistoryFound,
  AliasHistoryQuery,
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

/** What these routes use: the default model name, the model service, and readiness from the prediction service. */
export interface ModelRouteDeps {
  readonly config: Pick<Config, 'defaultModelName'>;
  readonly models: Pick<ModelService, 'list' | 'get' | 'getVersion' | 'deleteVersion' | 'setAlias' | 'deleteAlias' | 'aliasHistory' | 'card' | 'onnx'>;
  readonly predictions: Pick<PredictionService, 'readiness'>;
}

/** Who is asking, for the alias history: the key's position and role when auth is on (never the key), else anonymous. */
function actorOf(request: FastifyRequest): AliasActor {
  return request.apiRole ? { name: request.apiKeyName ?? 'key', role: request.apiRole } : { name: 'anonymous', role: null };
}

const PROMOTION_WORSE: ErrorExample = {
  code: 'PROMOTION_WORSE',
  message:
    `Promoting version 4 of '${EXAMPLE_MODEL}' to production would be a step back: on dataset ds_m5xw2ct7ja4kq6ne ("rsna-subset") version 4 ` +
    `has AUC 0.7702 (95% CI 0.7431-0.7952, evaluation ev_h3n6q2wzk5tb7yra) against production version ${EXAMPLE_VERSION}'s 0.8236 ` +
    `(95% CI 0.7991-0.8457, evaluation ${EXAMPLE_EXTERNAL_EVALUATION.id}). The upper end of its 95% interval is below production's AUC ` +
    `(${PROMOTION_RULE}); send "force": true to promote anyway`,
  details: {
    name: EXAMPLE_MODEL,
    alias: 'production',
    candidate: 4,
    production: EXAMPLE_VERSION,
    rule: PROMOTION_RULE,
    comparisons: [
      {
        dataset: EXAMPLE_EXTERNAL_EVALUATION.dataset,
        candidate: { version: 4, evaluationId: 'ev_h3n6q2wzk5tb7yra', auc: { value: 0.7702, low: 0.7431, high: 0.7952 } },
        production: { version: EXAMPLE_VERSION, evaluationId: EXAMPLE_EXTERNAL_EVALUATION.id, auc: { value: 0.8236, low: 0.7991, high: 0.8457 } },
        worse: true,
      },
    ],
  },
};


const Runtime = Type.Union([Type.Literal('onnxruntime'), Type.Literal('tfjs')]);
const ModelReady = Type.Object(
  {
    name: Type.String(),
    status: Type.Literal('ready'),
    version: Type.Integer({ description: 'The version that serves the model (production, else the latest)' }),
    runtime: Runtime,
  },
  { description: 'Loaded and warm in this replica', examples: [{ name: EXAMPLE_MODEL, status: 'ready', version: EXAMPLE_VERSION, runtime: 'onnxruntime' }] },
);

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
  const { models, config, predictions } = opts.deps;

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

  app.get('/v1/models/:name/versions/:version/card', {
    config: { auth: 'predict' },
    schema: {
      tags,
      summary: "Get a version's model card",
      description:
        'What the version is for and not for, its training data (dataset, content hash, class balance, split level and ' +
        'patients per split), parameters, internal evaluation (validation and test, with 95% DeLong and Wilson intervals), ' +
        'every external evaluation, operating point, calibration, limitations, engine and library versions. Markdown when ' +
        'Accept prefers text/markdown, otherwise JSON with the same content. Versions trained before a field existed say ' +
        '"not recorded" (JSON: null, and the field is listed in notRecorded).',
      operationId: 'getModelCard',
      params: VersionParams,
      response: {
        200: {
          description: 'The model card: JSON (the default), or Markdown when Accept prefers text/markdown',
          headers: { vary: Type.String({ description: 'Which form you get depends on Accept', examples: ['Accept'] }) },
          content: {
            'application/json': { schema: ModelCardSchema, example: EXAMPLE_CARD_JSON },
            'text/markdown': {
              schema: Type.String({ contentMediaType: 'text/markdown' }),
              examples: {
                card: {
                  summary: 'The same card as Markdown',
                  description: "Ask for it with `curl -H 'accept: text/markdown' $API/v1/models/chestxraynet/versions/3/card`.",
                  value: EXAMPLE_CARD_MARKDOWN,
                },
              },
            },
          },
        },
        ...errorResponses({ 400: BAD_VERSION, 404: [VERSION_NOT_FOUND, MODEL_NOT_FOUND] }),
      },
    },
    handler: async (request, reply) => {
      const card = await models.card(request.params.name, request.params.version);
      reply.header('vary', 'Accept');
      if (prefersOver(request.headers.accept, 'text/markdown')) {
        return reply.type('text/markdown; charset=utf-8').send(renderModelCardMarkdown(card));
      }
      return reply.type('application/json; charset=utf-8').send(card);
    },
  });

  app.get('/v1/models/:name/aliases/history', {
    config: { auth: 'predict' },
    schema: {
      tags,
      summary: 'List alias moves (who, when, from, to, forced)',
      description:
        'Every alias set, move and removal of the model, newest first: when, which alias, from and to which version, who ' +
        '(the position and role of the API key, never the key; anonymous when auth is off), whether the promotion guard was ' +
        'overridden and what it found. Kept beside the model (alias-history.jsonl); the oldest entries are dropped past 1 MiB.',
      operationId: 'listModelAliasHistory',
      params: ModelParams,
      querystring: AliasHistoryQuery,
      response: {
        200: AliasHistoryFound,
        ...errorResponses({
          400: { code: 'VALIDATION_FAILED', message: 'querystring/limit: must be an integer >= 1 and <= 1000 (got "0")', details: { errors: ['querystring/limit: must be an integer >= 1 and <= 1000 (got "0")'] } },
          404: MODEL_NOT_FOUND,
        }),
      },
    },
    handler: async (request) => ({
      name: request.params.name,
      entries: await models.aliasHistory(request.params.name, request.query.limit ?? 50),
    }),
  });

  app.get('/v1/models/:name/versions/:version/model.onnx', {
    config: { auth: 'predict' },
    schema: {
      tags,
      summary: "Download a version's ONNX model",
      description:
        'The version as ONNX (opset 13), written from its trained weights at publish and checked there against TensorFlow.js ' +
        '(max abs difference <= 1e-5). Input `xray`: float32 [batch, 1, size, size], grey 0..255 pixels standardised per image ' +
        '((x - mean) / max(std, 1/size)); output `probability`: float32 [batch, 1]. For Triton, onnxruntime and other ONNX ' +
        'servers. 404 ONNX_NOT_AVAILABLE for versions published before ONNX export (or whose check failed: metadata.onnx.reason).',
      operationId: 'getModelVersionOnnx',
      params: VersionParams,
      response: {
        200: {
          description: 'The ONNX model (protobuf)',
          headers: {
            'content-disposition': Type.String({ description: 'attachment; the file name names model and version', examples: [`attachment; filename="${EXAMPLE_MODEL}-v${EXAMPLE_VERSION}.onnx"`] }),
          },
          content: {
            'application/octet-stream': {
              schema: Type.Unsafe<Buffer>(Type.String({ format: 'binary', contentMediaType: 'application/octet-stream' })),
              examples: { onnx: { summary: 'ONNX protobuf bytes', description: `curl -o model.onnx $API/v1/models/${EXAMPLE_MODEL}/versions/${EXAMPLE_VERSION}/model.onnx` } },
            },
          },
        },
        ...errorResponses({
          400: BAD_VERSION,
          404: [
            {
              code: 'ONNX_NOT_AVAILABLE',
              message: `Version 1 of '${EXAMPLE_MODEL}' has no model.onnx: the version was published before ONNX export`,
              details: { name: EXAMPLE_MODEL, version: 1 },
            },
            VERSION_NOT_FOUND,
            MODEL_NOT_FOUND,
          ],
        }),
      },
    },
    handler: async (request, reply) => {
      const { name, version } = request.params;
      const bytes = await models.onnx(name, version);
      return reply
        .type('application/octet-stream')
        .header('content-disposition', `attachment; filename="${name}-v${version}.onnx"`)
        .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    },
  });

  app.get('/v1/models/:name/ready', {
    config: { auth: 'predict' },
    schema: {
      tags,
      summary: 'Whether this replica serves the model warm',
      description:
        'The version that serves the model by default (production, else the latest): 200 once it is loaded and warm in this ' +
        'replica, with the runtime that runs it; 503 MODEL_NOT_READY (with Retry-After and the version in details) while it ' +
        'loads or after its load failed (retried). Asking starts the load.',
      operationId: 'getModelReady',
      params: ModelParams,
      response: {
        200: ModelReady,
        ...errorResponses({
          400: BAD_NAME,
          404: MODEL_NOT_FOUND,
          503: [
            {
              code: 'MODEL_NOT_READY',
              message: `'${EXAMPLE_MODEL}' v${EXAMPLE_VERSION} is loading`,
              details: { name: EXAMPLE_MODEL, version: EXAMPLE_VERSION, status: 'loading' },
            },
            { code: 'NO_MODEL', message: `Model '${EXAMPLE_MODEL}' has no versions yet`, details: { name: EXAMPLE_MODEL } },
          ],
        }),
      },
    },
    handler: async (request) => {
      const r = await predictions.readiness(request.params.name);
      if (r.status === 'ready') return { name: r.name, status: 'ready' as const, version: r.version, runtime: r.runtime ?? 'tfjs' };
      throw new AppError(
        'MODEL_NOT_READY',
        r.status === 'failed' ? `'${r.name}' v${r.version} failed to load: ${r.reason ?? 'unknown'} (retried)` : `'${r.name}' v${r.version} is loading`,
        { name: r.name, version: r.version, status: r.status, ...(r.reason !== undefined ? { reason: r.reason } : {}) },
      );
    },
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
        'replica is told (Redis pub/sub), loads and warms the version, then switches; requests in flight finish on the old one. ' +
        'Moving `production` is refused with 409 PROMOTION_WORSE when, on a dataset both versions were evaluated on (same id and ' +
        'content hash; the latest completed evaluation of each), the candidate AUC is lower beyond its interval: ' +
        '`candidate.auc.high < production.auc.value`. The message and details give both AUCs, their 95% intervals, the dataset ' +
        'and the evaluation ids; `force: true` moves it anyway. Without a dataset in common there is no check. Every move is ' +
        'recorded (GET /v1/models/{name}/aliases/history).',
      operationId: 'setModelAlias',
      params: AliasParams,
      body: SetAliasRequest,
      response: {
        200: AliasMovedResponse,
        ...errorResponses({
          400: [{ code: 'VALIDATION_FAILED', message: 'body/version: must be an integer >= 1 and <= 9007199254740991 (got "3")', details: { errors: ['body/version: must be an integer >= 1 and <= 9007199254740991 (got "3")'] } }, JSON_TOO_DEEP],
          413: BODY_TOO_LARGE,
          404: [VERSION_NOT_FOUND, MODEL_NOT_FOUND],
          409: PROMOTION_WORSE,
          415: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Unsupported Media Type' },
        }),
      },
    },
    handler: async (request) =>
      models.setAlias(request.params.name, request.params.alias, request.body.version, {
        force: request.body.force === true,
        actor: actorOf(request),
      }),
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
      await models.deleteAlias(request.params.name, request.params.alias, { actor: actorOf(request) });
      return reply.code(204).send(null);
    },
  });
}
