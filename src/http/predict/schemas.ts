import { Type, type Static } from '@sinclair/typebox';
import type { ErrorExample } from '../schemas/error.ts';
import { EXAMPLE_MODEL, EXAMPLE_THRESHOLD, EXAMPLE_VERSION } from '../schemas/examples.ts';
import { AliasName, ModelName, VersionNumber } from '../schemas/ids.ts';
import { withExample } from '../schemas/openapi.ts';

/** Which version answers: explicit `version` > `alias` > alias `production` > the latest version. */
export const TargetQuery = Type.Object(
  {
    version: Type.Optional(VersionNumber),
    alias: Type.Optional(AliasName),
  },
  { additionalProperties: false },
);
export type TargetQuery = Static<typeof TargetQuery>;

export const ModelParams = Type.Object({ name: ModelName });
export type ModelParams = Static<typeof ModelParams>;

export const ModelRef = Type.Object(
  { name: ModelName, version: VersionNumber },
  { description: 'The model version that answered' },
);

export const Probability = Type.Number({ minimum: 0, maximum: 1, description: 'Probability of the positive class (e.g. PNEUMONIA)' });
export const Label = Type.String({
  description: "The positive class name when probability >= threshold, else the negative one (the version's classNames)",
  examples: ['PNEUMONIA'],
});
export const Threshold = Type.Number({ minimum: 0, maximum: 1, description: 'Decision threshold of this version (chosen on validation data)' });

export const PredictResponse = Type.Object({
  model: ModelRef,
  predictions: Type.Array(Type.Object({ probability: Probability, label: Label, threshold: Threshold }), {
    description: 'One per image, in the order the images were sent',
  }),
});

export const PredictAnswer = withExample(
  PredictResponse,
  {
    model: { name: EXAMPLE_MODEL, version: EXAMPLE_VERSION },
    predictions: [
      { probability: 0.0874, label: 'NORMAL', threshold: EXAMPLE_THRESHOLD },
      { probability: 0.9412, label: 'PNEUMONIA', threshold: EXAMPLE_THRESHOLD },
    ],
  },
  'One prediction per image, in the order sent, and the version that answered',
);

/** Error examples shared by predict and explain, worded as the service words them. */
export const IMAGE_ERRORS = {
  404: [
    { code: 'MODEL_NOT_FOUND', message: 'No model named "chestxraynet-v2"', details: { name: 'chestxraynet-v2' } },
    { code: 'VERSION_NOT_FOUND', message: `Model '${EXAMPLE_MODEL}' has no version 7`, details: { name: EXAMPLE_MODEL, version: 7 } },
    { code: 'ALIAS_NOT_FOUND', message: `Model '${EXAMPLE_MODEL}' has no alias 'staging'`, details: { name: EXAMPLE_MODEL, alias: 'staging' } },
  ],
  413: [
    { code: 'PAYLOAD_TOO_LARGE', message: 'too many images: at most 64 per request (got 80)', details: { maxImages: 64 } },
    { code: 'IMAGE_TOO_LARGE', message: 'image 1: image is 12000x9000 (108.0 megapixels); the limit is 100.0 megapixels', details: { index: 1 } },
  ],
  415: [
    {
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message:
        'Content-Type text/plain is not accepted here; send multipart/form-data (image parts), image/png, image/jpeg, application/dicom or application/json {"images": [base64, ...]}',
    },
    { code: 'UNSUPPORTED_IMAGE_FORMAT', message: 'image 0: not a PNG, JPEG or DICOM image (looks like TIFF)', details: { index: 0 } },
    {
      code: 'DICOM_TRANSFER_SYNTAX_UNSUPPORTED',
      message: 'image 0: transfer syntax 1.2.840.10008.1.2.4.201 (High-Throughput JPEG 2000 (Lossless Only)) in (0002,0010) TransferSyntaxUID is not supported',
      details: { index: 0 },
    },
  ],
  422: [
    {
      code: 'IMAGE_TRUNCATED',
      message: 'image 1: JPEG image is truncated (Input buffer has corrupt header: VipsJpeg: premature end of JPEG image)',
      details: { index: 1 },
    },
    { code: 'IMAGE_CORRUPT', message: 'image 0: PNG image is corrupt (Input buffer has corrupt header)', details: { index: 0 } },
    { code: 'IMAGE_EMPTY', message: 'image 0: image is empty (0 bytes)', details: { index: 0 } },
    { code: 'DICOM_MODALITY_NOT_ACCEPTED', message: 'image 1: (0008,0060) Modality CT is not accepted; accepted: CR, DX', details: { index: 1 } },
    { code: 'DICOM_NOT_AN_IMAGE', message: 'image 0: (0008,0016) SOPClassUID 1.2.840.10008.5.1.4.1.1.88.11 (Basic Text SR) is not an image', details: { index: 0 } },
  ],
  503: { code: 'NO_MODEL', message: `Model '${EXAMPLE_MODEL}' has no versions yet`, details: { name: EXAMPLE_MODEL } },
} satisfies Record<number, ErrorExample | ErrorExample[]>;
