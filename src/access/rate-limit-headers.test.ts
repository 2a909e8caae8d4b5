import { describe, expect, it } from 'vitest';
import type { RateDecision } from '../platform/rate-limit/rate-limiter.js';
import { rateLimitedError, rateLimitHeaders } from './rate-limit-headers.js';

const allowed: RateDecision = { allowed: true, limit: 600, remaining: 599, resetSeconds: 120, retryAfterSeconds: 0, windowSeconds: 60, scope: 'tenant' };
const refused: RateDecision = { allowed: false, limit: 10, remaining: 0, resetSeconds: 90, retryAfterSeconds: 7, windowSeconds: 60, scope: 'key' };

describe('rateLimitHeaders', () => {
  it('describes the budget on an allowed request, without Retry-After', () => {
    expect(rateLimitHeaders(allowed)).toEqual({
      'RateLimit-Limit': '600',
      'RateLimit-Remaining': '599',
      'RateLimit-Reset': '120',
      'RateLimit-Policy': '600;w=60',
    });
  });

  it('adds Retry-After (whole seconds, at least 1) on refusal', () => {
    expect(rateLimitHeaders(refused)['Retry-After']).toBe('7');
    expect(rateLimitHeaders({ ...refused, retryAfterSeconds: 0 })['Retry-After']).toBe('1');
  });
});

describe('rateLimitedError', () => {
  it('is a 429 naming the limit, window, scope and wait', () => {
    const error = rateLimitedError(refused);
    expect(error).toMatchObject({ code: 'TOO_MANY_REQUESTS', reason: 'TOO_MANY_REQUESTS' });
    expect(error.message).toBe('Rate limit of 10 requests per minute reached for this key; retry in 7 s.');
    expect(rateLimitedError({ ...refused, limit: 600, windowSeconds: 3600, scope: 'tenant' }).message).toBe(
      'Rate limit of 600 requests per hour reached for this tenant; retry in 7 s.',
    );
  });
});
