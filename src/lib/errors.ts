/**
 * One error type for everything a client may see. `reason` is a stable machine-readable detail
 * such as KEY_REVOKED, from the one table below; the reason decides `code` (tRPC's vocabulary),
 * and the code decides the HTTP status, the same on /trpc and /v1. The dashboard imports `Reason`
 * (as a type) to match on reasons.
 */
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';

/**
 * Every reason a client can see, with its one code. A situation that needs another status needs
 * another reason. The last entries of some groups are tRPC's own errors (no AppError behind them:
 * trpc/errors.ts `reasonOfTRPCCode`).
 */
export const REASONS = {
  // 400
  INVALID_INPUT: 'BAD_REQUEST',
  INVALID_JSON: 'BAD_REQUEST',
  IDEMPOTENCY_NOT_SUPPORTED: 'BAD_REQUEST',
  CONFIRMATION_MISMATCH: 'BAD_REQUEST',
  INVALID_BUNDLE: 'BAD_REQUEST',
  UNKNOWN_FIELD: 'BAD_REQUEST',
  INVALID_QUERY: 'BAD_REQUEST',
  INVALID_FILTER: 'BAD_REQUEST',
  QUERY_TIMEOUT: 'BAD_REQUEST',
  /** OData: a system query option or feature the service does not implement ($expand, $search, $batch…). */
  UNSUPPORTED_OPTION: 'BAD_REQUEST',
  /** tRPC: a malformed call (`input` not JSON, a batch's shape, the path's encoding). */
  BAD_REQUEST: 'BAD_REQUEST',
  /** tRPC: `connectionParams` is not JSON. */
  PARSE_ERROR: 'PARSE_ERROR',
  // 401: the credential did not authenticate.
  KEY_MISSING: 'UNAUTHORIZED',
  KEY_MALFORMED: 'UNAUTHORIZED',
  KEY_UNKNOWN: 'UNAUTHORIZED',
  KEY_REVOKED: 'UNAUTHORIZED',
  KEY_EXPIRED: 'UNAUTHORIZED',
  USER_DISABLED: 'UNAUTHORIZED',
  INVALID_CREDENTIALS: 'UNAUTHORIZED',
  // 403
  TENANT_SUSPENDED: 'FORBIDDEN',
  TENANT_MISMATCH: 'FORBIDDEN',
  TENANT_NOT_SERVED_HERE: 'FORBIDDEN',
  TENANT_KEY_REQUIRED: 'FORBIDDEN',
  SESSION_REQUIRED: 'FORBIDDEN',
  PASSWORD_CHANGE_REQUIRED: 'FORBIDDEN',
  INSUFFICIENT_ROLE: 'FORBIDDEN',
  PLATFORM_ADMIN_REQUIRED: 'FORBIDDEN',
  // 404. NOT_FOUND also answers for another tenant's rows.
  NOT_FOUND: 'NOT_FOUND',
  UNKNOWN_DATASET: 'NOT_FOUND',
  /** No such REST route or tRPC procedure. */
  ROUTE_NOT_FOUND: 'NOT_FOUND',
  /** tRPC: a mutation over GET, a query over POST. */
  METHOD_NOT_SUPPORTED: 'METHOD_NOT_SUPPORTED',
  // 409
  ALREADY_EXISTS: 'CONFLICT',
  EMAIL_TAKEN: 'CONFLICT',
  SLUG_TAKEN: 'CONFLICT',
  CUSTOMER_HAS_ORDERS: 'CONFLICT',
  LAST_OWNER: 'CONFLICT',
  /** Rotating a revoked key (authenticating with one is KEY_REVOKED, 401). */
  KEY_ALREADY_REVOKED: 'CONFLICT',
  /** Rotating an expired key (authenticating with one is KEY_EXPIRED, 401). */
  KEY_ALREADY_EXPIRED: 'CONFLICT',
  TENANT_NOT_EMPTY: 'CONFLICT',
  SEED_EXISTS: 'CONFLICT',
  IDEMPOTENCY_KEY_REUSED: 'CONFLICT',
  /** tRPC: a content type it does not read. */
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  // 429
  TOO_MANY_REQUESTS: 'TOO_MANY_REQUESTS',
  LOGIN_THROTTLED: 'TOO_MANY_REQUESTS',
  // 500: details only in the server log, under the request id.
  INTERNAL: 'INTERNAL_SERVER_ERROR',
  // 503, with Retry-After.
  DATABASE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  DATABASE_BUSY: 'SERVICE_UNAVAILABLE',
  /** The tenant already has TENANT_MAX_CONCURRENCY requests in flight here and none finished in time. */
  TENANT_BUSY: 'SERVICE_UNAVAILABLE',
  SHUTTING_DOWN: 'SERVICE_UNAVAILABLE',
} as const satisfies Record<string, TRPC_ERROR_CODE_KEY>;

export type Reason = keyof typeof REASONS;
export type ErrorCode = (typeof REASONS)[Reason];
/** The reasons of one code: `ReasonOf<'BAD_REQUEST'>`. */
export type ReasonOf<C extends ErrorCode> = { [R in Reason]: (typeof REASONS)[R] extends C ? R : never }[Reason];

/** The HTTP status of each code, as tRPC answers it (src/lib/errors.test.ts holds the two equal). */
export const HTTP_STATUS = {
  BAD_REQUEST: 400,
  PARSE_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_SUPPORTED: 405,
  CONFLICT: 409,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOO_MANY_REQUESTS: 429,
  INTERNAL_SERVER_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
} as const satisfies Record<ErrorCode, number>;

export function isReason(value: unknown): value is Reason {
  return typeof value === 'string' && Object.hasOwn(REASONS, value);
}

export class AppError extends Error {
  override readonly name = 'AppError';
  /** tRPC's code for the reason, and so the HTTP status. */
  readonly code: ErrorCode;
  /** When to try again, in seconds: sent as `Retry-After` by both transports (503s). */
  readonly retryAfterSeconds: number | undefined;
  constructor(
    readonly reason: Reason,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, options);
    this.code = REASONS[reason];
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/** Another tenant's row and a row that does not exist answer the same way. */
export function notFound(what: string): AppError {
  return new AppError('NOT_FOUND', `${what} not found`);
}
