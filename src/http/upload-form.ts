import type { Multipart } from '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { AppError } from '../errors.ts';

/**
 * The dataset upload form, read from a multipart/form-data request part by part: one `file` part
 * (the zip archive, handed as a stream to `receive`, never buffered here) and the optional text
 * fields `name` and `positiveClass`. Beside image-input.ts, which reads the images of predict and
 * explain the same way.
 */

export const UPLOAD_FILE_FIELD = 'file';
const TEXT_FIELDS = new Set(['name', 'positiveClass']);
const TEXT_FIELD_BYTES = 1024;
/** Room for multipart boundaries, part headers and the text fields on top of the archive itself. */
const MULTIPART_OVERHEAD_BYTES = 1024 * 1024;

export const EXPECTED_UPLOAD_FORM =
  'POST /v1/datasets expects multipart/form-data with a "file" part (the zip archive) and optional "name" and "positiveClass" fields';

export interface UploadForm<A> {
  /** What `receive` made of the file part. */
  readonly archive: A;
  /** The client's file name of the part, if any (metadata only, never a path). */
  readonly filename?: string;
  readonly name?: string;
  readonly positiveClass?: string;
}

export interface UploadFormOptions<A> {
  /** Largest archive, in bytes (UPLOAD_LIMIT). */
  readonly limitBytes: number;
  /** Takes the file part's stream (and whether the parser cut it at the limit) to its end. */
  readonly receive: (stream: Readable, opts: { truncated: () => boolean }) => Promise<A>;
  /** Undoes `receive` when the form turns out bad after the file was received. */
  readonly discard: (archive: A) => Promise<void>;
}

function mediaType(request: FastifyRequest): string | undefined {
  return request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() || undefined;
}

/**
 * Route `onRequest` hook, before any byte of the body is read: 415 unless multipart/form-data;
 * 413 at once when the declared length cannot fit under the upload limit.
 */
export function checkUploadRequest(limitBytes: number) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const type = mediaType(request);
    if (type !== 'multipart/form-data') {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', `${EXPECTED_UPLOAD_FORM}; got ${type?.slice(0, 100) ?? 'no Content-Type'}`);
    }
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limitBytes + MULTIPART_OVERHEAD_BYTES) {
      reply.header('connection', 'close');
      throw new AppError('ARCHIVE_TOO_LARGE', `The upload (${declared} bytes) is larger than the limit of ${limitBytes} bytes (UPLOAD_LIMIT)`, {
        limitBytes,
      });
    }
  };
}

/** Reads a part we do not want to its end, so the parser moves on to the next part. */
async function drain(part: Multipart): Promise<void> {
  if (part.type !== 'file') return;
  for await (const _chunk of part.file) {
    // discard
  }
}

function normalise(err: unknown, limitBytes: number): unknown {
  if (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'FST_REQ_FILE_TOO_LARGE') {
    return new AppError('ARCHIVE_TOO_LARGE', `The archive is larger than the upload limit of ${limitBytes} bytes (UPLOAD_LIMIT)`, {
      limitBytes,
    });
  }
  return err;
}

/**
 * Reads the whole form. Every part is read to its end even after a problem, so the client's upload
 * completes and it gets the answer instead of a reset connection; the first problem is then
 * thrown (400 VALIDATION_FAILED for a bad form, 413 ARCHIVE_TOO_LARGE, or what `receive` threw),
 * after `discard` of an archive already received.
 */
export async function readUploadForm<A>(request: FastifyRequest, opts: UploadFormOptions<A>): Promise<UploadForm<A>> {
  const { limitBytes } = opts;
  let archive: A | undefined;
  let filename: string | undefined;
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  let problem: unknown;
  const fail = (err: unknown) => {
    problem ??= err;
  };
  try {
    const parts = request.parts({
      limits: { fileSize: limitBytes, files: 2, fields: 10, fieldSize: TEXT_FIELD_BYTES, parts: 12 },
    });
    for await (const part of parts) {
      const field = part.fieldname.slice(0, 64);
      if (problem !== undefined) {
        await drain(part);
      } else if (part.type === 'file') {
        if (part.fieldname !== UPLOAD_FILE_FIELD || archive !== undefined) {
          fail(new AppError('VALIDATION_FAILED', `Unexpected file part "${field}": send exactly one archive, as "${UPLOAD_FILE_FIELD}"`));
          await drain(part);
          continue;
        }
        filename = part.filename;
        try {
          archive = await opts.receive(part.file, { truncated: () => part.file.truncated });
        } catch (err) {
          fail(err);
          await drain(part);
        }
      } else if (!TEXT_FIELDS.has(part.fieldname)) {
        fail(new AppError('VALIDATION_FAILED', `Unknown field "${field}". ${EXPECTED_UPLOAD_FORM}`));
      } else if (part.valueTruncated || part.fieldnameTruncated) {
        fail(new AppError('VALIDATION_FAILED', `Field "${field}" is longer than ${TEXT_FIELD_BYTES} bytes`));
      } else if (fields[part.fieldname] !== undefined) {
        fail(new AppError('VALIDATION_FAILED', `Field "${field}" is given more than once`));
      } else {
        fields[part.fieldname] = String(part.value);
      }
    }
  } catch (err) {
    fail(err);
  }
  if (problem === undefined && archive === undefined) {
    fail(new AppError('VALIDATION_FAILED', `Missing the "${UPLOAD_FILE_FIELD}" part. ${EXPECTED_UPLOAD_FORM}`));
  }
  if (problem !== undefined || archive === undefined) {
    if (archive !== undefined) await opts.discard(archive);
    throw normalise(problem, limitBytes);
  }
  return {
    archive,
    ...(filename !== undefined ? { filename } : {}),
    ...(fields.name !== undefined ? { name: fields.name } : {}),
    ...(fields.positiveClass !== undefined ? { positiveClass: fields.positiveClass } : {}),
  };
}
