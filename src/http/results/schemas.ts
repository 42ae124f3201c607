import { Type, type Static } from '@sinclair/typebox';
import { RESULT_ID_PATTERN } from '../../domain/ids.ts';
import { EXAMPLE_MODEL, EXAMPLE_THRESHOLD, EXAMPLE_VERSION } from '../schemas/examples.ts';
import { Label, Probability, Threshold } from '../predict/schemas.ts';
import { ModelName, VersionNumber } from '../schemas/ids.ts';
import { withExample } from '../schemas/openapi.ts';

export const EXAMPLE_RESULT_ID = 'res_m4q7zt2kxv6hw3na';
export const EXAMPLE_CONTENT_HASH = '9c1e5f0a7b3d42e8a6c9f1b0d7e2a45c3b8f6d09e1a2c4b7f5d3e8a0c6b9d21f';

export const ResultId = Type.String({ pattern: RESULT_ID_PATTERN, description: 'Result id', examples: [EXAMPLE_RESULT_ID] });
export const ResultParams = Type.Object({ id: ResultId });
export type ResultParams = Static<typeof ResultParams>;

const Nullable = <T extends ReturnType<typeof Type.String>>(s: T) => Type.Union([s, Type.Null()]);

export const ResultJson = Type.Object(
  {
    id: ResultId,
    createdAt: Type.String({ format: 'date-time' }),
    via: Type.Union([Type.Literal('stow-rs'), Type.Literal('predict')], { description: 'How the instance arrived' }),
    model: Type.Object({
      name: ModelName,
      version: VersionNumber,
      contentHash: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the version\'s model.json and weights.bin' }),
    }),
    probability: Probability,
    label: Label,
    threshold: Threshold,
    finding: Type.Object(
      {
        system: Type.Literal('http://snomed.info/sct'),
        code: Type.Union([Type.Literal('233604007'), Type.Literal('17621005')]),
        display: Type.String(),
      },
      { description: 'The conclusion in SNOMED CT: 233604007 Pneumonia, or 17621005 Normal' },
    ),
    source: Type.Object(
      {
        modality: Nullable(Type.String()),
        viewPosition: Nullable(Type.String()),
        bodyPartExamined: Nullable(Type.String()),
        sopClass: Nullable(Type.String()),
        rows: Type.Integer({ minimum: 1 }),
        columns: Type.Integer({ minimum: 1 }),
        lossyImageCompression: Type.Boolean(),
      },
      { description: 'De-identified facts about the analysed image (no names, ids, dates or UIDs)' },
    ),
    notice: Type.String(),
  },
  { additionalProperties: false },
);
export type ResultJson = Static<typeof ResultJson>;

export const RESULT_EXAMPLE: ResultJson = {
  id: EXAMPLE_RESULT_ID,
  createdAt: '2025-06-04T10:12:45.331Z',
  via: 'stow-rs',
  model: { name: EXAMPLE_MODEL, version: EXAMPLE_VERSION, contentHash: EXAMPLE_CONTENT_HASH },
  probability: 0.9412,
  label: 'PNEUMONIA',
  threshold: EXAMPLE_THRESHOLD,
  finding: { system: 'http://snomed.info/sct', code: '233604007', display: 'Pneumonia' },
  source: { modality: 'CR', viewPosition: 'PA', bodyPartExamined: 'CHEST', sopClass: 'Computed Radiography Image Storage', rows: 2500, columns: 2048, lossyImageCompression: false },
  notice: 'RESEARCH USE ONLY: an automated estimate, not a diagnosis; not for clinical use.',
};

export const ResultAnswer = withExample(ResultJson, RESULT_EXAMPLE, 'The result');
