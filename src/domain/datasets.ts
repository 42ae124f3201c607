/** Limits on what a client names a dataset: the HTTP schema, the dataset service and the store all use these. */

/** A dataset's display name has 1 to this many characters (after trimming). */
export const DATASET_NAME_MAX_LENGTH = 100;
