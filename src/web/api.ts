/**
 * The dashboard's only way to the server: the typed tRPC client over the same `/trpc` endpoint
 * every other client uses. `AppRouter` is imported as a type, so no server code is bundled.
 */
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import type { inferRouterError, inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { Reason } from '../lib/errors.js';
import type { AppRouter } from '../trpc/app-router.js';
import { session } from './session.js';

export type Outputs = inferRouterOutputs<AppRouter>;
export type Inputs = inferRouterInputs<AppRouter>;

/** Retry-After of the latest response, for "rate limited, try again in N s". */
let lastRetryAfter: string | null = null;

export const api = createTRPCClient<AppRouter>({
  links: [
    httpLink({
      url: '/trpc',
      headers: () => {
        const token = session.get()?.token;
        return token ? { authorization: `Bearer ${token}` } : {};
      },
      fetch: async (url, init) => {
        const response = await fetch(url, init);
        lastRetryAfter = response.headers.get('retry-after');
        return response;
      },
    }),
  ],
});

/** A client for one explicit token (sign-in, before the session is stored). */
export function clientFor(token: string) {
  return createTRPCClient<AppRouter>({ links: [httpLink({ url: '/trpc', headers: { authorization: `Bearer ${token}` } })] });
}

/** Failures found before or without the server's answer: no reason of the server's. */
export type ClientReason = 'NETWORK' | 'CLIENT';

export interface PlainError {
  title: string;
  detail: string;
  reason: Reason | ClientReason;
  /** The credential no longer works: offer to sign in again. */
  signInAgain: boolean;
  requestId?: string;
}

/** `error.data` of a failed call, as the server's error formatter (trpc/init.ts) shapes it. */
type ErrorData = Partial<inferRouterError<AppRouter>['data']> & { issues?: { path: string; message: string }[] };

function errorData(error: unknown): ErrorData | undefined {
  return error instanceof TRPCClientError ? ((error.data ?? {}) as ErrorData) : undefined;
}

/** The server's reason for a failed call (src/lib/errors.ts REASONS), or undefined if it gave none. */
export function reasonOf(error: unknown): Reason | undefined {
  return errorData(error)?.reason;
}

const TITLES: Partial<Record<Reason, string>> = {
  KEY_EXPIRED: 'Your key or session has expired',
  KEY_REVOKED: 'This key or session has been revoked',
  KEY_UNKNOWN: 'This key is not recognised',
  KEY_MALFORMED: 'That does not look like a Palisade key',
  KEY_MISSING: 'You are not signed in',
  USER_DISABLED: 'Your user has been disabled',
  TENANT_SUSPENDED: 'This tenant is suspended',
  TENANT_NOT_SERVED_HERE: 'This address serves another tenant',
  INVALID_CREDENTIALS: 'Sign-in failed',
  LOGIN_THROTTLED: 'Too many failed sign-ins',
  TOO_MANY_REQUESTS: 'Rate limited',
  INSUFFICIENT_ROLE: 'Your role does not allow this',
  PLATFORM_ADMIN_REQUIRED: 'Platform administrators only',
  TENANT_KEY_REQUIRED: 'This needs a tenant key or a signed-in user',
  PASSWORD_CHANGE_REQUIRED: 'Set a new password first',
  INVALID_INPUT: 'Please check the form',
  NOT_FOUND: 'Not found',
  DATABASE_UNAVAILABLE: 'The database is briefly unavailable',
  DATABASE_BUSY: 'The server is busy',
  TENANT_BUSY: 'Too many requests in progress',
  INTERNAL: 'Something went wrong on the server',
};

const SIGN_IN_AGAIN: ReadonlySet<Reason> = new Set<Reason>(['KEY_EXPIRED', 'KEY_REVOKED', 'KEY_UNKNOWN', 'KEY_MALFORMED', 'KEY_MISSING', 'USER_DISABLED', 'TENANT_SUSPENDED', 'TENANT_NOT_SERVED_HERE']);

/** The server says when to try again (Retry-After): rate limits, brief database outages and a tenant's full bulkhead alike. */
const RETRY_LATER: ReadonlySet<Reason> = new Set<Reason>(['TOO_MANY_REQUESTS', 'DATABASE_UNAVAILABLE', 'DATABASE_BUSY', 'TENANT_BUSY']);

/** Any failure of an API call, in words a person can act on. */
export function describeError(error: unknown): PlainError {
  const data = errorData(error);
  if (error instanceof TRPCClientError && data) {
    const reason = data.reason;
    if (!data.code || !reason) {
      return { title: 'Cannot reach the server', detail: 'Check your connection and that Palisade is running, then try again.', reason: 'NETWORK', signInAgain: false };
    }
    let detail = error.message;
    if (RETRY_LATER.has(reason)) {
      const seconds = Number(lastRetryAfter);
      detail = `${error.message} Try again in ${Number.isFinite(seconds) && seconds > 0 ? `${seconds} second${seconds === 1 ? '' : 's'}` : 'a moment'}.`;
    }
    if (data.issues?.length) detail = data.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
    return {
      title: TITLES[reason] ?? 'The request was refused',
      detail,
      reason,
      signInAgain: SIGN_IN_AGAIN.has(reason),
      ...(data.requestId ? { requestId: data.requestId } : {}),
    };
  }
  return { title: 'Something went wrong', detail: error instanceof Error ? error.message : String(error), reason: 'CLIENT', signInAgain: false };
}
