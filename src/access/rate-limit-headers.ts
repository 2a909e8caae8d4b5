/**
 * How a rate-limit decision is shown to clients: the IETF `RateLimit-*` fields (draft
 * httpapi-ratelimit-headers) on every limited response, `Retry-After` on refusals, and one
 * 429 error that says which budget ran out.
 */
import { AppError } from '../lib/errors.js';
import type { RateDecision } from '../platform/rate-limit/rate-limiter.js';

export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  const headers: Record<string, string> = {
    'RateLimit-Limit': String(decision.limit),
    'RateLimit-Remaining': String(decision.remaining),
    'RateLimit-Reset': String(decision.resetSeconds),
    'RateLimit-Policy': `${decision.limit};w=${decision.windowSeconds}`,
  };
  if (!decision.allowed) headers['Retry-After'] = String(Math.max(1, Math.ceil(decision.retryAfterSeconds)));
  return headers;
}

const WINDOW_NAMES: Record<number, string> = { 1: 'second', 60: 'minute', 3600: 'hour' };

/** "per minute" for the usual windows, "per 90 seconds" otherwise. */
function windowText(seconds: number): string {
  return WINDOW_NAMES[seconds] ?? `${seconds} seconds`;
}

/** The 429 for a refused decision, naming the budget (this key or the whole tenant). */
export function rateLimitedError(decision: RateDecision): AppError {
  const retry = Math.max(1, Math.ceil(decision.retryAfterSeconds));
  return new AppError(
    'TOO_MANY_REQUESTS',
    `Rate limit of ${decision.limit} requests per ${windowText(decision.windowSeconds)} reached for this ${decision.scope}; retry in ${retry} s.`,
  );
}
