import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ERROR_CATALOGUE, isAppError, type ErrorCode } from '../../errors.ts';
import { sharedPlugin } from './shared.ts';

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Readonly<Record<string, unknown>> };
}

interface Mapped {
  status: number;
  body: ErrorBody;
  /** Unexpected: log at error level with the stack. */
  unexpected: boolean;
}

/** Fastify and @fastify/multipart error codes that are the client's fault. */
const FRAMEWORK_CODES: Readonly<Record<string, { code: ErrorCode; message?: string }>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE', message: 'Request body is larger than this route accepts' },
  FST_REQ_FILE_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE', message: 'An uploaded file is larger than this route accepts' },
  FST_PARTS_LIMIT: { code: 'PAYLOAD_TOO_LARGE', message: 'Too many multipart parts' },
  FST_FILES_LIMIT: { code: 'PAYLOAD_TOO_LARGE', message: 'Too many files in the multipart body' },
  FST_FIELDS_LIMIT: { code: 'PAYLOAD_TOO_LARGE', message: 'Too many fields in the multipart body' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'The request is not multipart/form-data' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'BAD_REQUEST', message: 'Body is empty but Content-Type is application/json' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'BAD_REQUEST', message: 'Body is not valid JSON' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'BAD_REQUEST', message: 'Content-Length does not match the body' },
  FST_ERR_CTP_EMPTY_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content-Type is empty' },
  FST_ERR_CTP_INVALID_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content-Type is invalid' },
  FST_PROTO_VIOLATION: { code: 'BAD_REQUEST', message: 'A multipart field name is not allowed' },
  FST_INVALID_JSON_FIELD_ERROR: { code: 'BAD_REQUEST', message: 'A multipart field declared as JSON is not valid JSON' },
  FST_MP_PREMATURE_CLOSE: { code: 'BAD_REQUEST', message: 'The request ended before the multipart body was complete' },
  FST_ERR_BAD_URL: { code: 'BAD_REQUEST', message: 'Malformed URL' },
};

/** Busboy reports malformed multipart bodies as plain Errors without a code. */
const MALFORMED_MULTIPART = /^(Malformed part header|Unexpected end of (form|file|multipart data)|Multipart: Boundary not found|Malformed urlencoded form|Part terminated early)/;

const BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  406: 'BAD_REQUEST',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
};

const GENERIC_500 = 'Internal server error';

function body(code: ErrorCode, message: string, details?: Readonly<Record<string, unknown>>): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Turns anything thrown while serving a request into a status and the one error body shape. */
export function mapError(err: unknown): Mapped {
  if (isAppError(err)) {
    // INTERNAL errors can carry paths or other server detail: logged, never sent.
    if (err.code === 'INTERNAL') return { status: 500, body: body('INTERNAL', GENERIC_500), unexpected: true };
    return { status: err.status, body: body(err.code, err.message, err.details), unexpected: false };
  }
  const e = (typeof err === 'object' && err !== null ? err : {}) as Partial<FastifyError> & { message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (Array.isArray(e.validation)) {
    return { status: 400, body: body('VALIDATION_FAILED', message), unexpected: false };
  }
  const known = typeof e.code === 'string' ? FRAMEWORK_CODES[e.code] : undefined;
  if (known) {
    return { status: ERROR_CATALOGUE[known.code], body: body(known.code, known.message ?? message), unexpected: false };
  }
  if (MALFORMED_MULTIPART.test(message)) {
    return { status: 400, body: body('BAD_REQUEST', `Malformed multipart body: ${message}`), unexpected: false };
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code = BY_STATUS[status] ?? 'BAD_REQUEST';
    return { status: ERROR_CATALOGUE[code], body: body(code, message), unexpected: false };
  }
  return { status: 500, body: body('INTERNAL', GENERIC_500), unexpected: true };
}

/** Seconds a client should wait before retrying a 503. */
const RETRY_AFTER_SECONDS = 5;

function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const mapped = mapError(err);
  if (mapped.unexpected) {
    request.log.error({ err }, 'unexpected error while serving the request');
  } else if (mapped.status >= 500) {
    request.log.warn({ code: mapped.body.error.code, msg: mapped.body.error.message }, 'service unavailable');
  } else {
    request.log.info({ code: mapped.body.error.code }, 'request rejected');
  }
  if (mapped.status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  if (reply.sent || reply.raw.headersSent) return reply;
  return reply.code(mapped.status).type('application/json; charset=utf-8').send(mapped.body);
}

/**
 * Fastify's `frameworkErrors` option: errors raised before routing (a malformed URL), answered in
 * the same shape as everything else.
 */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  void sendError(err, request, reply);
}

/**
 * The one error handler (and the 404 handler) of the app: AppError -> its catalogue status;
 * validation -> 400 VALIDATION_FAILED; Fastify/multipart client errors -> 400/413/415; anything
 * else -> 500 INTERNAL with a generic message, logged with the request id (never the body).
 */
export const errorHandlerPlugin = sharedPlugin('error-handler', async (app: FastifyInstance) => {
  app.setErrorHandler((err, request, reply) => sendError(err, request, reply));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    return sendError(new AppError('NOT_FOUND', `No route ${request.method} ${path.slice(0, 200)}`), request, reply);
  });
});
