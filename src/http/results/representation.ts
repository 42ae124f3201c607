/**
 * The forms a result is answered in, chosen by Accept: the result as JSON, a FHIR R4 Bundle or a
 * DICOM SR (explicit VR little endian). One place for GET /v1/results/{id} and for POST
 * /v1/predict with a single DICOM image, so both answer the same bytes for the same result.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { AppError } from '../../errors.ts';
import { exampleBundle, RESEARCH_USE_ONLY } from '../../services/result-fhir.ts';
import type { ResultRecord, ResultService } from '../../services/results.ts';
import type { Offer } from '../accept.ts';
import { RESULT_EXAMPLE, type ResultJson } from './schemas.ts';

const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

export const FHIR_JSON = 'application/fhir+json';
export const DICOM = 'application/dicom';

/** application/dicom with a transfer-syntax parameter matches only the one the SR is written in. */
export const DICOM_SR_OFFER: Offer = {
  type: DICOM,
  acceptsParams: (p) => {
    const ts = p.get('transfer-syntax');
    return ts === undefined || ts === '*' || ts === EXPLICIT_VR_LITTLE_ENDIAN;
  },
};

export const RESULT_OFFERS: readonly Offer[] = [{ type: 'application/json' }, { type: FHIR_JSON }, DICOM_SR_OFFER];

export const notAcceptable = (what: string) =>
  new AppError(
    'NOT_ACCEPTABLE',
    `${what} is available as application/json, application/fhir+json or application/dicom (explicit VR little endian); the Accept header allows none of them`,
  );

export function resultJson(r: ResultRecord): ResultJson {
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

/** Sends result `id` in the form of `type` (one of RESULT_OFFERS), with Location-free, Vary-ed headers. */
export async function sendResult(
  reply: FastifyReply,
  results: Pick<ResultService, 'get' | 'fhir' | 'dicomSr'>,
  type: string,
  id: string,
): Promise<FastifyReply> {
  reply.header('vary', 'Accept');
  if (type === FHIR_JSON) {
    const bundle = await results.fhir(id);
    return reply.type('application/fhir+json; charset=utf-8').send(JSON.stringify(bundle) as never);
  }
  if (type === DICOM) {
    const sr = await results.dicomSr(id);
    return reply
      .type(DICOM)
      .header('content-disposition', `attachment; filename="${id}.dcm"`)
      .send(Buffer.from(sr.buffer, sr.byteOffset, sr.byteLength));
  }
  return reply.type('application/json; charset=utf-8').send(resultJson(await results.get(id)));
}

const FHIR_EXAMPLE = exampleBundle({ v: 1, ...RESULT_EXAMPLE, positive: true });

/** The OpenAPI content of the FHIR and DICOM SR forms of a result. */
export const SR_AND_FHIR_CONTENT = {
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
} as const;
