import { Type, type Static } from '@sinclair/typebox';
import { AliasName, ModelName, VersionNumber } from '../schemas/ids.ts';

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
