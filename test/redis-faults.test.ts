/**
 * Redis failing slowly or suddenly, on a private redis-server (test/private-redis.ts): a frozen
 * server (SIGSTOP) costs a caller one short command timeout and is then skipped by the
 * connection's breaker; a killed one is skipped at once; both are used again soon after they
 * answer. And a cache invalidation made while Redis cannot be reached is never lost.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis as RawRedis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../src/lib/log.js';
import { closeRedis, openRedis, redisBreaker, redisDown, type Redis } from '../src/platform/redis.js';
import { CredentialCache } from '../src/modules/credentials/credential-cache.js';
import type { Principal } from '../src/modules/credentials/credentials.service.js';
import { cacheKey, RedisQueryCache, UNKNOWN_VERSION } from '../src/platform/query-cache/query-cache.js';
import { RedisRateLimiter, windowIndex, type RateBucket, type RateDecision } from '../src/platform/rate-limit/rate-limiter.js';
import { privateRedisSkip, startPrivateRedis, type PrivateRedis } from './private-redis.js';
import { randomPrefix } from './redis.js';

const skip = privateRedisSkip();

/** One call waits at most the 50 ms command timeout; the rest is margin for a busy machine. */
const SLOW_CALL_MS = 150;
/** A call that skips Redis is in-process work only. */
const SKIPPED_CALL_MS = 30;
const MINUTE = 60_000;
const UNREACHABLE = 'redis unreachable; using in-process fallbacks until it answers';
const REACHABLE = 'redis reachable again';
/** Spins inside Redis for ARGV[1] ms, blocking every other client meanwhile. */
const BUSY_SCRIPT = `
local function now() local t = redis.call('TIME') return t[1] * 1000 + t[2] / 1000 end
local start = now()
repeat until now() - start >= tonumber(ARGV[1])
return 1`;

const key = (tenantId: string, version: number, request: unknown = 'orders') => cacheKey({ tenantId, role: 'viewer', version, request });

async function timed(call: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await call();
  return performance.now() - started;
}

/** Polls `check` every 10 ms; resolves with the milliseconds it took, rejects after `timeoutMs`. */
async function until(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(10);
  }
  return performance.now() - started;
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))] ?? 0;
const ms = (value: number) => `${value.toFixed(1)} ms`;

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A rate limiter and a query cache, each on its own connection (as the server opens them). */
function instance(url: string, prefix: string) {
  const lines: { message: string; connection: unknown }[] = [];
  const log: Logger = (_level, message, fields) => void lines.push({ message, connection: fields?.connection });
  const limiterConnection = openRedis(url, log, { name: 'rate limiter' });
  const cacheConnection = openRedis(url, log, { name: 'query cache' });
  const limiter = new RedisRateLimiter(limiterConnection, { prefix });
  const cache = new RedisQueryCache(cacheConnection, { prefix });
  closers.push(() => limiter.close(), () => cache.close());
  const logOf = (connection: string) => lines.filter((l) => l.connection === connection).map((l) => l.message);
  return { limiter, cache, limiterConnection, cacheConnection, logOf };
}

/** A plain client with no breaker: the "second instance" that checks what Redis holds. */
function observer(url: string): RawRedis {
  const redis = new RawRedis(url, { maxRetriesPerRequest: 1 });
  closers.push(async () => redis.disconnect());
  return redis;
}

const bothUp = (...connections: Redis[]) => () => connections.every((c) => !redisDown(c));

describe.skipIf(skip !== undefined)(`Redis faults${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let server: PrivateRedis;
  beforeAll(async () => {
    server = await startPrivateRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** Redis answers this instance's rate limiter and cache, as seen from another client. */
  async function expectRedisUsed(subject: ReturnType<typeof instance>, prefix: string, bucket: RateBucket) {
    const redis = observer(server.url);
    const now = Date.now();
    const counter = `${prefix}rl:${bucket.key}:${bucket.rule.windowMs}:${windowIndex(now, bucket.rule.windowMs)}`;
    const before = Number((await redis.get(counter)) ?? 0);
    expect((await subject.limiter.consume([bucket], now)).allowed).toBe(true);
    expect(subject.limiter.usingFallback).toBe(false);
    expect(Number(await redis.get(counter))).toBe(before + 1);
    const written = key(randomUUID(), 0);
    await subject.cache.set(written, 'written after the outage', MINUTE);
    expect(await redis.get(prefix + written)).toBe('written after the outage');
  }

  it('a frozen Redis costs one short timeout per connection, then is skipped until it answers again', async () => {
    const prefix = randomPrefix();
    const subject = instance(server.url, prefix);
    const tenant = randomUUID();
    const bucket: RateBucket = { key: `tenant:${tenant}`, rule: { limit: 1_000_000, windowMs: MINUTE } };
    const entry = key(tenant, 0);
    await subject.limiter.consume([bucket], Date.now());
    await subject.cache.set(entry, 'before', MINUTE);
    expect(subject.limiter.usingFallback).toBe(false);

    server.pause();
    const limiterMs: number[] = [];
    const cacheMs: number[] = [];
    const end = Date.now() + 3_000;
    while (Date.now() < end) {
      limiterMs.push(await timed(async () => expect((await subject.limiter.consume([bucket], Date.now())).allowed).toBe(true)));
      cacheMs.push(await timed(async () => expect(await subject.cache.get(entry)).toBeUndefined()));
      cacheMs.push(await timed(() => subject.cache.set(entry, 'during', MINUTE)));
      await sleep(20);
    }
    expect(redisDown(subject.limiterConnection) && redisDown(subject.cacheConnection)).toBe(true);
    server.resume();
    const closedMs = await until(bothUp(subject.limiterConnection, subject.cacheConnection), 2_000, 'breakers closed after SIGCONT');

    const all = [...limiterMs, ...cacheMs];
    const rest = [...limiterMs.slice(3), ...cacheMs.slice(3)];
    console.log(
      `[redis-faults] frozen 3 s: ${all.length} calls; first ${ms(limiterMs[0]!)} (rate limiter), ${ms(cacheMs[0]!)} (cache); ` +
        `after the breakers opened p50 ${ms(percentile(rest, 50))}, p99 ${ms(percentile(rest, 99))}, max ${ms(Math.max(...rest))}; ` +
        `breakers closed ${ms(closedMs)} after SIGCONT`,
    );
    expect(Math.max(...all)).toBeLessThan(SLOW_CALL_MS);
    // The breaker opens after three failures in a row; every later call skips Redis.
    expect(Math.max(...rest)).toBeLessThan(SKIPPED_CALL_MS);
    expect(closedMs).toBeLessThan(1_500);
    await expectRedisUsed(subject, prefix, bucket);
    // One line when each breaker opens and one when it closes, not one per call.
    expect(subject.logOf('rate limiter')).toEqual([UNREACHABLE, REACHABLE]);
    expect(subject.logOf('query cache')).toEqual([UNREACHABLE, REACHABLE]);
  });

  it('a lone slow reply fails one call but does not open the breaker', async () => {
    const connection = openRedis(server.url, () => undefined, { name: 'slow' });
    closers.push(() => closeRedis(connection));
    const breaker = redisBreaker(connection);
    await breaker.run(() => connection.ping());
    // Another client keeps the server busy for 150 ms (a slow command, a fork, a GC-like stall).
    const busy = observer(server.url).eval(BUSY_SCRIPT, 0, 150);
    await sleep(20);
    await expect(breaker.run(() => connection.get('x'))).rejects.toThrow(/timed out after 50 ms/);
    await busy;
    expect(await breaker.run(() => connection.get('x'))).toBeNull();
    expect(breaker.isOpen).toBe(false);
  });

  it('a killed Redis is skipped at once, and used again after it restarts on the same port', async () => {
    const prefix = randomPrefix();
    const subject = instance(server.url, prefix);
    const bucket: RateBucket = { key: `tenant:${randomUUID()}`, rule: { limit: 3, windowMs: MINUTE } };
    await subject.limiter.consume([bucket], Date.now());

    await server.kill();
    await until(() => redisDown(subject.limiterConnection) && redisDown(subject.cacheConnection), 1_000, 'breakers open after the kill');
    const decisions: RateDecision[] = [];
    for (let i = 0; i < 4; i++) {
      expect(await timed(async () => decisions.push(await subject.limiter.consume([bucket], Date.now())))).toBeLessThan(SKIPPED_CALL_MS);
      expect(await timed(async () => expect(await subject.cache.get(key(randomUUID(), 0))).toBeUndefined())).toBeLessThan(SKIPPED_CALL_MS);
    }
    // Still limited, by the in-process fallback (which started its own count).
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);

    await server.restart();
    const backMs = await until(bothUp(subject.limiterConnection, subject.cacheConnection), 5_000, 'breakers closed after the restart');
    console.log(`[redis-faults] killed and restarted: breakers closed ${ms(backMs)} after the new server answered`);
    await expectRedisUsed(subject, prefix, { key: `tenant:${randomUUID()}`, rule: { limit: 3, windowMs: MINUTE } });
    expect(subject.logOf('rate limiter')).toEqual([UNREACHABLE, REACHABLE]);
  });

  it('an invalidation made while the breaker is open is replayed before Redis is read again, for every instance', async () => {
    const prefix = randomPrefix();
    const one = instance(server.url, prefix);
    const two = instance(server.url, prefix);
    const tenant = randomUUID();
    // The other instance cached the tenant's result before the outage.
    const before = await two.cache.tenantVersion(tenant);
    await two.cache.set(key(tenant, before), 'stale after the write', MINUTE);
    expect(await one.cache.get(key(tenant, await one.cache.tenantVersion(tenant)))).toBe('stale after the write');

    server.pause();
    for (let i = 0; i < 3; i++) await one.cache.get(key(tenant, before));
    expect(redisDown(one.cacheConnection)).toBe(true);
    // A write on this instance: its bump cannot even be sent.
    await one.cache.invalidateTenant(tenant);
    expect(one.cache.owedInvalidations).toBe(1);
    expect(await one.cache.tenantVersion(tenant)).toBe(UNKNOWN_VERSION);
    server.resume();

    await until(() => !redisDown(one.cacheConnection), 2_000, 'breaker closed after SIGCONT');
    expect(await one.cache.get(key(tenant, await one.cache.tenantVersion(tenant)))).toBeUndefined();
    expect(one.cache.owedInvalidations).toBe(0);
    // The replay reached Redis, so the other instance misses too.
    expect(await two.cache.get(key(tenant, await two.cache.tenantVersion(tenant)))).toBeUndefined();
  });

  it('a credential eviction that could not be published is published once Redis answers', async () => {
    const channel = `palisade-test:credential-evictions:${randomUUID()}`;
    const make = () => {
      const cache = new CredentialCache({ ttlMs: MINUTE, redisUrl: server.url, channel, log: () => undefined });
      closers.push(() => cache.close());
      return cache;
    };
    const [one, two] = [make(), make()];
    await Promise.all([one.ready(), two.ready()]);
    const principal: Principal = { kind: 'tenant', via: 'api_key', tenantId: randomUUID(), tenantSlug: 't', role: 'viewer', keyId: randomUUID(), rateLimit: null };
    await two.resolve('hash', new Date(), () => Promise.resolve({ principal, expiresAt: null }));

    server.pause();
    // Three publishes that time out open the publisher's breaker; the revocation is not even sent.
    for (let i = 0; i < 3; i++) expect(await timed(() => one.evict({ keyId: randomUUID() }))).toBeLessThan(SLOW_CALL_MS);
    expect(await timed(() => one.evict({ keyId: principal.keyId }))).toBeLessThan(SKIPPED_CALL_MS);
    // Meanwhile the other instance still answers from its cache (bounded by its TTL).
    expect(two.get('hash', new Date())).toEqual(principal);
    server.resume();
    await until(() => two.get('hash', new Date()) === undefined, 2_000, 'the other instance evicted the revoked key');
  });

  it('an invalidation made while Redis was dead is not lost when it comes back with its data', async () => {
    const persistent = await startPrivateRedis({ persist: true });
    closers.push(() => persistent.stop());
    const prefix = randomPrefix();
    const { cache, cacheConnection } = instance(persistent.url, prefix);
    const tenant = randomUUID();
    const before = await cache.tenantVersion(tenant);
    await cache.set(key(tenant, before), 'stale after the write', MINUTE);

    await persistent.kill();
    await until(() => redisDown(cacheConnection), 1_000, 'breaker open after the kill');
    await cache.invalidateTenant(tenant);
    await persistent.restart();
    // The entry survived the restart, so only the version can keep it from being served.
    expect(await observer(persistent.url).get(prefix + key(tenant, before))).toBe('stale after the write');

    await until(() => !redisDown(cacheConnection), 5_000, 'breaker closed after the restart');
    expect(await cache.get(key(tenant, await cache.tenantVersion(tenant)))).toBeUndefined();
  });
});

// closeRedis is what the server calls on shutdown; a paused server must not make it hang.
describe.skipIf(skip !== undefined)('closing during an outage', () => {
  it('returns at once while Redis is frozen', async () => {
    const server = await startPrivateRedis();
    closers.push(() => server.stop());
    const connection = openRedis(server.url, () => undefined, { name: 'closing' });
    await connection.ping();
    server.pause();
    // Not yet known to be down: QUIT is sent and given one command timeout.
    expect(await timed(() => closeRedis(connection))).toBeLessThan(SLOW_CALL_MS);
  });
});
