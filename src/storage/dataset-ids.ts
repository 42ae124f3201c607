import { isDatasetId } from '../domain/ids.ts';
import { randomId } from '../domain/random-id.ts';

/** `ds_` + 16 base32 characters (80 random bits): see DATASET_ID_PATTERN. */
export function newDatasetId(): string {
  return randomId('ds_');
}

/** Only ids that pass this ever reach a file path. */
export { isDatasetId };
