/**
 * One contract for both query caches: the in-process LRU always, Redis when it answers (else
 * skipped with the reason printed). LRU eviction is the memory cache's own (Redis evicts by its
 * maxmemory policy) and is covered in src/platform/query-cache/query-cache.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { silentLogger, type Logger } from '../src/lib/log.js';
import { openRedis } from '../src/platform/redis.js';
import { cacheKey, createQueryCache, MemoryQueryCache, RedisQueryCache, UNKNOWN_VERSION, type QueryCache } from '../src/platform/query-cache/query-cache.js';
import { DEAD_REDIS_URL, deletePrefixes, randomPrefix, testRedis } from './redis.js';

const redis = await testRedis();

interface Subject {
  cache: QueryCache;
  /** Lets `ms` pass for TTL purposes (a moved clock in memory, real time in Redis). */
  pass(ms: number): Promise<void>;
  /** A TTL that is short in real time for Redis, arbitrary for memory. */
  shortTtlMs: number;
}

const opened: QueryCache[] = [];
const prefixes: string[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  if (redis.url) await deletePrefixes(redis.url, prefixes);
});

function memorySubject(): Subject {
  let now = Date.now();
  const cache = new MemoryQueryCache({ clock: () => new Date(now) });
  opened.push(cache);
  return { cache, pass: (ms) => Promise.resolve(void (now += ms)), shortTtlMs: 1_000 };
}

function redisSubject(prefix = randomPrefix()): Subject {
  prefixes.push(prefix);
  const cache = new RedisQueryCache(openRedis(redis.url!, silentLogger), { prefix });
  opened.push(cache);
  return { cache, pass: (ms) => sleep(ms), shortTtlMs: 150 };
}

const key = (tenantId: string, version: number, request: unknown = { dataset: 'orders' }, role = 'viewer') =>
  cacheKey({ tenantId, role, version, request });

function contract(kind: 'memory' | 'redis', make: () => Subject) {
  it('reports its kind', () => {
    expect(make().cache.kind).toBe(kind);
  });

  it('returns what was set, and undefined for a miss', async () => {
    const { cache } = make();
    const tenant = randomUUID();
    expect(await cache.get(key(tenant, 0))).toBeUndefined();
    await cache.set(key(tenant, 0), '{"rows":[1]}', 60_000);
    expect(await cache.get(key(tenant, 0))).toBe('{"rows":[1]}');
  });

  it('expires entries after their TTL', async () => {
    const { cache, pass, shortTtlMs } = make();
    const k = key(randomUUID(), 0);
    await cache.set(k, 'soon gone', shortTtlMs);
    expect(await cache.get(k)).toBe('soon gone');
    await pass(shortTtlMs + 50);
    expect(await cache.get(k)).toBeUndefined();
  });

  it("invalidating one tenant hides its entries and leaves other tenants' intact", async () => {
    const { cache } = make();
    const [a, b] = [randomUUID(), randomUUID()];
    const va = await cache.tenantVersion(a);
    const vb = await cache.tenantVersion(b);
    expect([va, vb]).toEqual([0, 0]);
    await cache.set(key(a, va), 'A', 60_000);
    await cache.set(key(b, vb), 'B', 60_000);
    await cache.invalidateTenant(a);
    const va2 = await cache.tenantVersion(a);
    expect(va2).toBe(va + 1);
    expect(await cache.get(key(a, va2))).toBeUndefined();
    expect(await cache.tenantVersion(b)).toBe(vb);
    expect(await cache.get(key(b, vb))).toBe('B');
  });

  it('never shares an entry between tenants or roles asking the same question', async () => {
    const { cache } = make();
    const [a, b] = [randomUUID(), randomUUID()];
    const request = { dataset: 'orders', metrics: ['revenue'], dimensions: ['region'] };
    await cache.set(key(a, 0, request, 'viewer'), "A's viewer rows", 60_000);
    expect(await cache.get(key(b, 0, request, 'viewer'))).toBeUndefined();
    expect(await cache.get(key(a, 0, request, 'admin'))).toBeUndefined();
    expect(await cache.get(key(a, 0, { ...request, metrics: ['order_count'] }, 'viewer'))).toBeUndefined();
  });

  it('neither stores nor reads under the unknown version', async () => {
    const { cache } = make();
    const k = key(randomUUID(), UNKNOWN_VERSION);
    await cache.set(k, 'x', 60_000);
    expect(await cache.get(k)).toBeUndefined();
  });
}

describe('MemoryQueryCache contract', () => contract('memory', memorySubject));

describe.skipIf(!redis.url)(`RedisQueryCache contract${redis.skip ? ` (skipped: ${redis.skip})` : ''}`, () => {
  contract('redis', redisSubject);

  it('shares entries and invalidation between two connections with the same prefix', async () => {
    const prefix = randomPrefix();
    const one = redisSubject(prefix).cache;
    const two = redisSubject(prefix).cache;
    const tenant = randomUUID();
    await one.set(key(tenant, 0), 'shared', 60_000);
    expect(await two.get(key(tenant, 0))).toBe('shared');
    await two.invalidateTenant(tenant);
    expect(await one.tenantVersion(tenant)).toBe(1);
  });

  it('keeps caches with different prefixes apart', async () => {
    const one = redisSubject().cache;
    const two = redisSubject().cache;
    const tenant = randomUUID();
    await one.set(key(tenant, 0), 'mine', 60_000);
    await one.invalidateTenant(tenant);
    expect(await two.get(key(tenant, 0))).toBeUndefined();
    expect(await two.tenantVersion(tenant)).toBe(0);
  });

  it('createQueryCache picks Redis when given a URL', async () => {
    const prefix = randomPrefix();
    prefixes.push(prefix);
    const cache = createQueryCache({ redisUrl: redis.url!, prefix, log: silentLogger });
    opened.push(cache);
    expect(cache.kind).toBe('redis');
    await cache.set(key(randomUUID(), 0), 'v', 1_000);
  });
});

describe('RedisQueryCache during an outage', () => {
  it('answers misses and no-ops instead of throwing, and logs once', async () => {
    const lines: string[] = [];
    const log: Logger = (_level, message) => void lines.push(message);
    const cache = new RedisQueryCache(openRedis(DEAD_REDIS_URL, log, { commandTimeoutMs: 300 }));
    opened.push(cache);
    const tenant = randomUUID();
    const started = Date.now();
    for (let i = 0; i < 3; i++) {
      expect(await cache.get(key(tenant, 0))).toBeUndefined();
      await expect(cache.set(key(tenant, 0), 'v', 60_000)).resolves.toBeUndefined();
      expect(await cache.tenantVersion(tenant)).toBe(UNKNOWN_VERSION);
      await expect(cache.invalidateTenant(tenant)).resolves.toBeUndefined();
    }
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(lines).toEqual(['redis unreachable; using in-process fallbacks until it answers']);
    // Bumps made meanwhile are owed, to be replayed once Redis answers.
    expect(cache.owedInvalidations).toBe(1);
  });

  it('createQueryCache without a URL is the in-process LRU', () => {
    const cache = createQueryCache({ maxEntries: 10, log: silentLogger });
    opened.push(cache);
    expect(cache.kind).toBe('memory');
  });
});
