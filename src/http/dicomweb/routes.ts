import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../config.ts';
import { AppError } from '../../errors.ts';
import type { ResultService } from '../../services/results.ts';
import { TargetQuery } from '../predict/schemas.ts';
import { EXAMPLE_RESULT_ID } from '../results/schemas.ts';
import { errorResponses } from '../schemas/error.ts';
import { documentedBody, withUsageExample } from '../schemas/openapi.ts';
import { boundaryOf, parseMediaType, parseMultipartRelated } from './multipart-related.ts';
import { FAILURE_REASONS, storeResponse } from './store-response.ts';

/** What this route uses: the limits, the default model, and storing instances as results. */
export interface DicomwebRouteDeps {
  readonly config: Config;
  readonly results: Pick<ResultService, 'storeInstances'>;
}

const DICOM = 'application/dicom';
const ACCEPTED = 'multipart/related; type="application/dicom" with one application/dicom part per instance';

const unsupported = (what: string) => new AppError('UNSUPPORTED_MEDIA_TYPE', `${what}; send ${ACCEPTED}`);

const EXAMPLE_CLASS = '1.2.840.10008.5.1.4.1.1.1';
const EXAMPLE_STORED = {
  '00081199': {
    vr: 'SQ',
    Value: [
      {
        '00081150': { vr: 'UI', Value: [EXAMPLE_CLASS] },
        '00081155': { vr: 'UI', Value: ['2.25.259146837001294762375028412036472914806'] },
        '00081190': { vr: 'UR', Value: [`https://cxr.example.org/v1/results/${EXAMPLE_RESULT_ID}`] },
      },
    ],
  },
};
const EXAMPLE_FAILED = {
  '00000902': { vr: 'LO', Value: ['DICOM_MODALITY_NOT_ACCEPTED: (0008,0060) Modality "CT" is not...'] },
  '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.2'] },
  '00081155': { vr: 'UI', Value: ['2.25.77201948356610259736170139472285031165'] },
  '00081197': { vr: 'US', Value: [FAILURE_REASONS.doesNotMatchSopClass] },
};

const StoreResponse = Type.Object(
  {
    '00081198': Type.Optional(Type.Object({ vr: Type.Literal('SQ'), Value: Type.Array(Type.Object({}, { additionalProperties: true })) })),
    '00081199': Type.Optional(Type.Object({ vr: Type.Literal('SQ'), Value: Type.Array(Type.Object({}, { additionalProperties: true })) })),
  },
  { additionalProperties: false, description: 'PS3.18 store response in DICOM JSON' },
);
const storeAnswer = (description: string, example: object) => ({
  description,
  content: { 'application/dicom+json': { schema: StoreResponse, example } },
});

const DESCRIPTION =
  'DICOMweb STOW-RS (PS3.18 10.5): each instance (a CR or DX chest X-ray, frontal) is analysed with the default model ' +
  '(or `version`/`alias`) and becomes a result. The answer is the PS3.18 store response in DICOM JSON: ' +
  'ReferencedSOPSequence (00081199) with a RetrieveURL (00081190) per stored instance pointing at GET /v1/results/{id}, ' +
  'and FailedSOPSequence (00081198) with a FailureReason (00081197: 0xA900 not accepted, 0xC000 cannot be read, ' +
  '0xC122 transfer syntax, 0x0122 not an image, 0xA700 too large, 0x0110 processing failure) and this service\'s error ' +
  'code in ErrorComment (00000902). 200 all stored, 202 some failed, 409 none stored. When RESULTS_DICOMWEB_URL is set ' +
  'every result\'s DICOM SR is also stored to that PACS through the job queue. The instances are not kept: only the results are.';

/** POST /dicomweb/studies: STOW-RS. */
export default async function dicomwebRoutes(fastify: FastifyInstance, opts: { deps: DicomwebRouteDeps }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { config, results } = opts.deps;
  const bodyLimit = config.limits.requestBytes;
  const maxParts = config.limits.imagesPerRequest;

  // multipart/related arrives whole (under the body limit); any other type is a 415 here.
  app.addContentTypeParser('multipart/related', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('*', (request, _payload, done) => {
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().slice(0, 100);
    done(unsupported(`Content-Type ${type || '(none)'} is not accepted here`), undefined);
  });

  const handle = async (request: FastifyRequest, query: TargetQuery) => {
    const media = parseMediaType(String(request.headers['content-type'] ?? ''));
    const body = request.body;
    if (media.type !== 'multipart/related' || !Buffer.isBuffer(body)) {
      throw unsupported(`Content-Type ${media.type.slice(0, 100) || '(none)'} is not accepted here`);
    }
    const rootType = media.params.get('type')?.toLowerCase();
    if (rootType !== undefined && rootType !== DICOM) {
      throw unsupported(`multipart/related type "${rootType.slice(0, 64)}" is not supported (bulk data and metadata forms are not)`);
    }
    const parts = parseMultipartRelated(body, boundaryOf(media), { maxParts });
    if (parts.length === 0) throw new AppError('BAD_REQUEST', 'the multipart/related body has no part; send one application/dicom part per instance');
    parts.forEach((p, i) => {
      // A part without its own Content-Type has the type the request declared (RFC 2387).
      const type = p.type ?? rootType ?? null;
      if (type !== DICOM) throw unsupported(`part ${i} is ${type ?? 'untyped'}, not ${DICOM}`);
    });
    const { version, alias } = query;
    const target = {
      name: config.defaultModelName,
      ...(version !== undefined ? { version } : {}),
      ...(alias !== undefined ? { alias } : {}),
    };
    return results.storeInstances(
      parts.map((p) => p.body),
      target,
    );
  };

  app.post('/dicomweb/studies', {
    bodyLimit,
    config: {
      auth: 'predict',
      swaggerTransform: documentedBody({
        'multipart/related': withUsageExample(
          Type.String({ format: 'binary', description: 'multipart/related; type="application/dicom"; boundary=...: one application/dicom part per instance' }),
          'Two instances with curl',
          "Build the body with one `Content-Type: application/dicom` part per file (see the README's DICOM output section), then " +
            '`curl -H \'content-type: multipart/related; type="application/dicom"; boundary=B\' --data-binary @body $API/dicomweb/studies`.',
        ),
      }),
    },
    schema: {
      tags: ['results'],
      summary: 'Store DICOM instances (STOW-RS): analyse each into a result',
      description: DESCRIPTION,
      operationId: 'stowStudies',
      querystring: TargetQuery,
      response: {
        200: storeAnswer('Every instance was analysed and stored as a result', EXAMPLE_STORED),
        202: storeAnswer('Some instances were stored, some failed', { '00081198': { vr: 'SQ', Value: [EXAMPLE_FAILED] }, ...EXAMPLE_STORED }),
        409: storeAnswer('No instance was stored', { '00081198': { vr: 'SQ', Value: [EXAMPLE_FAILED] } }),
        ...errorResponses({
          400: { code: 'BAD_REQUEST', message: 'multipart/related body is malformed: part 1 is not closed by the boundary' },
          413: { code: 'PAYLOAD_TOO_LARGE', message: 'too many parts: at most 64 instances per request', details: { maxParts: 64 } },
          415: { code: 'UNSUPPORTED_MEDIA_TYPE', message: `Content-Type application/dicom is not accepted here; send ${ACCEPTED}` },
        }),
      },
    },
    handler: async (request, reply) => {
      const outcomes = await handle(request, request.query);
      const base = `${request.protocol}://${request.host}`;
      const { status, body } = storeResponse(outcomes, (id) => `${base}/v1/results/${id}`);
      // Sent as text: the DICOM JSON is already what goes on the wire.
      return reply.code(status).type('application/dicom+json').send(JSON.stringify(body) as never);
    },
  });
}
