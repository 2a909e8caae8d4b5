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

/** How deep a chain of causes is followed (tRPC → Drizzle → postgres.js → socket error). */
const MAX_DEPTH = 6;

function* causes(error: unknown): Generator<object> {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < MAX_DEPTH; e = (e as { cause?: unknown }).cause, depth++) {
    yield e;
  }
}

export function pgError(error: unknown): postgres.PostgresError | undefined {
  for (const e of causes(error)) {
    if (e instanceof postgres.PostgresError) return e;
  }
  return undefined;
}

/**
 * Whether `error` is Postgres naming `constraint`. On Citus the name carries the shard's suffix
 * (`users_tenant_id_email_key_102159`), and an error relayed from a worker may have no
 * constraint_name at all, only the message that quotes it.
 */
export function violates(error: unknown, constraint: string): boolean {
  const pg = pgError(error);
  if (!pg) return false;
  const name = pg.constraint_name ?? /constraint "([^"]+)"/.exec(pg.message)?.[1];
  if (name === undefined) return false;
  return name === constraint || (name.startsWith(`${constraint}_`) && /^\d+$/.test(name.slice(constraint.length + 1)));
}

/** Class 22, data exception: a value Postgres cannot store (year 0, NUL bytes, bad casts…). */
export function isDataException(error: unknown): boolean {
  return sqlState(error)?.startsWith('22') ?? false;
}

export function sqlState(error: unknown): string | undefined {
  return pgError(error)?.code;
}

/**
 * The connection to the database was lost or could not be made: the server is down, restarting,
 * shutting down or unreachable, or it ended our backend. Whether a statement that was in flight ran
 * is unknown; nothing here retries it.
 */
const CONNECTION_LOST = new Set([
  // postgres.js: the socket closed, was destroyed, the pool was ended, or connecting took too long;
  // a canceled query whose cancel got no answer (its connection is closed).
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECTION_ENDED',
  'CONNECT_TIMEOUT',
  'CANCEL_UNANSWERED',
  // Node's socket and DNS errors.
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** SQLSTATEs of a backend that is going away or cannot take us (besides class 08, connection exception). */
const BACKEND_GONE = new Set([
  '57P01', // admin_shutdown: smart/fast shutdown, or pg_terminate_backend
  '57P02', // crash_shutdown: another backend crashed, the server restarts
  '57P03', // cannot_connect_now: starting up, shutting down, in recovery
  '57P05', // idle_session_timeout
  '25P03', // idle_in_transaction_session_timeout: the backend ended the session
]);

/** The server refused a new connection: too many already (max_connections, a role's limit). */
const TOO_MANY_CONNECTIONS = '53300';

/**
 * `unavailable`: the database could not be reached or the connection was lost (retry shortly).
 * `busy`: no connection became free in time (postgres.js `queue_timeout`) or the server has no
 * connection slot left; the query was never sent. Undefined for every other error.
 */
export type DatabaseFailure = 'unavailable' | 'busy';

/** Whether `error` (or any error it wraps) says the database is unreachable or saturated. */
export function databaseFailure(error: unknown): DatabaseFailure | undefined {
  for (const e of causes(error)) {
    if (e instanceof postgres.PostgresError) {
      if (e.code === TOO_MANY_CONNECTIONS) return 'busy';
      if (e.code.startsWith('08') || BACKEND_GONE.has(e.code)) return 'unavailable';
      // Another server error (a constraint, a canceled statement…): the connection is fine.
      return undefined;
    }
    const code = (e as { code?: unknown }).code;
    if (code === 'QUEUE_TIMEOUT') return 'busy';
    if (typeof code === 'string' && CONNECTION_LOST.has(code)) return 'unavailable';
  }
  return undefined;
}

/**
 * A hot standby cancels a query that conflicts with the WAL it replays ("canceling statement due
 * to conflict with recovery"): 40001, or 40P01 for a buffer-pin deadlock.
 */
const RECOVERY_CONFLICT = new Set(['40001', '40P01']);

/**
 * Whether a read on the read replica failed because of the replica (unreachable, saturated, or a
 * recovery conflict), not because of the read: such a read is sent again to the primary.
 */
export function replicaReadFailure(error: unknown): boolean {
  return databaseFailure(error) !== undefined || RECOVERY_CONFLICT.has(sqlState(error) ?? '');
}
