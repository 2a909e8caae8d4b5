/**
 * Brakes on password guessing, shared by sign-in and password change. The policy lives here
 * (LoginThrottle); its counters live in a ThrottleStore: in process by default, in Redis when
 * configured, so a guesser spreading attempts over several server instances meets one count.
 *
 * Not built on the request rate limiter (rate-limiter.ts): that one meters attempts in a fixed
 * budget per sliding window, while this one counts failures only and answers each further failure
 * with a block twice as long as the last, which no fixed-window budget expresses.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../../lib/errors.js';
import { jsonLogger, type Logger } from '../../lib/log.js';
import { closeRedis, openRedis, redisBreaker, type OpenRedisOptions, type Redis, type RedisBreaker } from '../../platform/redis.js';

export interface LoginThrottleOptions {
  /** Failures tolerated before attempts are refused. */
  maxFailures?: number;
  /** A key is forgotten after this long without failures (counted from the end of any block). */
  windowMs?: number;
  /** The first block; each further failure doubles it. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Where the counters live; default: in this process. The throttle owns it (`close`). */
  store?: ThrottleStore;
}

/** One key's run of failures. Times are ms since the epoch on the caller's clock. */
export interface FailureRecord {
  failures: number;
  lastFailureAt: number;
  /** 0 when never blocked. */
  blockedUntil: number;
}

/** The policy as data, so a store (a Redis script included) can apply a failure atomically. */
export interface FailurePolicy {
  /** `delaysMs[n - 1]`: the block that the n-th failure in a row starts (0: none); the last entry holds beyond. */
  delaysMs: number[];
  /** Quiet time after the later of the last failure and the block's end, after which a key is forgotten. */
  windowMs: number;
}

/** Failure counters by key. Both implementations apply `afterFailure`, so they decide alike. */
export interface ThrottleStore {
  readonly kind: 'memory' | 'redis';
  /** Each key's record, or undefined when it has none or it is forgotten at `at`. */
  read(keys: string[], at: number, policy: FailurePolicy): Promise<(FailureRecord | undefined)[]>;
  /** One more failure on every key, each applied atomically. */
  fail(keys: string[], at: number, policy: FailurePolicy): Promise<void>;
  clear(key: string): Promise<void>;
  close(): Promise<void>;
}

export function isForgotten(record: FailureRecord, at: number, windowMs: number): boolean {
  return at - Math.max(record.lastFailureAt, record.blockedUntil) >= windowMs;
}

/** The record after one more failure at `at` (a forgotten record starts over). */
export function afterFailure(record: FailureRecord | undefined, at: number, policy: FailurePolicy): FailureRecord {
  const live = record && !isForgotten(record, at, policy.windowMs) ? record : undefined;
  const failures = (live?.failures ?? 0) + 1;
  const delayMs = policy.delaysMs[Math.min(failures, policy.delaysMs.length) - 1] ?? 0;
  return { failures, lastFailureAt: at, blockedUntil: delayMs > 0 ? at + delayMs : (live?.blockedUntil ?? 0) };
}

const MINUTE_MS = 60_000;

/**
 * Slows down password guessing. Keys are the account (tenant slug + email), the source address,
 * and for password changes the user. After `maxFailures` failures, each further attempt within
 * the block is refused before any password check; each failure after that doubles the block
 * (30 s, 1 min, 2 min, … capped at 15 min). A key is forgotten after a quiet window following its
 * last failure or block, so a persistent guesser stays at the cap. Times come from the caller
 * (the server's injectable clock).
 */
export class LoginThrottle {
  private readonly policy: FailurePolicy;
  private readonly store: ThrottleStore;

  constructor(options: LoginThrottleOptions = {}) {
    const maxFailures = options.maxFailures ?? 5;
    const baseDelayMs = options.baseDelayMs ?? 30_000;
    const maxDelayMs = options.maxDelayMs ?? 15 * MINUTE_MS;
    const delaysMs: number[] = [];
    // Until the cap is reached (or the doubling stops mattering); the last delay holds beyond.
    for (let failures = 1; ; failures++) {
      const over = failures - maxFailures;
      const delayMs = over < 0 ? 0 : Math.min(baseDelayMs * 2 ** over, maxDelayMs);
      delaysMs.push(delayMs);
      if (over >= 0 && (delayMs >= maxDelayMs || over >= 30)) break;
    }
    this.policy = { delaysMs, windowMs: options.windowMs ?? 15 * MINUTE_MS };
    this.store = options.store ?? new MemoryThrottleStore();
  }

  get kind(): 'memory' | 'redis' {
    return this.store.kind;
  }

  static accountKey(tenantSlug: string, email: string): string {
    return `account:${tenantSlug}\u0000${email}`;
  }

  static sourceKey(sourceIp: string): string {
    return `ip:${sourceIp}`;
  }

  /** Rejects with TOO_MANY_REQUESTS (LOGIN_THROTTLED) when any key is blocked at `now`. */
  async check(keys: string[], now: Date): Promise<void> {
    const at = now.getTime();
    const records = await this.store.read(keys, at, this.policy);
    const waitMs = Math.max(0, ...records.map((record) => (record?.blockedUntil ?? 0) - at));
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      throw new AppError('LOGIN_THROTTLED', `Too many failed sign-in attempts; try again in ${seconds} seconds.`);
    }
  }

  fail(keys: string[], now: Date): Promise<void> {
    return this.store.fail(keys, now.getTime(), this.policy);
  }

  clear(key: string): Promise<void> {
    return this.store.clear(key);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

/** One process's counters; a restart forgets them. Forgotten keys are swept at most once a window. */
export class MemoryThrottleStore implements ThrottleStore {
  readonly kind = 'memory';
  /**
   * A Map, not an LRU: evicting by recency would let a guesser wipe an account's count by
   * failing on many other keys. The sweep bounds it to the keys that failed within a window.
   */
  private readonly records = new Map<string, FailureRecord>();
  private lastSweep = 0;

  /** Keys held now (tests). */
  get size(): number {
    return this.records.size;
  }

  read(keys: string[], at: number, policy: FailurePolicy): Promise<(FailureRecord | undefined)[]> {
    return Promise.resolve(keys.map((key) => this.live(key, at, policy.windowMs)));
  }

  fail(keys: string[], at: number, policy: FailurePolicy): Promise<void> {
    this.sweep(at, policy.windowMs);
    for (const key of keys) this.records.set(key, afterFailure(this.records.get(key), at, policy));
    return Promise.resolve();
  }

  clear(key: string): Promise<void> {
    this.records.delete(key);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.records.clear();
    return Promise.resolve();
  }

  private live(key: string, at: number, windowMs: number): FailureRecord | undefined {
    const record = this.records.get(key);
    if (record && isForgotten(record, at, windowMs)) {
      this.records.delete(key);
      return undefined;
    }
    return record;
  }

  private sweep(at: number, windowMs: number): void {
    if (at - this.lastSweep < windowMs) return;
    this.lastSweep = at;
    for (const [key, record] of this.records) if (isForgotten(record, at, windowMs)) this.records.delete(key);
  }
}

/**
 * KEYS: one hash per throttle key (fields f: failures, l: last failure, b: blocked until).
 * ARGV: at, window ms, then the policy's delays. `afterFailure` in Lua, applied to each key, and
 * the key set to expire when it would be forgotten (a backstop: reads judge on the caller's clock).
 */
const FAIL_SCRIPT = `
local at = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local n = #ARGV - 2
for i = 1, #KEYS do
  local rec = redis.call('HMGET', KEYS[i], 'f', 'l', 'b')
  local f = rec[1] and tonumber(rec[1]) or 0
  local l = rec[2] and tonumber(rec[2]) or 0
  local b = rec[3] and tonumber(rec[3]) or 0
  if f > 0 and at - math.max(l, b) >= window then
    f = 0
    b = 0
  end
  f = f + 1
  local d = tonumber(ARGV[2 + math.min(f, n)])
  if d > 0 then b = at + d end
  redis.call('HSET', KEYS[i], 'f', f, 'l', at, 'b', b)
  redis.call('PEXPIRE', KEYS[i], math.max(at, b) + window - at)
end
return #KEYS
`;
const FAIL_SHA = createHash('sha1').update(FAIL_SCRIPT).digest('hex');

export interface RedisThrottleStoreOptions {
  /** Namespace for the counters (`<prefix>lt:<scope>:<sha256 of the key>`). */
  prefix?: string;
}

/**
 * Counters shared by every instance using the same Redis and prefix. Keys are stored hashed, so
 * Redis holds no email addresses or client IPs. Block ends are on the callers' clocks, so
 * instances' clocks should agree (NTP).
 *
 * During a Redis outage (breaker open, or a command failed or timed out) failures are counted
 * in an in-process MemoryThrottleStore instead, and checks consult both: availability over
 * strictness, as for request budgets, so during an outage each instance counts on its own. A
 * success that cannot clear the account's count in Redis leaves it there until it is forgotten.
 * Takes ownership of the connection: `close` closes it.
 */
export class RedisThrottleStore implements ThrottleStore {
  readonly kind = 'redis';
  private readonly prefix: string;
  private readonly breaker: RedisBreaker;
  private readonly fallback = new MemoryThrottleStore();

  constructor(
    private readonly redis: Redis,
    options: RedisThrottleStoreOptions = {},
  ) {
    this.prefix = options.prefix ?? 'palisade:';
    this.breaker = redisBreaker(redis);
  }

  async read(keys: string[], at: number, policy: FailurePolicy): Promise<(FailureRecord | undefined)[]> {
    const local = await this.fallback.read(keys, at, policy);
    const shared = await this.attempt(async () => {
      const pipeline = this.redis.pipeline();
      for (const key of keys) pipeline.hmget(this.redisKey(key), 'f', 'l', 'b');
      const replies = (await pipeline.exec()) ?? [];
      return keys.map((_, i) => {
        const [error, fields] = replies[i] ?? [new Error('no reply')];
        if (error) throw error;
        return toRecord(fields as (string | null)[]);
      });
    });
    // The stricter of the two: failures counted here during an outage still count.
    return keys.map((_, i) => {
      const fromRedis = shared?.[i];
      const live = fromRedis && !isForgotten(fromRedis, at, policy.windowMs) ? fromRedis : undefined;
      const here = local[i];
      if (!live) return here;
      if (!here) return live;
      return live.blockedUntil >= here.blockedUntil ? live : here;
    });
  }

  async fail(keys: string[], at: number, policy: FailurePolicy): Promise<void> {
    if (keys.length === 0) return;
    const redisKeys = keys.map((key) => this.redisKey(key));
    const args = [at, policy.windowMs, ...policy.delaysMs];
    const done = await this.attempt(() => this.run(redisKeys, args));
    if (done === undefined) await this.fallback.fail(keys, at, policy);
  }

  async clear(key: string): Promise<void> {
    await this.fallback.clear(key);
    await this.attempt(() => this.redis.del(this.redisKey(key)));
  }

  close(): Promise<void> {
    return closeRedis(this.redis);
  }

  /** The scope stays readable (`account`, `ip`, `user`); the rest is hashed. */
  private redisKey(key: string): string {
    const scope = key.split(':', 1)[0] ?? '';
    return `${this.prefix}lt:${scope}:${createHash('sha256').update(key).digest('hex')}`;
  }

  private async run(keys: string[], args: number[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(FAIL_SHA, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await this.redis.eval(FAIL_SCRIPT, keys.length, ...keys, ...args);
    }
  }

  /** undefined when Redis is skipped or the command failed (the breaker logs outages). */
  private async attempt<T>(command: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.breaker.run(command);
    } catch {
      return undefined;
    }
  }
}

function toRecord([f, l, b]: (string | null)[]): FailureRecord | undefined {
  if (f === null || f === undefined) return undefined;
  return { failures: Number(f), lastFailureAt: Number(l ?? 0), blockedUntil: Number(b ?? 0) };
}

export interface CreateLoginThrottleOptions extends Omit<LoginThrottleOptions, 'store'> {
  /** Redis when set (one count across instances), else in-process. */
  redisUrl?: string | undefined;
  prefix?: string;
  log?: Logger;
  /** Per-command timeout, breaker threshold and probe interval (see platform/redis.ts). */
  redis?: OpenRedisOptions;
}

export function createLoginThrottle(options: CreateLoginThrottleOptions = {}): LoginThrottle {
  const { redisUrl, prefix, log = jsonLogger, redis, ...policy } = options;
  const store = redisUrl ? new RedisThrottleStore(openRedis(redisUrl, log, { name: 'login throttle', ...redis }), { prefix }) : undefined;
  return new LoginThrottle({ ...policy, store });
}
