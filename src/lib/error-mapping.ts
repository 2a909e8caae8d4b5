/** What any transport (tRPC, REST) shows for errors that are not AppErrors yet. */
import type { z } from 'zod';
import { AppError } from './errors.js';
import { databaseFailure, isDataException, SQLSTATE, sqlState } from './pg-errors.js';

/**
 * Retry-After of the database's 503s. Short: the pool reconnects within half a second of the
 * database coming back (db/client.ts), and a wait for a connection is bounded (DB_CONNECT_WAIT_MS).
 */
export const DATABASE_RETRY_AFTER_SECONDS = { unavailable: 2, busy: 1 } as const;

/**
 * The database could not be reached, or the connection was lost during the request: 503, never
 * 500. The request did not complete; a write whose COMMIT was not acknowledged may or may not have
 * been applied, and is never retried here.
 */
export function databaseUnavailable(cause?: unknown): AppError {
  return new AppError('DATABASE_UNAVAILABLE', 'The database is not reachable right now; retry shortly.', {
    cause,
    retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS.unavailable,
  });
}

/** No database connection became free in time (DB_CONNECT_WAIT_MS): nothing was sent. */
export function databaseBusy(cause?: unknown): AppError {
  return new AppError('DATABASE_BUSY', 'The server is busy (no database connection became free in time); retry shortly.', {
    cause,
    retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS.busy,
  });
}

/**
 * Whatever a handler threw, as the AppError a client may see. Database errors a module did not
 * translate get generic wording: a row of another tenant is "not found", never "forbidden".
 */
export function toAppError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  switch (databaseFailure(error)) {
    case 'unavailable':
      return databaseUnavailable(error);
    case 'busy':
      return databaseBusy(error);
  }
  // Whatever value zod let through but Postgres cannot store is still the caller's mistake: 400.
  if (isDataException(error)) {
    return new AppError('INVALID_INPUT', 'A value is not valid for its field (check dates and text).', { cause: error });
  }
  switch (sqlState(error)) {
    case SQLSTATE.uniqueViolation:
      return new AppError('ALREADY_EXISTS', 'A row with these values already exists.', { cause: error });
    case SQLSTATE.foreignKeyViolation:
    case SQLSTATE.insufficientPrivilege:
      return new AppError('NOT_FOUND', 'A referenced row was not found.', { cause: error });
    case SQLSTATE.checkViolation:
      return new AppError('INVALID_INPUT', 'A value is not allowed here.', { cause: error });
    default:
      return undefined;
  }
}

/** "limit: Too big: expected number to be <=500; orderDate: Invalid ISO date" */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}
