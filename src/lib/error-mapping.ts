/** What any transport (tRPC, REST) shows for errors that are not AppErrors yet. */
import type { z } from 'zod';
import { InvalidTextValueError } from '../../db/sql-literal.js';
import { AppError } from './errors.js';
import { isDataException, SQLSTATE, sqlState } from './pg-errors.js';

/**
 * Whatever a handler threw, as the AppError a client may see. Database errors a module did not
 * translate get generic wording: a row of another tenant is "not found", never "forbidden".
 */
export function toAppError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  // Whatever value zod let through but Postgres cannot store is still the caller's mistake: 400.
  if (isDataException(error) || causedBy(error, InvalidTextValueError)) {
    return new AppError('BAD_REQUEST', 'INVALID_INPUT', 'A value is not valid for its field (check dates and text).', { cause: error });
  }
  switch (sqlState(error)) {
    case SQLSTATE.uniqueViolation:
      return new AppError('CONFLICT', 'ALREADY_EXISTS', 'A row with these values already exists.', { cause: error });
    case SQLSTATE.foreignKeyViolation:
    case SQLSTATE.insufficientPrivilege:
      return new AppError('NOT_FOUND', 'NOT_FOUND', 'A referenced row was not found.', { cause: error });
    case SQLSTATE.checkViolation:
      return new AppError('BAD_REQUEST', 'INVALID_INPUT', 'A value is not allowed here.', { cause: error });
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

function causedBy(error: unknown, type: new (...args: never[]) => Error): boolean {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof type) return true;
  }
  return false;
}
