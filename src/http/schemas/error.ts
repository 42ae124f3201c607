import { Type, type TSchema } from '@sinclair/typebox';

/**
 * Every error the API sends has this body (see the one error handler in src/app.ts).
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

const DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'Bad request: malformed or invalid input',
  401: 'Missing or unknown API key',
  403: 'The API key lacks the role this route needs',
  404: 'Not found',
  409: 'Conflict with the current state',
  413: 'Payload too large',
  415: 'Unsupported media type',
  422: 'Well-formed but unusable content',
  429: 'Too many requests',
  500: 'Internal error',
  503: 'Temporarily unavailable; retry later',
};

const EXAMPLES: Readonly<Record<number, { code: string; message: string }>> = {
  400: { code: 'VALIDATION_FAILED', message: 'body/epochs must be <= 200' },
  401: { code: 'UNAUTHENTICATED', message: 'An API key is required (x-api-key header or Authorization: Bearer)' },
  403: { code: 'FORBIDDEN', message: 'This route needs an admin key' },
  404: { code: 'NOT_FOUND', message: 'No such resource' },
  409: { code: 'CONFLICT', message: 'The resource is in a state that does not allow this' },
  413: { code: 'PAYLOAD_TOO_LARGE', message: 'The body exceeds the configured limit' },
  415: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Expected multipart/form-data' },
  422: { code: 'IMAGE_TRUNCATED', message: 'image 0: the image data is truncated' },
  429: { code: 'RATE_LIMITED', message: 'Too many requests' },
  500: { code: 'INTERNAL', message: 'Internal error' },
  503: { code: 'NO_MODEL', message: 'No model version exists yet; train one first' },
};

/**
 * Response schemas for the given error statuses, for a route's `schema.response`:
 * `response: { 200: Thing, ...errorResponses(400, 404) }`. 401, 403 and 500 are always added,
 * since auth and unexpected failures can answer any route.
 */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const status of new Set([...statuses, 401, 403, 500])) {
    out[status] = Type.Object(errorResponse.properties, {
      description: DESCRIPTIONS[status] ?? `Error ${status}`,
      examples: [{ error: EXAMPLES[status] ?? { code: 'INTERNAL', message: 'Internal error' } }],
    });
  }
  return out;
}
