import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.ts';
import { sharedPlugin } from './shared.ts';

/** Deepest nesting of arrays and objects any JSON body may have; no route's schema needs more than 3. */
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * True when `text` nests arrays/objects deeper than `max`. One pass, linear in the length (string
 * contents are skipped with indexOf), before JSON.parse ever sees the text: a body nested 10,000
 * levels deep never becomes a 10,000-level object for the validator or a message builder to
 * recurse through. Malformed JSON is left to JSON.parse to refuse.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip to the closing quote: the next quote preceded by an even number of backslashes.
      let end = text.indexOf('"', i + 1);
      while (end !== -1) {
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === BACKSLASH) slashes++;
        if (slashes % 2 === 0) break;
        end = text.indexOf('"', end + 1);
      }
      if (end === -1) return false;
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/**
 * The one application/json parser of the app: Fastify's own (secure-json-parse, refusing
 * `__proto__` keys), behind a nesting-depth check answered 400 JSON_TOO_DEEP. Registered at the
 * root, so every route that takes JSON gets it with its own body limit.
 */
export const jsonBodyPlugin = sharedPlugin('json-body', async (app: FastifyInstance) => {
  const parse = app.getDefaultJsonParser('error', 'ignore');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
      done(new AppError('JSON_TOO_DEEP', `JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`, { maxDepth: MAX_JSON_DEPTH }), undefined);
      return;
    }
    void parse(request, text, done);
  });
});
