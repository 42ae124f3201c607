import { Type, type TSchema } from '@sinclair/typebox';
import type { ErrorCode } from '../../errors.ts';
import { MAX_JSON_DEPTH } from '../plugins/json-body.ts';

/**
 * Every error the API sends has this body (see the one error handler, src/http/plugins/error-handler.ts).
 * `code` is a key of ERROR_CATALOGUE in src/errors.ts; `details` is present for some codes.
 */
export const errorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable machine-readable code, e.g. DATASET_NOT_FOUND' }),
      message: Type.String({ description: 'Human-readable explanation' }),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Extra context for some codes' })),
    }),
  },
  { description: 'Error' },
);

/** The `error` object of an example error body; the openapi test checks `code` answers with its status. */
export interface ErrorExample {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

const DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'Bad request: malformed or invalid input',
  401: 'Missing or unknown API key',
  403: 'The API key lacks the role this route needs',
  404: 'Not found',
  406: 'Not acceptable: the Accept header allows none of the forms this route answers in',
  409: 'Conflict with the current state',
  413: 'Payload too large',
  415: 'Unsupported media type',
  422: 'Well-formed but unusable content',
  429: 'Too many requests',
  500: 'Internal error',
  503: 'Temporarily unavailable; retry after the Retry-After seconds',
};

/** Examples used when a route gives none of its own; messages as the service words them. */
const EXAMPLES: Readonly<Record<number, ErrorExample>> = {
  400: { code: 'VALIDATION_FAILED', message: 'params/name: must match ^[a-z0-9][a-z0-9-]{0,62}$ (got "Chest_XRay")', details: { errors: ['params/name: must match ^[a-z0-9][a-z0-9-]{0,62}$ (got "Chest_XRay")'] } },
  401: { code: 'UNAUTHENTICATED', message: 'An API key is required: send it as x-api-key or Authorization: Bearer <key>' },
  403: { code: 'FORBIDDEN', message: 'This route needs an admin key; the key presented has the predict role' },
  404: { code: 'NOT_FOUND', message: 'No route GET /v1/dataset' },
  409: { code: 'CONFLICT', message: 'The resource is in a state that does not allow this' },
  413: { code: 'PAYLOAD_TOO_LARGE', message: 'Request body is larger than this route accepts' },
  415: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Unsupported Media Type' },
  422: { code: 'IMAGE_TRUNCATED', message: 'image: PNG image is truncated (vipspng: libpng read error)', details: { index: 0 } },
  429: { code: 'RATE_LIMITED', message: 'Too many requests' },
  500: { code: 'INTERNAL', message: 'Internal server error' },
  503: { code: 'QUEUE_UNAVAILABLE', message: 'The job queue (Redis) is unavailable; try again shortly' },
};

/** Headers the error handler and the auth hook add to some statuses. */
const HEADERS: Readonly<Record<number, Record<string, TSchema>>> = {
  401: { 'www-authenticate': Type.String({ description: 'Always `Bearer`', examples: ['Bearer'] }) },
  503: { 'retry-after': Type.Integer({ minimum: 1, description: 'Seconds to wait before retrying', examples: [5] }) },
};

/** What any route with a JSON body may answer before validation: a body nested too deep, or over the body limit. */
export const JSON_TOO_DEEP: ErrorExample = {
  code: 'JSON_TOO_DEEP',
  message: `JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`,
  details: { maxDepth: MAX_JSON_DEPTH },
};
export const BODY_TOO_LARGE: ErrorExample = { code: 'PAYLOAD_TOO_LARGE', message: 'Request body is larger than this route accepts' };

/** Route-specific examples, per status: one example, or several (shown as named examples). */
export type RouteErrorExamples = Readonly<Partial<Record<number, ErrorExample | readonly ErrorExample[]>>>;

/**
 * Response schemas for the given error statuses, for a route's `schema.response`:
 * `response: { 200: Thing, ...errorResponses(400, 404) }`. An object argument gives the route's
 * own examples and declares those statuses too:
 * `errorResponses(400, { 404: { code: 'DATASET_NOT_FOUND', message: '...' } })`.
 * 401, 403 and 500 are always added, since auth and unexpected failures can answer any route.
 */
export function errorResponses(...args: (number | RouteErrorExamples)[]): Record<number, TSchema> {
  const own: Record<number, ErrorExample | readonly ErrorExample[]> = {};
  const statuses = new Set<number>();
  for (const arg of args) {
    if (typeof arg === 'number') {
      statuses.add(arg);
      continue;
    }
    for (const [status, example] of Object.entries(arg)) {
      if (example === undefined) continue;
      statuses.add(Number(status));
      own[Number(status)] = example;
    }
  }
  for (const status of [401, 403, 500]) statuses.add(status);
  const out: Record<number, TSchema> = {};
  for (const status of [...statuses].sort((a, b) => a - b)) {
    const chosen = own[status] ?? EXAMPLES[status] ?? { code: 'INTERNAL', message: 'Internal server error' };
    const examples = (Array.isArray(chosen) ? chosen : [chosen]) as readonly ErrorExample[];
    out[status] = Type.Object(errorResponse.properties, {
      description: DESCRIPTIONS[status] ?? `Error ${status}`,
      // One example becomes the media type's `example`; several become its named `examples` (by code).
      ...(examples.length === 1
        ? { examples: [{ error: examples[0] }] }
        : { 'x-examples': Object.fromEntries(examples.map((error) => [error.code, { value: { error } }])) }),
      ...(HEADERS[status] ? { headers: HEADERS[status] } : {}),
    });
  }
  return out;
}
