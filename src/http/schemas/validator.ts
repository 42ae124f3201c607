import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Validates TypeBox route schemas with TypeBox's own compiler, set with
 * `app.setValidatorCompiler(typeboxValidator)` in a route plugin. Stricter than Fastify's default
 * Ajv setup (which coerces every part): JSON bodies are checked exactly as sent, so
 * `{"version": true}` or `{"version": [3]}` is a 400, not version 1 or 3; path and query strings
 * become numbers only when they are plain decimals ("3"), so "1e400", "0x10", " 5" and "1.5" are
 * not integers.
 */
export const typeboxValidator: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema);
  const fromStrings = httpPart !== 'body';
  return (input: unknown) => {
    const value = fromStrings ? convertStrings(schema, input) : input;
    if (check.Check(value)) return { value };
    const first = check.Errors(value).First();
    return {
      error: [
        {
          keyword: 'type',
          instancePath: first?.path ?? '',
          schemaPath: '',
          params: {},
          message: first ? lowerFirst(first.message) : 'is invalid',
        },
      ],
    };
  };
};

const INTEGER = /^-?(0|[1-9]\d{0,15})$/;
const NUMBER = /^-?(0|[1-9]\d{0,15})(\.\d{1,16})?$/;

/** Path/query values arrive as strings: turn the ones the schema wants as numbers or booleans into those, strictly. */
function convertStrings(schema: TSchema, input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const properties = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  const out: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  for (const [key, value] of Object.entries(out)) {
    const type = properties[key]?.type;
    if (typeof value !== 'string') continue;
    if (type === 'integer' && INTEGER.test(value)) out[key] = Number(value);
    else if (type === 'number' && NUMBER.test(value)) out[key] = Number(value);
    else if (type === 'boolean' && (value === 'true' || value === 'false')) out[key] = value === 'true';
  }
  return out;
}

function lowerFirst(message: string): string {
  return `${message.charAt(0).toLowerCase()}${message.slice(1)}`;
}
