import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { DatasetService } from '../../services/datasets.ts';
import type { DatasetManifest } from '../../services/datasets.ts';
import { errorResponses } from '../schemas/error.ts';
import { EXAMPLE_DATASET_ID } from '../schemas/examples.ts';
import { documentedBody } from '../schemas/openapi.ts';
import { checkUploadRequest, EXPECTED_UPLOAD_FORM as EXPECTED_FORM, readUploadForm } from '../upload-form.ts';
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

/** What these routes use of the datasets service. */
export interface DatasetRouteDeps {
  readonly datasets: Pick<DatasetService, 'uploadLimitBytes' | 'receiveArchive' | 'importArchive' | 'list' | 'get' | 'delete'>;
}

function detail(manifest: DatasetManifest, withImages: boolean) {
  const { images, ...rest } = manifest;
  return withImages ? { ...rest, images } : rest;
}

/** Datasets: upload a zip (streamed to disk, then imported), list, inspect, delete. Admin only. */
export default async function datasetsRoutes(fastify: FastifyInstance, opts: { deps: DatasetRouteDeps }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { datasets } = opts.deps;
  const limitBytes = datasets.uploadLimitBytes;

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
        'split and the skipped entries with their reasons. Nothing is left on disk when the upload is refused. ' +
        'Images are PNG, JPEG or DICOM (.dcm, .dicom, or files without an extension or named after their UID whose ' +
        'content is DICOM). Of a DICOM file only the 8-bit picture (in the cache, and as a de-identified PNG to ' +
        'rebuild caches at other sizes), the keyed hash of its PatientID (the patient group of the split) and a ' +
        'de-identified header subset are kept; the archive itself is then not kept.',
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
            { code: 'DATASET_NO_IMAGES', message: 'no PNG, JPEG or DICOM files found' },
          ],
        }),
      },
    },
    handler: async (request, reply) => {
      const form = await readUploadForm(request, {
        limitBytes,
        receive: (stream, o) => datasets.receiveArchive(stream, o),
        discard: (archive) => archive.discard(),
      });
      const { archive, ...options } = form;
      const manifest = await datasets.importArchive(archive, options);
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

  app.get('/v1/datasets/:id', {
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
          400: { code: 'VALIDATION_FAILED', message: 'params/id: must match ^ds_[a-z2-7]{16}$ (got "ds_1")', details: { errors: ['params/id: must match ^ds_[a-z2-7]{16}$ (got "ds_1")'] } },
          404: { code: 'DATASET_NOT_FOUND', message: `dataset "${EXAMPLE_DATASET_ID}" not found` },
        }),
      },
    },
    handler: async (request) => detail(await datasets.get(request.params.id), request.query.include === 'images'),
  });

  app.delete('/v1/datasets/:id', {
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
          400: { code: 'VALIDATION_FAILED', message: 'params/id: must match ^ds_[a-z2-7]{16}$ (got "ds_1")', details: { errors: ['params/id: must match ^ds_[a-z2-7]{16}$ (got "ds_1")'] } },
          404: { code: 'DATASET_NOT_FOUND', message: `dataset "${EXAMPLE_DATASET_ID}" not found` },
          409: {
            code: 'DATASET_IN_USE',
            message: `Dataset ${EXAMPLE_DATASET_ID} is used by a queued or running training job or evaluation; cancel it or wait`,
            details: { id: EXAMPLE_DATASET_ID },
          },
        }),
      },
    },
    handler: async (request, reply) => {
      await datasets.delete(request.params.id);
      return reply.code(204).send(null);
    },
  });
}
