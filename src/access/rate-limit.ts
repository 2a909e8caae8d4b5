/**
 * Request budgets for tenant credentials, shared by tRPC and REST. Every tenant has one budget
 * (TENANT_RATE_LIMIT); an API key with its own `rateLimit` has a second one; a request must fit
 * both, so the tighter wins. Platform-admin keys are not limited here.
 */
import type { Principal } from '../modules/credentials/credentials.service.js';
import { parseRateLimit, type RateBucket, type RateLimiter, type RateLimitRule } from '../platform/rate-limit/rate-limiter.js';
import { rateLimitedError, rateLimitHeaders } from './rate-limit-headers.js';

const parsedRules = new Map<string, RateLimitRule>();

function rule(text: string): RateLimitRule {
  let parsed = parsedRules.get(text);
  if (!parsed) {
    parsed = parseRateLimit(text);
    parsedRules.set(text, parsed);
  }
  return parsed;
}

export function rateBuckets(principal: Principal, tenantRateLimit: string): RateBucket[] {
  if (principal.kind !== 'tenant') return [];
  const buckets: RateBucket[] = [{ key: `tenant:${principal.tenantId}`, rule: rule(tenantRateLimit) }];
  if (principal.via === 'api_key' && principal.rateLimit) {
    buckets.push({ key: `key:${principal.keyId}`, rule: rule(principal.rateLimit) });
  }
  return buckets;
}

/**
 * Takes one request from the principal's budgets and writes the RateLimit-* headers through
 * `setHeader`. When a budget is spent, calls `onRefused` (the usage record counts it) and throws
 * TOO_MANY_REQUESTS, with Retry-After already set.
 */
export async function enforceRateLimit(
  limiter: RateLimiter,
  principal: Principal,
  tenantRateLimit: string,
  now: number,
  setHeader: (name: string, value: string) => void,
  onRefused: () => void,
): Promise<void> {
  const buckets = rateBuckets(principal, tenantRateLimit);
  if (buckets.length === 0) return;
  const decision = await limiter.consume(buckets, now);
  for (const [name, value] of Object.entries(rateLimitHeaders(decision))) setHeader(name, value);
  if (!decision.allowed) {
    onRefused();
    throw rateLimitedError(decision);
  }
}
