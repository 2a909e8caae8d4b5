/**
 * One contract for both rate limiters: in-process always, Redis when it answers (else skipped
 * with the reason printed). Time is passed in, so windows slide without waiting; each Redis test
 * uses its own key prefix so parallel runs never share a budget.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { rateLimitHeaders } from '../src/access/rate-limit-headers.js';
import { silentLogger, type Logger } from '../src/lib/log.js';
import { openRedis } from '../src/platform/redis.js';
import { createRateLimiter, MemoryRateLimiter, RedisRateLimiter, type RateBucket, type RateLimiter } from '../src/platform/rate-limit/rate-limiter.js';
import { DEAD_REDIS_URL, deletePrefixes, randomPrefix, testRedis } from './redis.js';

const redis = await testRedis();

const MINUTE = 60_000;
/** The start of a window, so "a minute later" is unambiguous. */
const T0 = Math.floor(Date.now() / MINUTE) * MINUTE;

const opened: RateLimiter[] = [];
const prefixes: string[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((l) => l.close()));
});
afterAll(async () => {
  if (redis.url) await deletePrefixes(redis.url, prefixes);
});

function track<T extends RateLimiter>(limiter: T): T {
  opened.push(limiter);
  return limiter;
}

function redisLimiter(prefix: string): RedisRateLimiter {
  prefixes.push(prefix);
  return track(new RedisRateLimiter(openRedis(redis.url!, silentLogger), { prefix }));
}

const perMinute = (limit: number) => ({ limit, windowMs: MINUTE });
const keyBucket = (limit: number, id = randomUUID()): RateBucket => ({ key: `key:${id}`, rule: perMinute(limit) });
const tenantBucket = (limit: number, id = randomUUID()): RateBucket => ({ key: `tenant:${id}`, rule: perMinute(limit) });

async function consumeTimes(limiter: RateLimiter, buckets: RateBucket[], times: number, now: number) {
  const decisions = [];
  for (let i = 0; i < times; i++) decisions.push(await limiter.consume(buckets, now));
  return decisions;
}

function contract(kind: 'memory' | 'redis', make: () => RateLimiter) {
  it('reports its kind', () => {
    expect(make().kind).toBe(kind);
  });

  it('allows exactly N in a window, then refuses with Retry-After ≥ 1', async () => {
    const limiter = make();
    const bucket = tenantBucket(5);
    const decisions = await consumeTimes(limiter, [bucket], 5, T0 + 1_000);
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true]);
    expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0]);
    const refused = await limiter.consume([bucket], T0 + 2_000);
    expect(refused).toMatchObject({ allowed: false, limit: 5, remaining: 0, windowSeconds: 60, scope: 'tenant' });
    // 5 requests in this window: the 6th fits once a fifth of the next window has passed.
    expect(refused.retryAfterSeconds).toBe(58 + 12);
    expect(Number(rateLimitHeaders(refused)['Retry-After'])).toBeGreaterThanOrEqual(1);
  });

  it('slides: the previous window counts less as time moves on', async () => {
    const limiter = make();
    const bucket = tenantBucket(10);
    await consumeTimes(limiter, [bucket], 10, T0);
    // Next window start: the 10 still weigh fully.
    expect((await limiter.consume([bucket], T0 + MINUTE)).allowed).toBe(false);
    // Half way: they weigh 5, so exactly 5 more fit.
    const half = await consumeTimes(limiter, [bucket], 6, T0 + MINUTE + 30_000);
    expect(half.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    // A window later only those 5 remain, weighing 2.5 half way: 10 − 2.5 − this one = 6 left.
    const later = await limiter.consume([bucket], T0 + 2 * MINUTE + 30_000);
    expect(later).toMatchObject({ allowed: true, remaining: 6 });
  });

  it('the tighter bucket wins: key 10/minute under tenant 600/minute refuses the 11th', async () => {
    const limiter = make();
    const buckets = [tenantBucket(600), keyBucket(10)];
    const allowed = await consumeTimes(limiter, buckets, 10, T0 + 5_000);
    expect(allowed.every((d) => d.allowed)).toBe(true);
    expect(allowed[0]).toMatchObject({ limit: 10, remaining: 9, scope: 'key' });
    const eleventh = await limiter.consume(buckets, T0 + 6_000);
    expect(eleventh).toMatchObject({ allowed: false, limit: 10, scope: 'key' });
    expect(rateLimitHeaders(eleventh)['RateLimit-Policy']).toBe('10;w=60');
  });

  it('reports the tenant budget when it is the tighter one', async () => {
    const limiter = make();
    const tenant = tenantBucket(3);
    await consumeTimes(limiter, [tenant, keyBucket(100)], 3, T0);
    const refused = await limiter.consume([tenant, keyBucket(100)], T0);
    expect(refused).toMatchObject({ allowed: false, limit: 3, scope: 'tenant' });
  });

  it('a refusal consumes from no bucket, so it does not lengthen the lockout', async () => {
    const limiter = make();
    const tenantId = randomUUID();
    const keyId = randomUUID();
    const tenant = tenantBucket(20, tenantId);
    const key = keyBucket(2, keyId);
    await consumeTimes(limiter, [tenant, key], 2, T0);
    const first = await limiter.consume([tenant, key], T0 + 1_000);
    // Hammering while refused changes nothing: the same wait, and the tenant budget is untouched.
    const refusals = await consumeTimes(limiter, [tenant, key], 20, T0 + 1_000);
    expect(refusals.every((d) => !d.allowed && d.retryAfterSeconds === first.retryAfterSeconds)).toBe(true);
    const tenantOnly = await limiter.consume([tenant], T0 + 1_000);
    expect(tenantOnly).toMatchObject({ allowed: true, remaining: 20 - 3 });
    // And the key is free exactly when first promised.
    const freeAt = T0 + 1_000 + first.retryAfterSeconds * 1_000;
    expect((await limiter.consume([key], freeAt)).allowed).toBe(true);
  });

  it('keeps buckets apart', async () => {
    const limiter = make();
    const a = keyBucket(1);
    const b = keyBucket(1);
    expect((await limiter.consume([a], T0)).allowed).toBe(true);
    expect((await limiter.consume([a], T0)).allowed).toBe(false);
    expect((await limiter.consume([b], T0)).allowed).toBe(true);
  });
}

describe('MemoryRateLimiter contract', () => contract('memory', () => track(new MemoryRateLimiter())));

describe.skipIf(!redis.url)(`RedisRateLimiter contract${redis.skip ? ` (skipped: ${redis.skip})` : ''}`, () => {
  contract('redis', () => redisLimiter(randomPrefix()));

  it('two instances (two connections) share one budget', async () => {
    const prefix = randomPrefix();
    const one = redisLimiter(prefix);
    const two = redisLimiter(prefix);
    const bucket = tenantBucket(10);
    const decisions = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? one : two).consume([bucket], T0 + 1_000)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    expect((await one.consume([bucket], T0 + 2_000)).allowed).toBe(false);
    expect((await two.consume([bucket], T0 + 2_000)).allowed).toBe(false);
  });

  it('keeps budgets apart per key prefix', async () => {
    const one = redisLimiter(randomPrefix());
    const two = redisLimiter(randomPrefix());
    const bucket = tenantBucket(1);
    expect((await one.consume([bucket], T0)).allowed).toBe(true);
    expect((await one.consume([bucket], T0)).allowed).toBe(false);
    expect((await two.consume([bucket], T0)).allowed).toBe(true);
  });

  it('reloads its script after Redis forgets it (SCRIPT FLUSH)', async () => {
    const prefix = randomPrefix();
    const limiter = redisLimiter(prefix);
    const admin = openRedis(redis.url!, silentLogger);
    try {
      await admin.script('FLUSH');
    } finally {
      admin.disconnect();
    }
    expect((await limiter.consume([keyBucket(1)], T0)).allowed).toBe(true);
    expect(limiter.usingFallback).toBe(false);
  });

  it('createRateLimiter picks Redis when given a URL', async () => {
    const prefix = randomPrefix();
    prefixes.push(prefix);
    const limiter = track(createRateLimiter({ redisUrl: redis.url!, prefix, log: silentLogger }));
    expect(limiter.kind).toBe('redis');
    expect((await limiter.consume([keyBucket(1)], T0)).allowed).toBe(true);
  });
});

describe('RedisRateLimiter during an outage', () => {
  it('falls back to in-process limits (still enforced) and logs once', async () => {
    const lines: string[] = [];
    const log: Logger = (_level, message) => void lines.push(message);
    const limiter = track(new RedisRateLimiter(openRedis(DEAD_REDIS_URL, log, { commandTimeoutMs: 300 })));
    const bucket = keyBucket(3);
    const started = Date.now();
    const decisions = await consumeTimes(limiter, [bucket], 4, T0);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(limiter.usingFallback).toBe(true);
    expect(lines).toEqual(['redis unreachable; using in-process fallbacks until it answers']);
  });

  it('createRateLimiter without a URL is in-process', () => {
    expect(track(createRateLimiter({ log: silentLogger })).kind).toBe('memory');
  });
});
