import { Type, type Static } from '@sinclair/typebox';
import { AliasName, ModelName, VersionNumber } from '../schemas/ids.ts';

export const ModelParams = Type.Object({ name: ModelName });
export const VersionParams = Type.Object({ name: ModelName, version: VersionNumber });
export const AliasParams = Type.Object({ name: ModelName, alias: AliasName });
export type ModelParams = Static<typeof ModelParams>;
export type VersionParams = Static<typeof VersionParams>;
export type AliasParams = Static<typeof AliasParams>;

const NullableVersion = Type.Union([VersionNumber, Type.Null()]);
const AliasMap = Type.Record(Type.String(), Type.Integer(), {
  description: 'Alias -> version, e.g. {"production": 3}',
});

export const ModelSummary = Type.Object({
  name: ModelName,
  latestVersion: NullableVersion,
  versionCount: Type.Integer({ minimum: 0 }),
  aliases: AliasMap,
  updatedAt: Type.String({ format: 'date-time' }),
});

export const ModelVersion = Type.Object({
  name: ModelName,
  version: VersionNumber,
  createdAt: Type.String({ format: 'date-time' }),
  aliases: Type.Array(Type.String(), { description: 'Aliases pointing at this version' }),
  metadata: Type.Record(Type.String(), Type.Unknown(), {
    description: 'What training recorded: dataset, parameters, test metrics, decision threshold, input size',
  }),
});

export const ModelList = Type.Object({
  defaultModel: Type.String({ description: 'The model POST /v1/predict serves' }),
  models: Type.Array(ModelSummary),
});

export const ModelDetail = Type.Object({
  name: ModelName,
  aliases: AliasMap,
  versions: Type.Array(ModelVersion),
});

export const SetAliasBody = Type.Object({ version: VersionNumber }, { additionalProperties: false });
export type SetAliasBody = Static<typeof SetAliasBody>;

export const AliasMoved = Type.Object({
  alias: AliasName,
  version: VersionNumber,
  previous: Type.Union([VersionNumber, Type.Null()], { description: 'Where the alias pointed before; null if it is new' }),
});

export const NoContent = Type.Null({ description: 'Done; no body' });
