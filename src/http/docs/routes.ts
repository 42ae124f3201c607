import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { errorResponses } from '../schemas/error.ts';
import { openApiYaml } from './openapi-yaml.ts';

/** The first lines of the document, as the example of GET /openapi.yaml. */
const OPENAPI_EXAMPLE = [
  'openapi: 3.1.0',
  'info:',
  '  title: Chest X-ray classifier service',
  '  version: "1"',
  '  description: Upload datasets, train ChestXRayNet, keep model versions, serve pneumonia probabilities.',
  'components:',
  '  securitySchemes:',
  '    apiKey:',
  '      type: apiKey',
  '      in: header',
  '      name: x-api-key',
  'paths:',
  '  /health/live:',
  '    get:',
  '      operationId: healthLive',
  '',
].join('\n');

/**
 * The contract as served: GET /openapi.yaml (generated from the route schemas; the committed
 * openapi.yaml is the same document, checked by a test) and Swagger UI at /docs, whose assets
 * come from the npm package (nothing is fetched at run time).
 */
export default async function docsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/openapi.yaml', {
    config: { auth: 'operational' },
    schema: {
      tags: ['operations'],
      summary: 'The OpenAPI 3.1 document of this API',
      operationId: 'getOpenApi',
      // Only the 200 is YAML (its content below); errors are JSON like everywhere else.
      response: {
        200: {
          description: 'OpenAPI 3.1 document (YAML), the same as openapi.yaml in the repository',
          content: { 'application/yaml': { schema: { type: 'string' }, example: OPENAPI_EXAMPLE } },
        },
        ...errorResponses(),
      },
    },
    handler: async (_req, reply) => reply.type('application/yaml; charset=utf-8').send(openApiYaml(app)),
  });

  // The UI's own routes (page, assets, its copy of the spec) are as open as the document.
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) route.config = { ...(route.config ?? {}), auth: 'operational' };
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: true },
    staticCSP: true,
    transformSpecificationClone: true,
  });
}
