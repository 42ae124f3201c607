import type { Multipart } from '@fastify/multipart';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../../app.ts';
import { AppError } from '../../errors.ts';
import type { ReceivedArchive } from '../../services/datasets.ts';
import type { DatasetManifest } from '../../storage/dataset-types.ts';
import { errorResponses } from '../schemas/error.ts';
import { EXAMPLE_DATASET_ID } from '../schemas/examples.ts';
import { documentedBody } from '../schemas/openapi.ts';
import { typeboxValidator } from '../schemas/validator.ts';
import {
  DatasetCreated,
  DatasetFound,
  DatasetParams,
  DatasetQuery,
  DatasetsListed,
  NoContent,
  UploadForm,
} from './schemas.ts';

const tags = ['datasets'];
const FILE_FIELD = 'file';
const TEXT_FIELDS = new Set(['name', 'positiveClass']);
const TEXT_FIELD_BYTES = 1024;
/** Room for multipart boundaries, part headers and the text fields on top of the archive itself. */
const MULTIPART_OVERHEAD_BYTES = 1024 * 1024;

const EXPECTED_FORM =
  'POST /v1/datasets expects multipart/form-data with a "file" part (the zip archive) and optional "name" and "positiveClass" fields';

function mediaType(request: FastifyRequest): string | undefined {
  return request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() || undefined;
}

/**
 * Before any byte of the body is read: 415 unless multipart/form-data; 413 at once when the
 * declared length cannot fit under the upload limit (the connection is then closed, not drained).
 */
function checkUploadRequest(limitBytes: number) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const type = mediaType(request);
    if (type !== 'multipart/form-data') {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', `${EXPECTED_FORM}; got ${type ?? 'no Content-Type'}`);
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

function detail(manifest: DatasetManifest, withImages: boolean) {
  const { images, ...rest } = manifest;
  return withImages ? { ...rest, images } : rest;
}

/** Datasets: upload a zip (streamed to disk, then imported), list, inspect, delete. Admin only. */
export default async function datasetsRoutes(app: FastifyInstance, opts: { deps: AppDeps }): Promise<void> {
  const { datasets } = opts.deps;
  const limitBytes = datasets.uploadLimitBytes;
  app.setValidatorCompiler(typeboxValidator);

  app.post('/v1/datasets', {
    // The body is a stream read part by part below, never parsed into request.body: the form is
    // documented for OpenAPI only, and the handler does the checking.
    config: { auth: 'admin', swaggerTransform: documentedBody({ 'multipart/form-data': UploadForm }) },
    onRequest: checkUploadRequest(limitBytes),
    schema: {
      tags,
      summary: 'Upload a dataset (zip of class folders)',
      description:
        'Streams the archive to disk (limit UPLOAD_LIMIT, default 2 GiB), checks every entry (path, type, size, ' +
        'decodability), decodes each image once into the dataset cache and answers with the counts per class and ' +
        'split and the skipped entries with their reasons. Nothing is left on disk when the upload is refused.',
      operationId: 'createDataset',
      response: {
        201: { ...DatasetCreated, headers: { location: Type.String({ examples: [`/v1/datasets/${EXAMPLE_DATASET_ID}`] }) } },
        ...errorResponses({
          400: [
            { code: 'VALIDATION_FAILED', message: `Missing the "file" part. ${EXPECTED_FORM}` },
            { code: 'INVALID_ARCHIVE', message: 'not a valid zip archive (end of central directory record signature not found)' },
            {
              code: 'UNSAFE_ARCHIVE_ENTRY',
              message: `archive refused: entry "../../etc/passwd" leaves the archive ('..' in its path)`,
              details: { entry: '../../etc/passwd' },
            },
          ],
          413: {
            code: 'ARCHIVE_TOO_LARGE',
            message: 'The archive is larger than the upload limit of 2147483648 bytes (UPLOAD_LIMIT)',
            details: { limitBytes: 2147483648 },
          },
          415: { code: 'UNSUPPORTED_MEDIA_TYPE', message: `${EXPECTED_FORM}; got application/json` },
          422: [
            { code: 'DATASET_ONE_CLASS', message: 'found one class only: PNEUMONIA (4273 files); a dataset needs both NORMAL and PNEUMONIA' },
            { code: 'DATASET_NO_IMAGES', message: 'no PNG or JPEG files found' },
          ],
        }),
      },
    },
    handler: async (request, reply) => {
      let archive: ReceivedArchive | undefined;
      let filename: string | undefined;
      const fields: Record<string, string> = {};
      let problem: unknown;
      const fail = (err: unknown) => {
        problem ??= err;
      };
      try {
        const parts = request.parts({
          limits: { fileSize: limitBytes, files: 2, fields: 10, fieldSize: TEXT_FIELD_BYTES, parts: 12 },
        });
        // Every part is read to its end even after a problem, so the client's upload completes
        // and it gets our answer instead of a reset connection.
        for await (const part of parts) {
          if (problem !== undefined) {
            await drain(part);
          } else if (part.type === 'file') {
            if (part.fieldname !== FILE_FIELD || archive !== undefined) {
              fail(new AppError('VALIDATION_FAILED', `Unexpected file part "${part.fieldname}": send exactly one archive, as "${FILE_FIELD}"`));
              await drain(part);
              continue;
            }
            filename = part.filename;
            try {
              archive = await datasets.receiveArchive(part.file, { truncated: () => part.file.truncated });
            } catch (err) {
              fail(err);
              await drain(part);
            }
          } else if (!TEXT_FIELDS.has(part.fieldname)) {
            fail(new AppError('VALIDATION_FAILED', `Unknown field "${part.fieldname}". ${EXPECTED_FORM}`));
          } else if (part.valueTruncated || part.fieldnameTruncated) {
            fail(new AppError('VALIDATION_FAILED', `Field "${part.fieldname}" is longer than ${TEXT_FIELD_BYTES} bytes`));
          } else if (fields[part.fieldname] !== undefined) {
            fail(new AppError('VALIDATION_FAILED', `Field "${part.fieldname}" is given more than once`));
          } else {
            fields[part.fieldname] = String(part.value);
          }
        }
      } catch (err) {
        fail(err);
      }
      if (problem === undefined && archive === undefined) {
        fail(new AppError('VALIDATION_FAILED', `Missing the "${FILE_FIELD}" part. ${EXPECTED_FORM}`));
      }
      if (problem !== undefined || archive === undefined) {
        await archive?.discard();
        throw normalise(problem, limitBytes);
      }
      const manifest = await datasets.importArchive(archive, {
        ...(fields.name !== undefined ? { name: fields.name } : {}),
        ...(fields.positiveClass !== undefined ? { positiveClass: fields.positiveClass } : {}),
        ...(filename !== undefined ? { filename } : {}),
      });
      request.log.info({ datasetId: manifest.id, images: manifest.counts.images, skipped: manifest.counts.skipped }, 'dataset imported');
      return reply.code(201).header('location', `/v1/datasets/${manifest.id}`).send(detail(manifest, false));
    },
  });

  app.get('/v1/datasets', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'List datasets',
      operationId: 'listDatasets',
      response: { 200: DatasetsListed, ...errorResponses() },
    },
    handler: async () => ({ datasets: await datasets.list() }),
  });

  app.get<{ Params: DatasetParams; Querystring: DatasetQuery }>('/v1/datasets/:id', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'Get a dataset',
      description: 'Counts, classes and skipped entries; the per-image list only with ?include=images.',
      operationId: 'getDataset',
      params: DatasetParams,
      querystring: DatasetQuery,
      response: {
        200: DatasetFound,
        ...errorResponses({
          400: { code: 'VALIDATION_FAILED', message: "params/id expected string to match '^ds_[a-z2-7]{16}$'" },
          404: { code: 'DATASET_NOT_FOUND', message: `dataset "${EXAMPLE_DATASET_ID}" not found` },
        }),
      },
    },
    handler: async (request) => detail(await datasets.get(request.params.id), request.query.include === 'images'),
  });

  app.delete<{ Params: DatasetParams }>('/v1/datasets/:id', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'Delete a dataset',
      description: 'Refused with 409 DATASET_IN_USE while a queued or running training job uses it.',
      operationId: 'deleteDataset',
      params: DatasetParams,
      response: {
        204: NoContent,
        ...errorResponses({
          400: { code: 'VALIDATION_FAILED', message: "params/id expected string to match '^ds_[a-z2-7]{16}$'" },
          404: { code: 'DATASET_NOT_FOUND', message: `dataset "${EXAMPLE_DATASET_ID}" not found` },
          409: {
            code: 'DATASET_IN_USE',
            message: `Dataset ${EXAMPLE_DATASET_ID} is used by a queued or running training job; cancel it or wait`,
            details: { id: EXAMPLE_DATASET_ID },
          },
        }),
      },
    },
    handler: async (request, reply) => {
      await datasets.delete(request.params.id);
      return reply.code(204).send();
    },
  });
}
