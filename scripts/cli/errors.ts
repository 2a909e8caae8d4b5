/**
 * How a failure reaches the operator: one line on stderr, `palisade: <reason>`, and an exit code:
 * 1 when the operation was refused or the input is invalid, 2 for usage errors and when the
 * database cannot be reached. Never a stack trace.
 */
import { ZodError } from 'zod';
import { AppError } from '../../src/lib/errors.js';
import { ConfigError } from '../../src/config.js';

/** Wrong command line: unknown command or option, missing argument. Exit 2. */
export class UsageError extends Error {}

/** Valid syntax, invalid value (found before any service is called). Exit 1. */
export class InputError extends Error {}

/** The database could not be started, reached or logged into. Exit 2. */
export class DatabaseUnavailableError extends Error {}

/** postgres.js's own error codes for a connection that could not be made or was lost. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

export function isConnectionError(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  }
  return false;
}

export interface Failure {
  line: string;
  exitCode: 1 | 2;
}

/** `expiresAt` → `--expires-at`, unless the command names the field otherwise. */
export function fieldLabel(path: PropertyKey[], fields: Record<string, string> = {}): string {
  const [head, ...rest] = path.map(String);
  if (head === undefined) return 'input';
  const named = fields[head] ?? `--${head.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  return rest.length ? `${named} (${rest.join('.')})` : named;
}

function zodLine(error: ZodError, fields?: Record<string, string>): string {
  return error.issues.map((issue) => `${fieldLabel(issue.path, fields)}: ${issue.message}`).join('; ');
}

export function describeFailure(error: unknown, fields?: Record<string, string>): Failure {
  const line = (text: string, exitCode: 1 | 2): Failure => ({ line: `palisade: ${text.replace(/\s*\n\s*/g, ' ')}`, exitCode });
  if (error instanceof AppError) return line(`${error.message} (${error.reason})`, 1);
  if (error instanceof ZodError) return line(zodLine(error, fields), 1);
  if (error instanceof InputError) return line(error.message, 1);
  if (error instanceof UsageError || error instanceof ConfigError || error instanceof DatabaseUnavailableError) {
    return line(error.message, 2);
  }
  if (isConnectionError(error)) return line(`lost the database connection: ${message(error)}`, 2);
  return line(message(error), 1);
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
