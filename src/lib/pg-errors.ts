/**
 * Reading Postgres errors. Drizzle wraps the driver's error, so the SQLSTATE may sit on a cause;
 * this is the one place that digs for it.
 */
import postgres from 'postgres';

export const SQLSTATE = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  notNullViolation: '23502',
  checkViolation: '23514',
  insufficientPrivilege: '42501',
  queryCanceled: '57014',
} as const;

export function pgError(error: unknown): postgres.PostgresError | undefined {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof postgres.PostgresError) return e;
  }
  return undefined;
}

/** Class 22, data exception: a value Postgres cannot store (year 0, NUL bytes, bad casts…). */
export function isDataException(error: unknown): boolean {
  return sqlState(error)?.startsWith('22') ?? false;
}

export function sqlState(error: unknown): string | undefined {
  return pgError(error)?.code;
}
