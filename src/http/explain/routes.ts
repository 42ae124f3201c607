import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config.ts';
import { DEFAULT_OVERLAY_MAX_SIDE, MAX_OVERLAY_SIDE, MIN_OVERLAY_SIDE } from '../../imaging/overlay.ts';
import { heatmapNote, type PredictionService, type PredictionTarget } from '../../services/predictions.ts';
import { hideBinaryBody, imageDocumentedForms, imageJsonBody, readImages, registerImageInput } from '../image-input.ts';
import { IMAGE_ERRORS, Label, ModelRef, Probability, Threshold } from '../predict/schemas.ts';
import { errorResponses, JSON_TOO_DEEP } from '../schemas/error.ts';
import { EXAMPLE_HEAT_LAYER_BASE64, EXAMPLE_HEATMAP_BASE64, EXAMPLE_MODEL, EXAMPLE_THRESHOLD, EXAMPLE_VERSION } from '../schemas/examples.ts';
import { AliasName, ModelName, VersionNumber } from '../schemas/ids.ts';
import { documentedBody } from '../schemas/openapi.ts';

/** What the route uses: the limits and default model name, and the prediction service's explain. */
export interface ExplainRouteDeps {
  readonly config: Config;
  readonly predictions: Pick<PredictionService, 'explain'>;
}

const ExplainQuery = Type.Object(
  {
    model: Type.Optional(ModelName),
    version: Type.Optional(VersionNumber),
    alias: Type.Optional(AliasName),
    maxSide: Type.Optional(
      Type.Integer({
        minimum: MIN_OVERLAY_SIDE,
        maximum: MAX_OVERLAY_SIDE,
        default: DEFAULT_OVERLAY_MAX_SIDE,
        description: `Longest side of the heat map images in pixels (default ${DEFAULT_OVERLAY_MAX_SIDE}); the image's aspect is kept and it is never enlarged`,
      }),
    ),
  },
  { additionalProperties: false },
);

const Side = Type.Integer({ minimum: 1 });

const ExplainJson = Type.Object({
  model: ModelRef,
  probability: Probability,
  label: Label,
  threshold: Threshold,
  heatmap: Type.String({
    contentEncoding: 'base64',
    contentMediaType: 'image/png',
    description: "PNG (base64, RGB) of the Grad-CAM heat map blended over the grey X-ray, width x height: the image's own aspect",
  }),
  heatLayer: Type.String({
    contentEncoding: 'base64',
    contentMediaType: 'image/png',
    description: 'PNG (base64, RGBA) of the heat map alone, width x height, transparent where cold: lay it over the original at any opacity',
  }),
  width: Type.Integer({ minimum: 1, description: 'Width of both PNGs' }),
  height: Type.Integer({ minimum: 1, description: 'Height of both PNGs' }),
  geometry: Type.Union([Type.Literal('original'), Type.Literal('model-input')], {
    description:
      "original: the image's own aspect, scaled down to maxSide; model-input: the square the model saw (for a format the overlay cannot redraw)",
  }),
  source: Type.Union([Type.Object({ width: Side, height: Side }), Type.Null()], {
    description: 'Size of the image as sent (EXIF orientation applied); null with geometry model-input',
  }),
  layer: Type.String({ description: 'Layer whose activations are explained', examples: ['conv4'] }),
  method: Type.String({ description: 'gradcam (channel weights) or layercam (per-position weights)', examples: ['layercam'] }),
  grid: Type.Object(
    { rows: Side, cols: Side },
    { description: "The layer's feature grid: the map's true resolution, smoothed (bicubic) up to width x height" },
  ),
  inputSize: Type.Integer({ minimum: 1, description: 'Side of the square the model saw (the image squashed to it)' }),
  explainedClass: Type.String({ description: 'The class whose evidence the map shows (the positive class)', examples: ['PNEUMONIA'] }),
  note: Type.String({ description: 'What the heat map does and does not mean' }),
});

const EXPLAIN_EXAMPLE: Static<typeof ExplainJson> = {
  model: { name: EXAMPLE_MODEL, version: EXAMPLE_VERSION },
  probability: 0.9412,
  label: 'PNEUMONIA',
  threshold: EXAMPLE_THRESHOLD,
  heatmap: EXAMPLE_HEATMAP_BASE64,
  heatLayer: EXAMPLE_HEAT_LAYER_BASE64,
  width: 16,
  height: 16,
  geometry: 'original',
  source: { width: 16, height: 16 },
  layer: 'conv4',
  method: 'layercam',
  grid: { rows: 32, cols: 32 },
  inputSize: 256,
  explainedClass: 'PNEUMONIA',
  note: heatmapNote('PNEUMONIA', { rows: 32, cols: 32 }),
};

/** Headers of the image/png answer: the prediction the heat map explains. */
const PNG_HEADERS = {
  'x-model-name': Type.String({ description: 'Model that answered', examples: [EXAMPLE_MODEL] }),
  'x-model-version': Type.Integer({ description: 'Version that answered', examples: [EXAMPLE_VERSION] }),
  'x-probability': Type.Number({ description: 'Probability of the positive class', examples: [0.9412] }),
  'x-label': Type.String({ description: 'Predicted class name (percent-encoded when not printable ASCII)', examples: ['PNEUMONIA'] }),
  'x-threshold': Type.Number({ description: 'Decision threshold of the version', examples: [EXAMPLE_THRESHOLD] }),
  'x-heatmap-layer': Type.String({ description: 'Layer explained and method, e.g. conv4 (layercam)', examples: ['conv4 (layercam)'] }),
  vary: Type.String({ description: 'On both answers: which one you get depends on Accept', examples: ['Accept'] }),
};

/** Quality (q) the Accept header gives a media type: its most specific matching range wins. */
function quality(accept: readonly { type: string; q: number }[], media: string): number {
  const [main] = media.split('/');
  let best = -1;
  let q = 0;
  for (const r of accept) {
    const specificity = r.type === media ? 2 : r.type === `${main}/*` ? 1 : r.type === '*/*' ? 0 : -1;
    if (specificity > best) {
      best = specificity;
      q = r.q;
    }
  }
  return q;
}

/**
 * True when the client's Accept prefers image/png over application/json: a higher q; at the same
 * q, image/png named explicitly (before application/json when both are). No Accept header, or
 * only wildcards, means JSON.
 */
export function prefersPng(header: string | undefined): boolean {
  if (!header) return false;
  const ranges = header.split(',').map((part) => {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    return { type, q: Number.isFinite(q) ? q : 0 };
  });
  const png = quality(ranges, 'image/png');
  const json = quality(ranges, 'application/json');
  if (png !== json) return png > json;
  if (png <= 0) return false;
  // A tie: the type named explicitly wins; both named: the one listed first.
  const at = (media: string) => ranges.findIndex((r) => r.type === media);
  const pngAt = at('image/png');
  const jsonAt = at('application/json');
  if (pngAt === -1) return false;
  return jsonAt === -1 || pngAt < jsonAt;
}

/** Header-safe text: printable ASCII as is, anything else percent-encoded (class names come from folder names). */
const headerText = (s: string) => (/^[\x20-\x7e]*$/.test(s) ? s : encodeURIComponent(s));

/** POST /v1/explain: Grad-CAM heat map for one image, as a PNG or as JSON with the PNG in base64. */
export default async function explainRoutes(fastify: FastifyInstance, opts: { deps: ExplainRouteDeps }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { config, predictions } = opts.deps;
  const bodyLimit = config.limits.requestBytes;
  await registerImageInput(app, { bodyLimit });
  const limits = { maxImages: 1, maxBytes: bodyLimit, exactlyOne: true };

  app.post('/v1/explain', {
    bodyLimit,
    // JSON is validated by Fastify; the multipart and raw forms are read by the handler and documented only.
    config: { auth: 'predict', swaggerTransform: documentedBody(imageDocumentedForms(1, '/v1/explain')) },
    preValidation: hideBinaryBody,
    schema: {
      tags: ['predict'],
      summary: 'Explain one prediction with a Grad-CAM heat map',
      description:
        'Same inputs as POST /v1/predict (PNG, JPEG or DICOM), exactly one image. Answers image/png (the heat map blended over the ' +
        'X-ray, with the prediction in X-Model-Name, X-Model-Version, X-Probability, X-Label and X-Threshold ' +
        'headers) when the Accept header prefers image/png; otherwise JSON with that PNG and the heat map alone ' +
        "(RGBA) in base64, their size, the layer explained and a note on what a heat map means. The images have the X-ray's " +
        'own aspect and size, scaled down to `maxSide` (default 1024) on the long side. `model` chooses the model ' +
        '(default: the default model), `version`/`alias` the version.',
      operationId: 'explain',
      querystring: ExplainQuery,
      body: imageJsonBody(1),
      response: {
        200: {
          description:
            'The heat map and the prediction it explains: JSON (the default), or the PNG itself when Accept prefers image/png, ' +
            'with the prediction in the X- headers (which only the image/png answer has).',
          headers: PNG_HEADERS,
          content: {
            'application/json': { schema: ExplainJson, example: EXPLAIN_EXAMPLE },
            'image/png': {
              schema: Type.Unsafe<Buffer>(Type.String({ format: 'binary', contentMediaType: 'image/png' })),
              examples: {
                heatmap: {
                  summary: 'The heat map over the X-ray (binary PNG)',
                  description:
                    "An RGB PNG in the X-ray's own aspect (long side at most maxSide, 1024 by default): the X-ray in grey with the Grad-CAM heat map " +
                    "blended over it, warm where the evidence for the positive class is. Ask for it with `curl -H 'accept: image/png' " +
                    "-F image=@xray.png -o heatmap.png $API/v1/explain`.",
                },
              },
            },
          },
        },
        ...errorResponses({
          400: [
            { code: 'BAD_REQUEST', message: 'send exactly one image (got 2)' },
            { code: 'VALIDATION_FAILED', message: 'body/images: expected array length to be less or equal to 1', details: { errors: ['body/images: expected array length to be less or equal to 1'] } },
            JSON_TOO_DEEP,
          ],
          404: IMAGE_ERRORS[404],
          413: { code: 'IMAGE_TOO_LARGE', message: 'image: image is 12000x9000 (108.0 megapixels); the limit is 100.0 megapixels', details: { index: 0 } },
          415: [
            IMAGE_ERRORS[415][0]!,
            { code: 'UNSUPPORTED_IMAGE_FORMAT', message: 'image: not a PNG, JPEG or DICOM image (looks like TIFF)', details: { index: 0 } },
            { code: 'DICOM_TRANSFER_SYNTAX_UNSUPPORTED', message: 'image: transfer syntax 1.2.840.10008.1.2.2 (Explicit VR Big Endian (retired)) in (0002,0010) TransferSyntaxUID is not supported', details: { index: 0 } },
          ],
          422: [
            { code: 'IMAGE_TRUNCATED', message: 'image: PNG image is truncated (vipspng: libpng read error)', details: { index: 0 } },
            { code: 'IMAGE_CORRUPT', message: 'image: JPEG image is corrupt (Input buffer has corrupt header: VipsJpeg: premature end of JPEG image)', details: { index: 0 } },
            { code: 'DICOM_VIEW_NOT_ACCEPTED', message: 'image: (0018,5101) ViewPosition LL is a lateral view; frontal (PA, AP) views are read', details: { index: 0 } },
          ],
          503: IMAGE_ERRORS[503],
        }),
      },
    },
    handler: async (request, reply) => {
      const [image] = await readImages(request, limits);
      const { model, version, alias, maxSide } = request.query;
      const target: PredictionTarget = {
        name: model ?? config.defaultModelName,
        ...(version !== undefined ? { version } : {}),
        ...(alias !== undefined ? { alias } : {}),
      };
      const wantsPng = prefersPng(request.headers.accept);
      const result = await predictions.explain(image!, target, { maxSide: maxSide ?? DEFAULT_OVERLAY_MAX_SIDE });
      reply.header('vary', 'Accept');
      if (wantsPng) {
        return reply
          .type('image/png')
          .header('x-model-name', headerText(result.model.name))
          .header('x-model-version', String(result.model.version))
          .header('x-probability', String(result.probability))
          .header('x-label', headerText(result.label))
          .header('x-threshold', String(result.threshold))
          .header('x-heatmap-layer', headerText(`${result.layer} (${result.method})`))
          .send(result.png);
      }
      const { png, heatLayer, ...rest } = result;
      return reply.type('application/json; charset=utf-8').send({
        ...rest,
        heatmap: png.toString('base64'),
        heatLayer: heatLayer.toString('base64'),
      });
    },
  });
}
