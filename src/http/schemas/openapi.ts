import type { SwaggerTransform } from '@fastify/swagger';
import type { Static, TSchema } from '@sinclair/typebox';

/*
 * What only the OpenAPI document (openapi.yaml, /docs) reads. Nothing here changes how a request
 * is validated or a response serialised.
 */

/**
 * A route's copy of a schema with its description and one example. @fastify/swagger turns a single
 * schema-level example into the media type's `example` (request bodies and responses alike).
 * The example is typed against the schema, and the openapi test validates every example against
 * the schema it is published with, so an example cannot drift from the contract.
 */
export function withExample<T extends TSchema>(schema: T, example: Static<T>, description?: string): T {
  return { ...schema, ...(description !== undefined ? { description } : {}), examples: [example] };
}

/**
 * A binary form (multipart with files, a raw image) has no literal example worth printing: this
 * gives its media type one named example that says how to send it (a curl command) instead.
 */
export function withUsageExample<T extends TSchema>(schema: T, summary: string, description: string): T {
  return { ...schema, 'x-examples': { curl: { summary, description } } };
}

/**
 * The one way a route documents request bodies that Fastify must not validate: multipart forms
 * (streamed part by part by the handler, never parsed into request.body) and raw image bodies.
 *
 * It returns the route's `config.swaggerTransform`, which @fastify/swagger calls with the route
 * schema when it builds the document; Fastify itself never sees it. The media types given here
 * are added to the route's own `schema.body.content` (which Fastify does validate, per media
 * type, e.g. predict's JSON form), so a route can mix validated and documented-only forms.
 * Schemas with one `examples` entry get it as the media type's example.
 */
export function documentedBody(content: Record<string, TSchema>): SwaggerTransform {
  return ({ schema, url }) => {
    const validated = (schema.body as { content?: Record<string, { schema: unknown }> } | undefined)?.content ?? {};
    const documented = Object.fromEntries(Object.entries(content).map(([media, s]) => [media, { schema: s }]));
    return { url, schema: { ...schema, body: { content: { ...documented, ...validated } } } };
  };
}
