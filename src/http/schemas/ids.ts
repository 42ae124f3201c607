import { Type } from '@sinclair/typebox';
import { EXAMPLE_DATASET_ID, EXAMPLE_VERSION } from './examples.ts';

/*
 * Path parameters shared by routes. The patterns mirror what the storage layer accepts
 * (src/storage/model-validation.ts, src/storage/dataset-store.ts) so malformed ids ("..%2F..",
 * "ABC", "0") are answered 400 VALIDATION_FAILED before anything touches the disk; a unit test
 * keeps the two in agreement.
 */
export const MODEL_NAME_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
export const ALIAS_PATTERN = '^[a-z][a-z0-9-]{0,31}$';
export const DATASET_ID_PATTERN = '^ds_[a-z2-7]{16}$';

export const ModelName = Type.String({
  pattern: MODEL_NAME_PATTERN,
  description: 'Model name: lower-case letters, digits and dashes',
  examples: ['chestxraynet'],
});
export const AliasName = Type.String({
  pattern: ALIAS_PATTERN,
  description: 'Alias name: a lower-case letter, then letters, digits and dashes; `production` is the default',
  examples: ['production'],
});
export const VersionNumber = Type.Integer({
  minimum: 1,
  maximum: Number.MAX_SAFE_INTEGER,
  description: 'Model version, from 1',
  examples: [EXAMPLE_VERSION],
});
export const DatasetId = Type.String({ pattern: DATASET_ID_PATTERN, description: 'Dataset id', examples: [EXAMPLE_DATASET_ID] });
