import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifySchemaCompiler, FastifySchemaValidationError, FastifyServerOptions } from 'fastify';
import { describeSchemaError } from '../../domain/training-params.ts';
import { AppError } from '../../errors.ts';

/** Which part of the request failed ('body', 'querystring', 'params', 'headers'). */
type SchemaErrorDataVar = Parameters<NonNullable<FastifyServerOptions['schemaErrorFormatter']>>[1];

/**
 * The one request validator of the app, set once at the root (`app.setValidatorCompiler`) and so
 * used by every route, for every part (params, querystring, body):
 * - JSON bodies are checked exactly as sent: no coercion, no defaults, unknown properties refused
 *   where the schema says so. `{"version": true}`, `{"version": [3]}` and `{"images": "<base64>"}`
 *   are 400s.
 * - Path and query values arrive as strings. The one rule: a value the schema wants as an integer
 *   or number is converted only when it is a canonical decimal (integers `0`, `7`, `-3`, at most
 *   16 digits; numbers the same with an optional fraction), and a boolean only from `true`/`false`.
 *   Anything else ("0x10", "1e309", " 5", "05", "1.0" for an integer, "Infinity") stays a string
 *   and fails the schema's type check, so it is a 400 VALIDATION_FAILED like any other bad value.
 */
export const typeboxValidator: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema);
  const fromStrings = httpPart !== 'body';
  return (input: unknown) => {
    const value = fromStrings ? convertStrings(schema, input) : input;
    if (check.Check(value)) return { value };
    const error: FastifySchemaValidationError[] = [];
    const seen = new Set<string>();
    for (const e of check.Errors(value)) {
      // Unions report one error per member; keep the first per path.
      if (seen.has(e.path)) continue;
      seen.add(e.path);
      error.push({ keyword: 'type', instancePath: e.path, schemaPath: '', params: {}, message: describeSchemaError(e.schema, e.message, e.value) });
      if (error.length >= MAX_ERRORS) break;
    }
    if (error.length === 0) error.push({ keyword: 'type', instancePath: '', schemaPath: '', params: {}, message: 'is invalid' });
    return { error };
  };
};

/** At most this many problems are named in one answer. */
const MAX_ERRORS = 10;

/**
 * Fastify's `schemaErrorFormatter`: the problems of one request part as a 400 VALIDATION_FAILED,
 * e.g. "querystring/version: must be an integer >= 1 and <= 9007199254740991 (got string "0x10")",
 * with every problem in details.errors.
 */
export function formatValidationErrors(errors: FastifySchemaValidationError[], dataVar: SchemaErrorDataVar, prefix = ''): Error {
  const list = errors.map((e) => `${dataVar}${e.instancePath || ''}: ${e.message ?? 'is invalid'}`);
  return new AppError('VALIDATION_FAILED', `${prefix}${list.join('; ')}`, { errors: list });
}

/** Canonical decimal integers and numbers (no sign on zero, no leading zeros, no exponent). */
const INTEGER = /^(?:0|-?[1-9]\d{0,15})$/;
const NUMBER = /^(?:0|-?[1-9]\d{0,15}|-?(?:0|[1-9]\d{0,15})\.\d{1,16})$/;

/** Path/query values: turn the ones the schema wants as numbers or booleans into those, by the one rule above. */
function convertStrings(schema: TSchema, input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const properties = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  const out: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  for (const [key, value] of Object.entries(out)) {
    if (typeof value !== 'string' || !Object.hasOwn(properties, key)) continue;
    const type = properties[key]!.type;
    if (type === 'integer' && INTEGER.test(value)) out[key] = Number(value);
    else if (type === 'number' && NUMBER.test(value)) out[key] = Number(value);
    else if (type === 'boolean' && (value === 'true' || value === 'false')) out[key] = value === 'true';
  }
  return out;
}
