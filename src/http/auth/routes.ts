import { createHash } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config.ts';
import { presentedKey } from '../plugins/auth.ts';
import { errorResponses } from '../schemas/error.ts';

/** What the route uses: whether API_KEYS is set. */
export interface AuthRouteDeps {
  readonly config: Pick<Config, 'apiKeys'>;
}

const WhoAmI = Type.Object({
  authEnabled: Type.Boolean({ description: 'API_KEYS is set: every route but the open ones needs a key' }),
  authenticated: Type.Boolean({ description: 'A known key came with this request (always false when auth is off)' }),
  role: Type.Optional(Type.Union([Type.Literal('admin'), Type.Literal('predict')], { description: "The key's role; absent when auth is off" })),
  keyId: Type.Optional(
    Type.String({
      pattern: '^sha256:[0-9a-f]{12}$',
      description: "The first 12 hex digits of the key's SHA-256: tells keys apart without showing them",
    }),
  ),
  canAdmin: Type.Boolean({ description: 'Admin routes (uploads, training, aliases, deletes) are open to this request' }),
  canPredict: Type.Boolean({ description: 'Predict, explain and reading the registry are open to this request' }),
});
type WhoAmI = Static<typeof WhoAmI>;

const EXAMPLES: Record<string, WhoAmI> = {
  predictKey: { authEnabled: true, authenticated: true, role: 'predict', keyId: 'sha256:3f1c9a0b7e42', canAdmin: false, canPredict: true },
  adminKey: { authEnabled: true, authenticated: true, role: 'admin', keyId: 'sha256:b81e0d6a94c3', canAdmin: true, canPredict: true },
  authOff: { authEnabled: false, authenticated: false, canAdmin: true, canPredict: true },
};

/** GET /v1/auth/whoami: what the presented key may do, so a client can offer only what will work. */
export default async function authRoutes(fastify: FastifyInstance, opts: { deps: AuthRouteDeps }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const authEnabled = opts.deps.config.apiKeys.size > 0;

  app.get('/v1/auth/whoami', {
    // Any known key: the auth hook answers 401 for none or an unknown one, and sets request.apiRole.
    config: { auth: 'predict' },
    schema: {
      tags: ['operations'],
      summary: 'Who am I: the role of the API key sent',
      description:
        'With API_KEYS set: the role of the key sent (x-api-key or Authorization: Bearer), 401 without a key or with ' +
        'an unknown one. With auth off: `authEnabled: false`, and everything is open. Changes nothing; the dashboard ' +
        'uses it to disable what the key may not do.',
      operationId: 'whoAmI',
      response: {
        200: {
          description: 'What this request may do',
          content: {
            'application/json': {
              schema: WhoAmI,
              examples: {
                predictKey: { summary: 'A predict key', value: EXAMPLES.predictKey },
                adminKey: { summary: 'An admin key', value: EXAMPLES.adminKey },
                authOff: { summary: 'API_KEYS is empty: auth is off', value: EXAMPLES.authOff },
              },
            },
          },
        },
        ...errorResponses({
          // The other 401 says 'Unknown API key'.
          401: { code: 'UNAUTHENTICATED', message: 'An API key is required: send it as x-api-key or Authorization: Bearer <key>' },
        }),
      },
    },
    handler: async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const role = request.apiRole;
      if (!authEnabled || role === null) {
        return { authEnabled: false, authenticated: false, canAdmin: true, canPredict: true } satisfies WhoAmI;
      }
      const key = presentedKey(request) ?? '';
      const keyId = `sha256:${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
      return { authEnabled: true, authenticated: true, role, keyId, canAdmin: role === 'admin', canPredict: true } satisfies WhoAmI;
    },
  });
}
