/**
 * The one catalogue of coded errors. Anything thrown with one of these codes reaches HTTP clients
 * as {"error":{"code","message"}} with the status below; anything else is a 500.
 * Add codes here (never inline status numbers elsewhere).
 */
export const ERROR_CATALOGUE = {
  // 400: the request is malformed
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  INVALID_ARCHIVE: 400,
  UNSAFE_ARCHIVE_ENTRY: 400,
  JSON_TOO_DEEP: 400,
  // 408/431: the HTTP request itself (a body not sent in time, headers over the size limit)
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
  // 401/403: auth
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  // 404
  NOT_FOUND: 404,
  DATASET_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  VERSION_NOT_FOUND: 404,
  ALIAS_NOT_FOUND: 404,
  EVALUATION_NOT_FOUND: 404,
  // 409: state conflicts
  CONFLICT: 409,
  DATASET_IN_USE: 409,
  VERSION_IN_USE: 409,
  JOB_FINISHED: 409,
  // 413: too big
  PAYLOAD_TOO_LARGE: 413,
  ARCHIVE_TOO_LARGE: 413,
  IMAGE_TOO_LARGE: 413,
  // decoding the image would take more memory than one image may (interlaced, progressive, very wide)
  IMAGE_TOO_COSTLY: 413,
  // 415: wrong media type
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNSUPPORTED_IMAGE_FORMAT: 415,
  // 422: well-formed but unusable content
  IMAGE_EMPTY: 422,
  IMAGE_CORRUPT: 422,
  IMAGE_TRUNCATED: 422,
  IMAGE_ZERO_SIZE: 422,
  DATASET_TOO_SMALL: 422,
  DATASET_ONE_CLASS: 422,
  DATASET_NO_IMAGES: 422,
  // 429 / 503 / 500
  RATE_LIMITED: 429,
  NO_MODEL: 503,
  QUEUE_UNAVAILABLE: 503,
  ENGINE_UNAVAILABLE: 503,
  UI_NOT_BUILT: 503,
  INTERNAL: 500,
  // 422: a dataset's class folders do not give exactly two classes (wrong positive class, too many)
  DATASET_CLASSES_INVALID: 422,
  // 422: valid training parameters whose estimated peak memory exceeds TRAINING_MEMORY_BUDGET
  TRAINING_TOO_LARGE: 422,
  // DICOM input (src/imaging/dicom): every message names the attribute or transfer syntax concerned
  DICOM_TRANSFER_SYNTAX_UNSUPPORTED: 415,
  DICOM_NOT_AN_IMAGE: 422,
  DICOM_MODALITY_NOT_ACCEPTED: 422,
  DICOM_VIEW_NOT_ACCEPTED: 422,
  DICOM_MULTI_FRAME: 422,
  // 409: moving `production` to a version that scored worse on a dataset both were evaluated on (send force: true to override)
  PROMOTION_WORSE: 409,
  // 400: a training request's groupPattern is unsafe, too long, malformed or lacks exactly one capture group
  INVALID_GROUP_PATTERN: 400,
  // 422: an evaluation dataset's class names are not the model version's [negative, positive] classes
  DATASET_CLASSES_MISMATCH: 422,
  // 503: the model's serving version is not loaded and warm yet (or its load failed; retried)
  MODEL_NOT_READY: 503,
  // 404: a version published before ONNX export (or whose export check failed) has no model.onnx
  ONNX_NOT_AVAILABLE: 404,
  // 422: a DICOM object without (or with a malformed) Study, Series or SOP Instance UID or SOP Class UID cannot be referenced by a result
  DICOM_UID_MISSING: 422,
  // Results of DICOM analyses (GET /v1/results/{id}, STOW-RS): unknown or expired id; an Accept the
  // result has no representation for
  RESULT_NOT_FOUND: 404,
  NOT_ACCEPTABLE: 406,
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = ERROR_CATALOGUE[code];
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
