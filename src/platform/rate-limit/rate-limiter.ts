/**
 * Request budgets per API key and per tenant; a request must fit every bucket it names, so the
 * tighter limit wins. In memory by default; in Redis (one atomic script) when configured, so all
 * server instances draw on one budget.
 *
 * Algorithm: sliding-window counter. Each bucket keeps the count of the current fixed window and
 * of the previous one; the previous count is weighted by how much of it still overlaps the
 * sliding window: `estimate = previous * (W - elapsed) / W + current`. Chosen over GCRA because
 * "600/minute" then means about 600 in any minute (GCRA with a burst of 600 lets through up to
 * ~1,200 in a minute), it needs two small counters per bucket, and it maps directly onto
 * `RateLimit-*` headers. Comparisons are in integers (both sides multiplied by W), so JavaScript
 * and the Redis Lua script decide identically.
 */
import { createHash } from 'node:crypto';
import { jsonLogger, type Logger } from '../../lib/log.js';
import { closeRedis, openRedis, redisBreaker, type OpenRedisOptions, type Redis, type RedisBreaker } from '../redis.js';

export interface RateLimitRule {
  limit: number;
  windowMs: number;
}

const WINDOWS_MS = { second: 1_000, minute: 60_000, hour: 3_600_000 } as const;

/** Parses "<n>/second|minute|hour" (as stored on API keys and in TENANT_RATE_LIMIT). */
export function parseRateLimit(text: string): RateLimitRule {
  const match = /^\s*([1-9][0-9]{0,8})\s*\/\s*(second|minute|hour)\s*$/.exec(text);
  if (!match) throw new Error(`Invalid rate limit ${JSON.stringify(text)}: expected "<n>/second", "<n>/minute" or "<n>/hour", e.g. "600/minute".`);
  return { limit: Number(match[1]), windowMs: WINDOWS_MS[match[2] as keyof typeof WINDOWS_MS] };
}

/**
 * `key` names the budget and starts with its scope, e.g. `key:<keyId>` or `tenant:<tenantId>`;
 * the scope (text before the first ':') is reported in decisions and error messages.
 * Keys within one `consume` call must differ.
 */
export interface RateBucket {
  key: string;
  rule: RateLimitRule;
}

export interface RateDecision {
  allowed: boolean;
  /** The tightest bucket's figures (the one with fewest remaining; on refusal, the refusing one). */
  limit: number;
  remaining: number;
  /** Seconds until the bucket's current usage has fully left the sliding window. */
  resetSeconds: number;
  /** 0 when allowed; otherwise whole seconds (≥ 1) until this request would fit. */
  retryAfterSeconds: number;
  windowSeconds: number;
  /** The tightest bucket's scope, e.g. 'key' or 'tenant'. */
  scope: string;
}

export interface RateLimiter {
  /** Allowed: one unit taken from every bucket. Refused: nothing taken from any bucket. */
  consume(buckets: RateBucket[], now: number): Promise<RateDecision>;
  readonly kind: 'memory' | 'redis';
  close(): Promise<void>;
}

/** Counts for the fixed window containing `now` and the one before it. */
export interface WindowCounts {
  current: number;
  previous: number;
}

export function windowIndex(now: number, windowMs: number): number {
  return Math.floor(now / windowMs);
}

function elapsedIn(now: number, windowMs: number): number {
  return now - windowIndex(now, windowMs) * windowMs;
}

/** Whether one more request fits: previous·(W−e) + (current+1)·W ≤ limit·W. */
export function fits(counts: WindowCounts, rule: RateLimitRule, now: number): boolean {
  const w = rule.windowMs;
  return counts.previous * (w - elapsedIn(now, w)) + (counts.current + 1) * w <= rule.limit * w;
}

/** Milliseconds until one more request fits, if nothing else is consumed meanwhile. */
export function msUntilFits(counts: WindowCounts, rule: RateLimitRule, now: number): number {
  if (fits(counts, rule, now)) return 0;
  const w = rule.windowMs;
  const e = elapsedIn(now, w);
  const { current, previous } = counts;
  // Later in this window, as the previous window's weight shrinks.
  if (current + 1 <= rule.limit && previous > 0) {
    const at = Math.ceil(w - ((rule.limit - 1 - current) * w) / previous);
    if (at < w) return at - e;
  }
  // In the next window, where this window's count becomes the weighted one.
  if (current === 0) return w - e;
  const at = Math.max(0, Math.ceil(w - ((rule.limit - 1) * w) / current));
  if (at < w) return w - e + at;
  return 2 * w - e;
}

interface BucketFigures {
  scope: string;
  rule: RateLimitRule;
  remaining: number;
  resetMs: number;
  retryMs: number;
}

function figures(bucket: RateBucket, counts: WindowCounts, now: number, refused: boolean): BucketFigures {
  const w = bucket.rule.windowMs;
  const e = elapsedIn(now, w);
  const headroom = bucket.rule.limit * w - counts.previous * (w - e) - counts.current * w;
  return {
    scope: bucket.key.split(':', 1)[0] ?? bucket.key,
    rule: bucket.rule,
    remaining: Math.max(0, Math.floor(headroom / w)),
    resetMs: counts.current > 0 ? 2 * w - e : counts.previous > 0 ? w - e : 0,
    retryMs: refused ? msUntilFits(counts, bucket.rule, now) : 0,
  };
}

/**
 * The decision for `buckets` given each bucket's counts before this request (`before[i]`).
 * Shared by both limiters so they report identically.
 */
export function decide(buckets: RateBucket[], before: WindowCounts[], now: number): RateDecision {
  if (buckets.length === 0) throw new Error('rate limiter: consume needs at least one bucket');
  const allowed = buckets.every((b, i) => fits(before[i]!, b.rule, now));
  const all = buckets.map((b, i) => {
    const c = before[i]!;
    return figures(b, allowed ? { current: c.current + 1, previous: c.previous } : c, now, !allowed);
  });
  // Allowed: the bucket closest to refusing. Refused: the refusing bucket that frees up last.
  const tightest = all.reduce((best, f) =>
    allowed
      ? f.remaining < best.remaining || (f.remaining === best.remaining && f.rule.limit < best.rule.limit) ? f : best
      : f.retryMs > best.retryMs ? f : best,
  );
  return {
    allowed,
    limit: tightest.rule.limit,
    remaining: tightest.remaining,
    resetSeconds: Math.ceil(tightest.resetMs / 1000),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(tightest.retryMs / 1000)),
    windowSeconds: Math.max(1, Math.round(tightest.rule.windowMs / 1000)),
    scope: tightest.scope,
  };
}

interface MemoryBucket extends WindowCounts {
  index: number;
  windowMs: number;
}

/**
 * One process's budgets. Memory stays bounded: a bucket whose counts have left the sliding
 * window is dropped by a sweep that runs at most once every `sweepIntervalMs` of `now`.
 */
export class MemoryRateLimiter implements RateLimiter {
  readonly kind = 'memory';
  private readonly buckets = new Map<string, MemoryBucket>();
  private lastSweep = 0;

  constructor(private readonly options: { sweepIntervalMs?: number } = {}) {}

  /** Buckets currently held (for tests). */
  get size(): number {
    return this.buckets.size;
  }

  consume(buckets: RateBucket[], now: number): Promise<RateDecision> {
    this.sweep(now);
    const before = buckets.map((b) => this.countsAt(b, now));
    const decision = decide(buckets, before, now);
    if (decision.allowed) {
      buckets.forEach((b, i) => {
        const c = before[i]!;
        const entry = this.buckets.get(b.key);
        const stored = entry?.windowMs === b.rule.windowMs ? entry.index : 0;
        const index = Math.max(windowIndex(now, b.rule.windowMs), stored);
        this.buckets.set(b.key, { index, windowMs: b.rule.windowMs, current: c.current + 1, previous: c.previous });
      });
    }
    return Promise.resolve(decision);
  }

  close(): Promise<void> {
    this.buckets.clear();
    return Promise.resolve();
  }

  private countsAt(bucket: RateBucket, now: number): WindowCounts {
    const entry = this.buckets.get(bucket.key);
    if (!entry || entry.windowMs !== bucket.rule.windowMs) return { current: 0, previous: 0 };
    const index = windowIndex(now, entry.windowMs);
    // A clock that steps back keeps the newer counts (stricter, never looser).
    if (entry.index >= index) return { current: entry.current, previous: entry.previous };
    if (entry.index === index - 1) return { current: 0, previous: entry.current };
    return { current: 0, previous: 0 };
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < (this.options.sweepIntervalMs ?? 60_000)) return;
    this.lastSweep = now;
    for (const [key, entry] of this.buckets) {
      if (entry.index < windowIndex(now, entry.windowMs) - 1) this.buckets.delete(key);
    }
  }
}

/**
 * KEYS: per bucket, its current-window and previous-window counter. ARGV: per bucket, limit,
 * window ms, ms elapsed in the window. Checks every bucket, then increments all or none, so
 * concurrent requests from any number of instances cannot overdraw a budget.
 * Returns {allowed, current1, previous1, current2, previous2, …} as read before incrementing.
 */
const CONSUME_SCRIPT = `
local n = #KEYS / 2
local allowed = 1
local reply = {}
for i = 1, n do
  local limit = tonumber(ARGV[3 * i - 2])
  local w = tonumber(ARGV[3 * i - 1])
  local e = tonumber(ARGV[3 * i])
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if previous * (w - e) + (current + 1) * w > limit * w then allowed = 0 end
  reply[2 * i] = current
  reply[2 * i + 1] = previous
end
if allowed == 1 then
  for i = 1, n do
    redis.call('INCR', KEYS[2 * i - 1])
    redis.call('PEXPIRE', KEYS[2 * i - 1], 2 * tonumber(ARGV[3 * i - 1]) + 1000)
  end
end
reply[1] = allowed
return reply
`;
const CONSUME_SHA = createHash('sha1').update(CONSUME_SCRIPT).digest('hex');

export interface RedisRateLimiterOptions {
  /** Namespace for the counters (`<prefix>rl:<bucket key>:<window ms>:<window index>`). */
  prefix?: string;
}

/**
 * Budgets shared by every instance using the same Redis and prefix. Window positions come from
 * the caller's `now`, so instances' clocks should agree (NTP); a skew of s ms shifts windows by
 * s ms, it does not double budgets.
 *
 * During a Redis outage (the connection's breaker is open, or a command failed or timed out)
 * requests are limited by an in-process MemoryRateLimiter instead: we prefer availability over
 * strictness, so each instance then enforces the full budget on its own (a cluster of k
 * instances may let through up to k× the limit until Redis is back). The breaker logs the
 * outage once. Takes ownership of the connection: `close` closes it.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly kind = 'redis';
  private readonly prefix: string;
  private readonly breaker: RedisBreaker;
  private readonly fallback = new MemoryRateLimiter();
  private degraded = false;

  constructor(
    private readonly redis: Redis,
    options: RedisRateLimiterOptions = {},
  ) {
    this.prefix = options.prefix ?? 'palisade:';
    this.breaker = redisBreaker(redis);
  }

  /** True while decisions come from the in-process fallback. */
  get usingFallback(): boolean {
    return this.degraded || this.breaker.isOpen;
  }

  async consume(buckets: RateBucket[], now: number): Promise<RateDecision> {
    if (buckets.length === 0) throw new Error('rate limiter: consume needs at least one bucket');
    const keys = buckets.flatMap((b) => {
      const index = windowIndex(now, b.rule.windowMs);
      // The window length is in the key, so a key whose rule changes starts a fresh count.
      const base = `${this.prefix}rl:${b.key}:${b.rule.windowMs}`;
      return [`${base}:${index}`, `${base}:${index - 1}`];
    });
    const args = buckets.flatMap((b) => [b.rule.limit, b.rule.windowMs, elapsedIn(now, b.rule.windowMs)]);
    let reply: number[];
    try {
      reply = await this.breaker.run(() => this.run(keys, args));
    } catch {
      this.degraded = true;
      return this.fallback.consume(buckets, now);
    }
    this.degraded = false;
    const before = buckets.map((_, i) => ({ current: reply[2 * i + 1] ?? 0, previous: reply[2 * i + 2] ?? 0 }));
    // Same integer arithmetic on the same inputs as the script, so this agrees with reply[0].
    return decide(buckets, before, now);
  }

  close(): Promise<void> {
    return closeRedis(this.redis);
  }

  private async run(keys: string[], args: number[]): Promise<number[]> {
    try {
      return (await this.redis.evalsha(CONSUME_SHA, keys.length, ...keys, ...args)) as number[];
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return (await this.redis.eval(CONSUME_SCRIPT, keys.length, ...keys, ...args)) as number[];
    }
  }
}

export interface CreateRateLimiterOptions {
  /** Redis when set (one budget across instances), else in-process. */
  redisUrl?: string | undefined;
  prefix?: string;
  log?: Logger;
  /** Per-command timeout, breaker threshold and probe interval (see platform/redis.ts). */
  redis?: OpenRedisOptions;
}

export function createRateLimiter(options: CreateRateLimiterOptions): RateLimiter {
  const log = options.log ?? jsonLogger;
  if (options.redisUrl) {
    return new RedisRateLimiter(openRedis(options.redisUrl, log, { name: 'rate limiter', ...options.redis }), { prefix: options.prefix });
  }
  return new MemoryRateLimiter();
}
