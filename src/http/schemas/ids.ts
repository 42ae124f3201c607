import { Type } from '@sinclair/typebox';
import { ALIAS_PATTERN, DATASET_ID_PATTERN, MODEL_NAME_PATTERN } from '../../domain/ids.ts';
import { EXAMPLE_DATASET_ID, EXAMPLE_VERSION } from './examples.ts';

/*
 * Path parameters shared by routes, with the patterns of src/domain/ids.ts (the same ones storage
 * checks), so malformed ids ("..%2F..", "ABC", "0") are answered 400 VALIDATION_FAILED before
 * anything touches the disk.
 */

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
