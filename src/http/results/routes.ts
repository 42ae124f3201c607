import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ResultService } from '../../services/results.ts';
import { negotiate } from '../accept.ts';
import { errorResponses } from '../schemas/error.ts';
import { notAcceptable, RESULT_OFFERS, sendResult, SR_AND_FHIR_CONTENT } from './representation.ts';
import { RESULT_EXAMPLE, ResultJson, ResultParams } from './schemas.ts';

/** What this route uses: reading a result in its three forms. */
export interface ResultRouteDeps {
  readonly results: Pick<ResultService, 'get' | 'fhir' | 'dicomSr'>;
}

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
            ...SR_AND_FHIR_CONTENT,
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
      const offer = negotiate(request.headers.accept, RESULT_OFFERS);
      reply.header('vary', 'Accept');
      if (!offer) throw notAcceptable('A result');
      return sendResult(reply, results, offer.type, request.params.id);
    },
  });
}
