import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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
  /** The client went away mid-request: nobody reads the answer; logged as that, at info. */
  aborted?: boolean;
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
  FST_ERR_MAX_PARAM_LENGTH: { code: 'VALIDATION_FAILED', message: 'params: a path parameter is longer than 1000 characters' },
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

/** Stream errors that mean the client closed the connection before its request was complete. */
const ABORT_CODES = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'FST_MP_PREMATURE_CLOSE']);

/** True when the request's client is gone before sending all of its body. */
function clientAborted(err: unknown, raw: IncomingMessage | undefined): boolean {
  if (!raw || raw.complete) return false;
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  const gone = raw.destroyed || raw.socket?.destroyed === true || raw.errored !== null;
  if (!gone || isAppError(err)) return false;
  const message = (err as { message?: unknown } | null)?.message;
  return (typeof code === 'string' && ABORT_CODES.has(code)) || message === 'aborted' || (typeof message === 'string' && MALFORMED_MULTIPART.test(message));
}

/**
 * Turns anything thrown while serving a request into a status and the one error body shape.
 * `raw` (the request) tells a client that hung up mid-upload from a real failure.
 */
export function mapError(err: unknown, raw?: IncomingMessage): Mapped {
  if (clientAborted(err, raw)) {
    return { status: 400, body: body('BAD_REQUEST', 'The client closed the connection before the request was complete'), unexpected: false, aborted: true };
  }
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

/** Most body bytes read and thrown away after an early answer, so a client still sending can read it. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
/** Longest time a connection is kept for that. */
const DRAIN_MAX_MS = 30_000;

/**
 * An answer sent before the request body was read to its end (413 over the limit, 415, 401, 400
 * half-way through a multipart body) goes out at once, and the rest of the body is then read and
 * discarded (up to DRAIN_MAX_BYTES and DRAIN_MAX_MS) before the connection is reused or closed.
 * Closing at once would make the kernel reset the connection under a client that sends its whole
 * body before it reads (Node's http and fetch, Python's urllib), and the answer would be lost.
 * A body declared larger than the bound is not waited for: the connection closes after the answer.
 */
function drainAfterAnswer(request: FastifyRequest, reply: FastifyReply): void {
  const raw = request.raw;
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > DRAIN_MAX_BYTES) {
    reply.header('connection', 'close');
    return;
  }
  // Fastify marks such answers `connection: close`; the body is drained instead.
  reply.removeHeader('connection');
  let seen = 0;
  const stop = () => {
    clearTimeout(timer);
    raw.off('data', onData);
    raw.off('end', stop);
    raw.off('close', stop);
  };
  const giveUp = () => {
    stop();
    raw.socket?.destroy();
  };
  const onData = (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DRAIN_MAX_BYTES) giveUp();
  };
  const timer = setTimeout(giveUp, DRAIN_MAX_MS);
  timer.unref();
  // Whatever was reading the body (a multipart parser left half-way) lets go of it first.
  raw.unpipe();
  raw.on('data', onData);
  raw.once('end', stop);
  raw.once('close', stop);
  raw.resume();
}

function logRejection(log: FastifyBaseLogger, mapped: Mapped, err: unknown): void {
  if (mapped.aborted) {
    log.info({ code: 'CLIENT_ABORTED' }, 'client closed the connection before the request was complete');
  } else if (mapped.unexpected) {
    log.error({ err }, 'unexpected error while serving the request');
  } else if (mapped.status >= 500) {
    log.warn({ code: mapped.body.error.code, msg: mapped.body.error.message }, 'service unavailable');
  } else {
    log.info({ code: mapped.body.error.code }, 'request rejected');
  }
}

function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const mapped = mapError(err, request.raw);
  logRejection(request.log, mapped, err);
  if (reply.sent || reply.raw.headersSent) return reply;
  if (mapped.status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  // Nobody reads the answer of an aborted request; it is still sent, so the request is finished and logged.
  if (!request.raw.complete && !mapped.aborted) drainAfterAnswer(request, reply);
  return reply.code(mapped.status).type('application/json; charset=utf-8').send(mapped.body);
}

/**
 * Fastify's `frameworkErrors` option: errors raised before routing (a malformed URL), answered in
 * the same shape as everything else.
 */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  sendError(err, request, reply);
}

/** Node's parser errors on a connection (before any request exists), by their HPE_/ERR_ code. */
const CLIENT_ERRORS: Readonly<Record<string, { code: ErrorCode; message: string }>> = {
  HPE_HEADER_OVERFLOW: { code: 'HEADERS_TOO_LARGE', message: 'Request headers are larger than the server accepts' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'REQUEST_TIMEOUT', message: 'The request was not received in time' },
  HPE_INVALID_CONTENT_LENGTH: { code: 'BAD_REQUEST', message: 'Content-Length is not a valid length' },
  HPE_UNEXPECTED_CONTENT_LENGTH: { code: 'BAD_REQUEST', message: 'Content-Length is not allowed with Transfer-Encoding' },
  HPE_INVALID_TRANSFER_ENCODING: { code: 'BAD_REQUEST', message: 'Transfer-Encoding is invalid' },
  HPE_INVALID_METHOD: { code: 'BAD_REQUEST', message: 'The request method is invalid' },
  HPE_INVALID_HEADER_TOKEN: { code: 'BAD_REQUEST', message: 'A request header is malformed' },
};

/**
 * Fastify's `clientErrorHandler`: a connection whose request Node's HTTP parser refused (an
 * invalid Content-Length, headers over the size limit, a request that did not arrive in time) is
 * answered with the one error body before it is closed.
 */
export function clientErrorHandler(this: { log: FastifyBaseLogger }, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const known = (err.code !== undefined ? CLIENT_ERRORS[err.code] : undefined) ?? { code: 'BAD_REQUEST' as const, message: 'Malformed HTTP request' };
  const status = ERROR_CATALOGUE[known.code];
  const payload = JSON.stringify(body(known.code, known.message));
  this.log.info({ code: known.code, parserCode: err.code }, 'request refused by the HTTP parser');
  if (socket.writable) {
    const reason = STATUS_TEXT[status] ?? 'Bad Request';
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(payload)}\r\nConnection: close\r\n\r\n${payload}`,
    );
  }
  socket.destroySoon();
}

const STATUS_TEXT: Readonly<Record<number, string>> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

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
