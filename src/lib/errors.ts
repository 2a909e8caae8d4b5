/**
 * One error type for everything a client may see. `code` is tRPC's vocabulary (and decides the
 * HTTP status); `reason` is a stable machine-readable detail such as KEY_REVOKED.
 */
export const HTTP_STATUS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  TOO_MANY_REQUESTS: 429,
  INTERNAL_SERVER_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof HTTP_STATUS;

export class AppError extends Error {
  override readonly name = 'AppError';
  /** When to try again, in seconds: sent as `Retry-After` by both transports (503s). */
  readonly retryAfterSeconds: number | undefined;
  constructor(
    readonly code: ErrorCode,
    readonly reason: string,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, options);
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/** Another tenant's row and a row that does not exist answer the same way. */
export function notFound(what: string): AppError {
  return new AppError('NOT_FOUND', 'NOT_FOUND', `${what} not found`);
}
