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
  // 409: state conflicts
  CONFLICT: 409,
  DATASET_IN_USE: 409,
  VERSION_IN_USE: 409,
  JOB_FINISHED: 409,
  // 413: too big
  PAYLOAD_TOO_LARGE: 413,
  ARCHIVE_TOO_LARGE: 413,
  IMAGE_TOO_LARGE: 413,
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
  INTERNAL: 500,
  // 422: a dataset's class folders do not give exactly two classes (wrong positive class, too many)
  DATASET_CLASSES_INVALID: 422,
  // 400: a training request's groupPattern is unsafe, too long, malformed or lacks exactly one capture group
  INVALID_GROUP_PATTERN: 400,
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
