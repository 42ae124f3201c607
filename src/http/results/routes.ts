import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.ts';
import { exampleBundle, RESEARCH_USE_ONLY } from '../../services/result-fhir.ts';
import type { ResultRecord, ResultService } from '../../services/results.ts';
import { negotiate, type Offer } from '../accept.ts';
import { errorResponses } from '../schemas/error.ts';
import { RESULT_EXAMPLE, ResultJson, ResultParams, type ResultJson as ResultJsonType } from './schemas.ts';

/** What this route uses: reading a result in its three forms. */
export interface ResultRouteDeps {
  readonly results: Pick<ResultService, 'get' | 'fhir' | 'dicomSr'>;
}

const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** application/dicom with a transfer-syntax parameter matches only the one the SR is written in. */
const OFFERS: readonly Offer[] = [
  { type: 'application/json' },
  { type: 'application/fhir+json' },
  {
    type: 'application/dicom',
    acceptsParams: (p) => {
      const ts = p.get('transfer-syntax');
      return ts === undefined || ts === '*' || ts === EXPLICIT_VR_LITTLE_ENDIAN;
    },
  },
];

export function resultJson(r: ResultRecord): ResultJsonType {
  const finding = r.positive
    ? ({ system: 'http://snomed.info/sct', code: '233604007', display: 'Pneumonia' } as const)
    : ({ system: 'http://snomed.info/sct', code: '17621005', display: 'Normal' } as const);
  return {
    id: r.id,
    createdAt: r.createdAt,
    via: r.via,
    model: { ...r.model },
    probability: r.probability,
    label: r.label,
    threshold: r.threshold,
    finding,
    source: { ...r.source },
    notice: RESEARCH_USE_ONLY,
  };
}

const FHIR_EXAMPLE = exampleBundle({
  v: 1,
  ...RESULT_EXAMPLE,
  positive: true,
});

/** GET /v1/results/:id: a result as JSON, a FHIR R4 Bundle or a DICOM SR, by the Accept header. */
export default async function resultRoutes(fastify: FastifyInstance, opts: { deps: ResultRouteDeps }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { results } = opts.deps;

  app.get('/v1/results/:id', {
    config: { auth: 'predict' },
    schema: {
      tags: ['results'],
      summary: 'Read a result: JSON, FHIR R4 Bundle or DICOM SR',
      description:
        'One result of a DICOM analysis (made by POST /dicomweb/studies). The Accept header chooses the form: ' +
        '`application/json` (the default) the result itself; `application/fhir+json` a FHIR R4 Bundle (collection) with a ' +
        'DiagnosticReport (preliminary, LOINC 36554-4, conclusion SNOMED CT 233604007 Pneumonia or 17621005 Normal), an ' +
        'Observation (probability as valueQuantity, unit 1; the threshold as a component), the model as a Device, the ' +
        'ImagingStudy (urn:oid: StudyInstanceUID) and the Patient (PatientID); `application/dicom` a DICOM Comprehensive SR ' +
        '(TID 1500) in the source\'s study and patient, in a new RESEARCH USE ONLY series (explicit VR little endian). ' +
        'Anything else is 406. Results are kept for RESULTS_RETENTION_DAYS.',
      operationId: 'getResult',
      params: ResultParams,
      response: {
        200: {
          description: 'The result in the form the Accept header asks for',
          headers: { vary: Type.String({ description: 'The form depends on Accept', examples: ['Accept'] }) },
          content: {
            'application/json': { schema: ResultJson, example: RESULT_EXAMPLE },
            'application/fhir+json': {
              schema: Type.Object(
                { resourceType: Type.Literal('Bundle'), type: Type.Literal('collection'), entry: Type.Array(Type.Object({}, { additionalProperties: true })) },
                { additionalProperties: true, description: 'A FHIR R4 Bundle' },
              ),
              example: FHIR_EXAMPLE,
            },
            'application/dicom': {
              schema: Type.Unsafe<Buffer>(Type.String({ format: 'binary', contentMediaType: 'application/dicom' })),
              examples: {
                sr: {
                  summary: 'A DICOM SR Part 10 file (binary)',
                  description:
                    "Comprehensive SR, TID 1500 Measurement Report, explicit VR little endian. `curl -H 'accept: application/dicom' " +
                    '-o result.dcm $API/v1/results/res_m4q7zt2kxv6hw3na`, then `dsrdump result.dcm`.',
                },
              },
            },
          },
        },
        ...errorResponses(400, {
          404: { code: 'RESULT_NOT_FOUND', message: 'No result "res_m4q7zt2kxv6hw3na" (unknown, or older than the retention)', details: { id: 'res_m4q7zt2kxv6hw3na' } },
          406: {
            code: 'NOT_ACCEPTABLE',
            message: 'A result is available as application/json, application/fhir+json or application/dicom (explicit VR little endian); the Accept header allows none of them',
          },
        }),
      },
    },
    handler: async (request, reply) => {
      const offer = negotiate(request.headers.accept, OFFERS);
      reply.header('vary', 'Accept');
      if (!offer) {
        throw new AppError(
          'NOT_ACCEPTABLE',
          'A result is available as application/json, application/fhir+json or application/dicom (explicit VR little endian); the Accept header allows none of them',
        );
      }
      const { id } = request.params;
      if (offer.type === 'application/fhir+json') {
        const bundle = await results.fhir(id);
        return reply.type('application/fhir+json; charset=utf-8').send(JSON.stringify(bundle) as never);
      }
      if (offer.type === 'application/dicom') {
        const sr = await results.dicomSr(id);
        return reply
          .type('application/dicom')
          .header('content-disposition', `attachment; filename="${id}.dcm"`)
          .send(Buffer.from(sr.buffer, sr.byteOffset, sr.byteLength));
      }
      return reply.type('application/json; charset=utf-8').send(resultJson(await results.get(id)));
    },
  });
}
