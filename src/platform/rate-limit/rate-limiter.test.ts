import { describe, expect, it } from 'vitest';
import { decide, fits, MemoryRateLimiter, msUntilFits, parseRateLimit, type RateBucket } from './rate-limiter.js';

const MINUTE = 60_000;

describe('parseRateLimit', () => {
  it.each([
    ['600/minute', { limit: 600, windowMs: MINUTE }],
    ['1/second', { limit: 1, windowMs: 1_000 }],
    ['5000/hour', { limit: 5000, windowMs: 3_600_000 }],
    [' 10 / minute ', { limit: 10, windowMs: MINUTE }],
  ])('parses %j', (text, rule) => {
    expect(parseRateLimit(text)).toEqual(rule);
  });

  it.each(['', '0/minute', '10/day', '10 per minute', '-1/second', '1.5/second', 'minute', '10/'])('refuses %j with a clear message', (text) => {
    expect(() => parseRateLimit(text)).toThrow(/expected "<n>\/second", "<n>\/minute" or "<n>\/hour"/);
  });
});

describe('sliding window arithmetic', () => {
  const rule = { limit: 10, windowMs: MINUTE };

  it('fits up to the limit in a fresh window', () => {
    expect(fits({ current: 9, previous: 0 }, rule, 0)).toBe(true);
    expect(fits({ current: 10, previous: 0 }, rule, 0)).toBe(false);
  });

  it('weights the previous window by its remaining overlap', () => {
    // Half way through: 10 previous count as 5, so 4 current + 1 fits and 5 + 1 does not.
    expect(fits({ current: 4, previous: 10 }, rule, 30_000)).toBe(true);
    expect(fits({ current: 5, previous: 10 }, rule, 30_000)).toBe(false);
  });

  it('says how long until one more request fits', () => {
    // Full window just spent: the next fits once a tenth of the next window has passed.
    expect(msUntilFits({ current: 10, previous: 0 }, rule, 59_000)).toBe(1_000 + 6_000);
    // Previous window's weight must shrink to 4: at 36 s (10 × 24/60 = 4, plus 5 + 1 = 10).
    expect(msUntilFits({ current: 5, previous: 10 }, rule, 30_000)).toBe(6_000);
    expect(msUntilFits({ current: 0, previous: 0 }, rule, 30_000)).toBe(0);
    // A limit of 1 fully spent in this window: free only when it leaves the sliding window.
    expect(msUntilFits({ current: 1, previous: 0 }, { limit: 1, windowMs: 1_000 }, 200)).toBe(1_800);
  });

  it('agrees with fits() at the reported moment and not a millisecond before', () => {
    const cases = [
      { counts: { current: 10, previous: 0 }, now: 59_000 },
      { counts: { current: 5, previous: 10 }, now: 30_000 },
      { counts: { current: 3, previous: 17 }, now: 1_234 },
      { counts: { current: 0, previous: 12 }, now: 7_777 },
    ];
    for (const { counts, now } of cases) {
      const wait = msUntilFits(counts, rule, now);
      const rolled = (at: number) => (Math.floor(at / MINUTE) === Math.floor(now / MINUTE) ? counts : Math.floor(at / MINUTE) === Math.floor(now / MINUTE) + 1 ? { current: 0, previous: counts.current } : { current: 0, previous: 0 });
      expect(fits(rolled(now + wait), rule, now + wait)).toBe(true);
      expect(fits(rolled(now + wait - 1), rule, now + wait - 1)).toBe(false);
    }
  });
});

describe('decide', () => {
  const key: RateBucket = { key: 'key:k1', rule: { limit: 10, windowMs: MINUTE } };
  const tenant: RateBucket = { key: 'tenant:t1', rule: { limit: 600, windowMs: MINUTE } };

  it('reports the bucket with fewest remaining when allowed', () => {
    const d = decide([tenant, key], [{ current: 0, previous: 0 }, { current: 3, previous: 0 }], 0);
    expect(d).toMatchObject({ allowed: true, limit: 10, remaining: 6, scope: 'key', retryAfterSeconds: 0, windowSeconds: 60 });
  });

  it('reports the refusing bucket when refused', () => {
    const d = decide([tenant, key], [{ current: 10, previous: 0 }, { current: 10, previous: 0 }], 0);
    expect(d).toMatchObject({ allowed: false, limit: 10, remaining: 0, scope: 'key' });
    expect(d.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it('refuses an empty bucket list', () => {
    expect(() => decide([], [], 0)).toThrow(/at least one bucket/);
  });
});

describe('MemoryRateLimiter', () => {
  it('drops idle buckets', async () => {
    const limiter = new MemoryRateLimiter({ sweepIntervalMs: 1_000 });
    for (let i = 0; i < 50; i++) await limiter.consume([{ key: `key:${i}`, rule: { limit: 5, windowMs: 1_000 } }], 10_000);
    expect(limiter.size).toBe(50);
    await limiter.consume([{ key: 'key:other', rule: { limit: 5, windowMs: 1_000 } }], 13_000);
    expect(limiter.size).toBe(1);
  });
});

describe('MemoryRateLimiter when a key’s rule changes', () => {
  it('starts the bucket afresh under the new window', async () => {
    const limiter = new MemoryRateLimiter();
    const now = 10 * 3_600_000 + 5_000;
    await limiter.consume([{ key: 'key:k', rule: { limit: 1, windowMs: 60_000 } }], now);
    const hourly = { key: 'key:k', rule: { limit: 2, windowMs: 3_600_000 } };
    expect((await limiter.consume([hourly], now)).allowed).toBe(true);
    expect((await limiter.consume([hourly], now)).allowed).toBe(true);
    expect((await limiter.consume([hourly], now)).allowed).toBe(false);
    // Two hours on, the hourly counts have aged out.
    expect((await limiter.consume([hourly], now + 2 * 3_600_000)).allowed).toBe(true);
  });
});
