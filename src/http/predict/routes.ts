import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config.ts';
import { looksLikeDicom } from '../../imaging/dicom/index.ts';
import type { PredictionService, PredictionTarget } from '../../services/predictions.ts';
import type { ResultService } from '../../services/results.ts';
import { negotiate, type Offer } from '../accept.ts';
import { hideBinaryBody, imageDocumentedForms, imageJsonBody, readImages, registerImageInput } from '../image-input.ts';
import { errorResponses, JSON_TOO_DEEP } from '../schemas/error.ts';
import { EXAMPLE_MODEL } from '../schemas/examples.ts';
import { DICOM_SR_OFFER, FHIR_JSON, notAcceptable, sendResult, SR_AND_FHIR_CONTENT } from '../results/representation.ts';
import { documentedBody } from '../schemas/openapi.ts';
import { IMAGE_ERRORS, ModelParams, PredictAnswer, TargetQuery } from './schemas.ts';

/** What these routes use: the limits and default model name, predict, and results for a single DICOM image. */
export interface PredictRouteDeps {
  readonly config: Config;
  readonly predictions: Pick<PredictionService, 'predict'>;
  readonly results: Pick<ResultService, 'analyseDicom' | 'get' | 'fhir' | 'dicomSr'>;
}

const JSON_OFFER: Offer = { type: 'application/json' };
/** JSON first (no Accept, or * / *, answers JSON); FHIR and SR only for one DICOM image. */
const OFFERS: readonly Offer[] = [JSON_OFFER, { type: FHIR_JSON }, DICOM_SR_OFFER];

const tags = ['predict'];
const ERRORS = errorResponses({
  400: [
    { code: 'BAD_REQUEST', message: 'images[1] is not valid base64', details: { index: 1 } },
    { code: 'VALIDATION_FAILED', message: 'body/images: expected array length to be greater or equal to 1', details: { errors: ['body/images: expected array length to be greater or equal to 1'] } },
    JSON_TOO_DEEP,
  ],
  ...IMAGE_ERRORS,
  406: {
    code: 'NOT_ACCEPTABLE',
    message: 'A prediction is available as application/json, application/fhir+json or application/dicom (explicit VR little endian); the Accept header allows none of them',
  },
});
const ANSWER = {
  description: 'The predictions as JSON, or for one DICOM image the result as a FHIR R4 Bundle or a DICOM SR, by Accept',
  headers: {
    vary: Type.String({ description: 'The form depends on Accept', examples: ['Accept'] }),
    'content-location': Type.Optional(Type.String({ description: 'The kept result (FHIR and SR answers only)', examples: ['/v1/results/res_m4q7zt2kxv6hw3na'] })),
  },
  content: { 'application/json': { schema: PredictAnswer, example: PredictAnswer.examples[0] }, ...SR_AND_FHIR_CONTENT },
};
const DESCRIPTION =
  'Pneumonia probability for each image (PNG, JPEG or DICOM). Send images as multipart/form-data `image` parts (one or more), ' +
  'as one raw image/png, image/jpeg or application/dicom body, or as JSON {"images": [base64, ...]}. DICOM: Part 10 files ' +
  '(or bare little-endian data sets) of the accepted modalities (DICOM_MODALITIES, default CR and DX), greyscale, the first ' +
  'frame of multi-frame objects, through their Modality and VOI LUTs to 8 bits, then the same preprocessing as PNG. ' +
  'Choose the version with `version` or `alias`; otherwise the `production` alias serves, else the latest version. ' +
  'Bad images are answered 415 (not PNG/JPEG/DICOM, or an unsupported DICOM transfer syntax, named), 422 (empty, truncated, ' +
  'corrupt, zero-size; DICOM objects that are not images, or of a refused modality, view or frame count, naming the attribute) ' +
  'or 413 (too many pixels, or too costly to decode) with the index of the failing image in error.details.index; 503 with ' +
  'Retry-After while no version exists. For one DICOM image, `Accept: application/fhir+json` answers a FHIR R4 Bundle and ' +
  '`Accept: application/dicom` a DICOM SR, as GET /v1/results/{id} does: the analysis is kept as a result (its id in ' +
  'Content-Location) and, with RESULTS_DICOMWEB_URL, its SR goes to the PACS. Those forms for any other input are 406.';

/**
 * POST /v1/predict (the default model), POST /v1/models/:name/predict, and POST /predict (the same
 * as /v1/predict: the name users look for first).
 */
export default async function predictRoutes(fastify: FastifyInstance, opts: { deps: PredictRouteDeps }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { config, predictions, results } = opts.deps;
  const bodyLimit = config.limits.requestBytes;
  await registerImageInput(app, { bodyLimit });
  const limits = { maxImages: config.limits.imagesPerRequest, maxBytes: bodyLimit };
  // JSON is validated by Fastify; the multipart and raw forms are read by the handler and documented only.
  const body = imageJsonBody(config.limits.imagesPerRequest);
  const documented = (path: string) => documentedBody(imageDocumentedForms(config.limits.imagesPerRequest, path));

  const handle = async (request: FastifyRequest, reply: FastifyReply, { version, alias }: TargetQuery, name: string) => {
    const offer = negotiate(request.headers.accept, OFFERS);
    reply.header('vary', 'Accept');
    if (!offer) throw notAcceptable('A prediction');
    const images = await readImages(request, limits);
    const target: PredictionTarget = {
      name,
      ...(version !== undefined ? { version } : {}),
      ...(alias !== undefined ? { alias } : {}),
    };
    if (offer !== JSON_OFFER) {
      const single = images.length === 1 && looksLikeDicom(images[0]!);
      if (single) {
        const { result } = await results.analyseDicom(images[0]!, target, 'predict');
        reply.header('content-location', `/v1/results/${result.id}`);
        return sendResult(reply, results, offer.type, result.id);
      }
      // FHIR and SR describe one DICOM instance; anything else is JSON or nothing.
      if (!negotiate(request.headers.accept, [JSON_OFFER])) {
        throw notAcceptable('A prediction for this input (FHIR and DICOM SR answer one DICOM image only)');
      }
    }
    return reply.type('application/json; charset=utf-8').send(await predictions.predict(images, target));
  };

  const defaultModelRoute = (url: string, operationId: string, summary: string) =>
    app.post(url, {
      bodyLimit,
      config: { auth: 'predict', swaggerTransform: documented(url) },
      preValidation: hideBinaryBody,
      schema: {
        tags,
        summary,
        description: DESCRIPTION,
        operationId,
        querystring: TargetQuery,
        body,
        response: { 200: ANSWER, ...ERRORS },
      },
      handler: (request, reply) => handle(request, reply, request.query, config.defaultModelName),
    });

  defaultModelRoute('/v1/predict', 'predict', 'Classify chest X-rays with the default model');
  defaultModelRoute('/predict', 'predictUnversioned', 'Classify chest X-rays (same as POST /v1/predict)');

  app.post('/v1/models/:name/predict', {
    bodyLimit,
    config: { auth: 'predict', swaggerTransform: documented(`/v1/models/${EXAMPLE_MODEL}/predict`) },
    preValidation: hideBinaryBody,
    schema: {
      tags,
      summary: 'Classify chest X-rays with a named model',
      description: DESCRIPTION,
      operationId: 'predictWithModel',
      params: ModelParams,
      querystring: TargetQuery,
      body,
      response: { 200: ANSWER, ...ERRORS },
    },
    handler: (request, reply) => handle(request, reply, request.query, request.params.name),
  });
}
