/**
 * The one home of every identifier's shape. HTTP schemas, storage and the queue all take their
 * patterns from here, so a malformed id is refused the same way at every door and can never reach
 * a file path or a Redis key.
 */
export const MODEL_NAME_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
export const ALIAS_PATTERN = '^[a-z][a-z0-9-]{0,31}$';
export const DATASET_ID_PATTERN = '^ds_[a-z2-7]{16}$';
export const JOB_ID_PATTERN = '^job_[a-z2-7]{16}$';
/** An external evaluation of a model version (src/services/evaluations.ts). */
export const EVALUATION_ID_PATTERN = '^ev_[a-z2-7]{16}$';
/** A stored analysis result (GET /v1/results/{id}); made by randomId('res_'). */
export const RESULT_ID_PATTERN = '^res_[a-z2-7]{16}$';

const MODEL_NAME_RE = new RegExp(MODEL_NAME_PATTERN);
const ALIAS_RE = new RegExp(ALIAS_PATTERN);
const DATASET_ID_RE = new RegExp(DATASET_ID_PATTERN);
const JOB_ID_RE = new RegExp(JOB_ID_PATTERN);
const EVALUATION_ID_RE = new RegExp(EVALUATION_ID_PATTERN);
const RESULT_ID_RE = new RegExp(RESULT_ID_PATTERN);

export const isModelName = (name: unknown): name is string => typeof name === 'string' && MODEL_NAME_RE.test(name);
export const isAliasName = (alias: unknown): alias is string => typeof alias === 'string' && ALIAS_RE.test(alias);
export const isDatasetId = (id: unknown): id is string => typeof id === 'string' && DATASET_ID_RE.test(id);
export const isJobId = (id: unknown): id is string => typeof id === 'string' && JOB_ID_RE.test(id);
export const isEvaluationId = (id: unknown): id is string => typeof id === 'string' && EVALUATION_ID_RE.test(id);
export const isResultId = (id: unknown): id is string => typeof id === 'string' && RESULT_ID_RE.test(id);
export const isVersionNumber = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;
