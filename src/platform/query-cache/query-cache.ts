/**
 * Per-tenant cache of query results. Isolation lives in the key: every key names the tenant and
 * the role, so two tenants (or two roles of one tenant) can never read each other's entry, and a
 * per-tenant version is part of the key, so bumping it after a write makes the tenant's old
 * entries unreachable at once (they age out by TTL or LRU). In memory by default; Redis when
 * configured, so several server instances share entries and invalidation.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Clock } from '../../lib/clock.js';
import { jsonLogger, type Logger } from '../../lib/log.js';
import { closeRedis, openRedis, redisBreaker, type OpenRedisOptions, type Redis, type RedisBreaker } from '../redis.js';

export interface QueryCache {
  /** undefined on a miss or when the backend is unreachable (logged; the query just runs). */
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** The tenant's current version; part of every cache key, so bumping it invalidates the tenant. */
  tenantVersion(tenantId: string): Promise<number>;
  invalidateTenant(tenantId: string): Promise<void>;
  /** Every tenant's entries unreachable: changes may have been missed (platform/change-feed.ts). */
  invalidateAll(): Promise<void>;
  readonly kind: 'memory' | 'redis';
  close(): Promise<void>;
}

/**
 * Returned by `tenantVersion` when the version cannot be read. Keys built with it are never
 * stored or read, so a blip in Redis cannot serve an entry from before an invalidation.
 */
export const UNKNOWN_VERSION = -1;

/** Object keys sorted at every level (arrays keep their order), so equal requests hash alike. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const record = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(record).sort().map((k) => [k, record[k]]));
  }) ?? 'null';
}

/** Hashes of recent requests by their text: dashboards repeat a few queries, so most hits skip SHA-256. */
const recentHashes = new Map<string, string>();
const MAX_RECENT_HASHES = 1_000;

/** A string request is its own canonical text (the analytics service passes one); anything else is made canonical. */
function requestHash(request: unknown): string {
  const text = typeof request === 'string' ? request : canonicalJson(request);
  let hash = recentHashes.get(text);
  if (hash === undefined) {
    hash = createHash('sha256').update(text).digest('hex');
    if (recentHashes.size >= MAX_RECENT_HASHES) recentHashes.clear();
    recentHashes.set(text, hash);
  }
  return hash;
}

/**
 * `q:<tenantId>:<role>:<version>:<sha256 of the canonical request>`. Tenant and role come first
 * and may not contain ':', so no two tenants or roles can produce the same key.
 */
export function cacheKey(parts: { tenantId: string; role: string; version: number; request: unknown }): string {
  for (const [name, value] of [['tenantId', parts.tenantId], ['role', parts.role]] as const) {
    if (value === '' || value.includes(':')) throw new Error(`cacheKey: ${name} must be non-empty and contain no ':' (got ${JSON.stringify(value)})`);
  }
  if (!Number.isInteger(parts.version)) throw new Error(`cacheKey: version must be an integer (got ${parts.version})`);
  return `q:${parts.tenantId}:${parts.role}:${parts.version}:${requestHash(parts.request)}`;
}

function cacheable(key: string): boolean {
  return key.split(':')[3] !== String(UNKNOWN_VERSION);
}

function tenantPrefix(tenantId: string): string {
  return `q:${tenantId}:`;
}

export interface MemoryQueryCacheOptions {
  maxEntries?: number;
  /** Upper bound on the summed UTF-8 size of cached values. */
  maxBytes?: number;
  clock?: Clock;
}

/**
 * LRU in one process (lru-cache), bounded by entry count and by the summed UTF-8 size of values;
 * a value larger than the whole budget is not stored. Each entry has its own TTL, measured on the
 * injected clock; like Redis's `PX`, an entry is served while its age is at most its TTL.
 */
export class MemoryQueryCache implements QueryCache {
  readonly kind = 'memory';
  private readonly entries: LRUCache<string, string>;
  private readonly versions = new Map<string, number>();
  /** Added to every tenant's version, so `invalidateAll` moves them all on, known tenants or not. */
  private epoch = 0;

  constructor(options: MemoryQueryCacheOptions = {}) {
    const clock = options.clock ?? (() => new Date());
    this.entries = new LRUCache<string, string>({
      max: options.maxEntries ?? 1_000,
      maxSize: options.maxBytes ?? 64 * 1024 * 1024,
      // lru-cache wants sizes of at least 1; results are JSON, never empty.
      sizeCalculation: (value) => Math.max(1, Buffer.byteLength(value, 'utf8')),
      // TTLs run on the server's clock (tests move it); read on every check, not once per ms.
      perf: { now: () => clock().getTime() },
      ttlResolution: 0,
    });
  }

  /** Entries and bytes currently held (for tests and metrics). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.entries.calculatedSize };
  }

  /** A hit makes the entry the most recent; an expired entry is dropped. */
  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.entries.get(key));
  }

  set(key: string, value: string, ttlMs: number): Promise<void> {
    const ttl = Math.ceil(ttlMs);
    if (ttl <= 0 || !cacheable(key)) this.entries.delete(key);
    else this.entries.set(key, value, { ttl });
    return Promise.resolve();
  }

  tenantVersion(tenantId: string): Promise<number> {
    return Promise.resolve((this.versions.get(tenantId) ?? 0) + this.epoch);
  }

  /** Bumps the version and frees the tenant's entries now rather than waiting for LRU. */
  invalidateTenant(tenantId: string): Promise<void> {
    this.versions.set(tenantId, (this.versions.get(tenantId) ?? 0) + 1);
    // keys() skips expired entries; drop those first so they are freed too.
    this.entries.purgeStale();
    const prefix = tenantPrefix(tenantId);
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key);
    return Promise.resolve();
  }

  invalidateAll(): Promise<void> {
    this.epoch++;
    this.entries.clear();
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.entries.clear();
    return Promise.resolve();
  }
}

export interface RedisQueryCacheOptions {
  /** Namespace for every key this cache writes (several apps or test runs may share a Redis). */
  prefix?: string;
}

/**
 * Shared across instances: entries are `SET … PX ttl` (eviction beyond that is Redis's
 * `maxmemory-policy`), versions are `<prefix>v:<tenantId>` counters bumped with INCR. Commands go
 * through the connection's breaker (platform/redis.ts): while Redis is down or frozen every read is a
 * miss and every write a no-op, at once; a request never fails or waits because of the cache.
 *
 * A version bump that does not reach Redis (breaker open, refused, timed out) is owed: the tenant
 * is remembered here, its version counts as unknown (nothing read or stored) until the bump is
 * replayed, and the replay runs as soon as the breaker closes (and lazily on the tenant's next
 * read). So an entry written before the bump, by any instance, is never served again once Redis
 * is back. A bump that timed out may also have been applied: then the version moves twice, which
 * costs nothing but a miss. Takes ownership of the connection: `close` closes it.
 */
export class RedisQueryCache implements QueryCache {
  readonly kind = 'redis';
  private readonly prefix: string;
  private readonly breaker: RedisBreaker;
  /** Tenants whose bump did not reach Redis, each with a serial so a newer debt is never dropped. */
  private readonly owed = new Map<string, number>();
  private debtSerial = 0;
  private repaying = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly stopListening: () => void;

  constructor(
    private readonly redis: Redis,
    options: RedisQueryCacheOptions = {},
  ) {
    this.prefix = options.prefix ?? 'palisade:';
    this.breaker = redisBreaker(redis);
    this.stopListening = this.breaker.onClose(() => void this.repay());
  }

  /** Tenants whose invalidation is still to be replayed into Redis (tests, metrics). */
  get owedInvalidations(): number {
    return this.owed.size;
  }

  async get(key: string): Promise<string | undefined> {
    if (!cacheable(key)) return undefined;
    return (await this.attempt(() => this.redis.get(this.prefix + key))) ?? undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    const ms = Math.ceil(ttlMs);
    if (ms <= 0 || !cacheable(key)) return;
    await this.attempt(() => this.redis.set(this.prefix + key, value, 'PX', ms));
  }

  async tenantVersion(tenantId: string): Promise<number> {
    const debt = this.owed.get(tenantId);
    if (debt !== undefined) {
      // Pay the debt first: the INCR's answer is the version to use from now on.
      const bumped = await this.attempt(() => this.redis.incr(this.versionKey(tenantId)));
      if (bumped === undefined) return UNKNOWN_VERSION;
      if (this.owed.get(tenantId) === debt) this.owed.delete(tenantId);
      return bumped;
    }
    const raw = await this.attempt(() => this.redis.get(this.versionKey(tenantId)));
    if (raw === undefined) return UNKNOWN_VERSION;
    return raw === null ? 0 : Number(raw);
  }

  /**
   * Never loses a bump made while Redis is unreachable (see the class comment). Still lost: a
   * version key Redis evicts under memory pressure, or rolls back (restored from an older
   * snapshot, failover to a lagging replica); entries' TTLs bound those.
   */
  async invalidateTenant(tenantId: string): Promise<void> {
    if ((await this.attempt(() => this.redis.incr(this.versionKey(tenantId)))) !== undefined) return;
    this.owed.set(tenantId, ++this.debtSerial);
    this.scheduleRepay();
  }

  /**
   * Nothing to do: versions live in Redis, shared, and every instance that heard a change bumped
   * them. A change no instance heard (every listener down at once) is bounded by the entries' TTL.
   */
  invalidateAll(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.stopListening();
    clearTimeout(this.retryTimer);
    return closeRedis(this.redis);
  }

  private versionKey(tenantId: string): string {
    return `${this.prefix}v:${tenantId}`;
  }

  /** Replays every owed bump in one pipeline; what fails stays owed. */
  private async repay(): Promise<void> {
    if (this.owed.size === 0 || this.repaying) return;
    this.repaying = true;
    const debts = [...this.owed];
    try {
      const replies = await this.attempt(() => {
        const pipeline = this.redis.pipeline();
        for (const [tenantId] of debts) pipeline.incr(this.versionKey(tenantId));
        return pipeline.exec();
      });
      debts.forEach(([tenantId, serial], i) => {
        if (replies?.[i] && !replies[i][0] && this.owed.get(tenantId) === serial) this.owed.delete(tenantId);
      });
    } finally {
      this.repaying = false;
    }
    this.scheduleRepay();
  }

  /** While the breaker is open its closing triggers the replay; a lone failure is retried here. */
  private scheduleRepay(): void {
    if (this.owed.size === 0 || this.breaker.isOpen || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.repay();
    }, this.breaker.probeIntervalMs);
    this.retryTimer.unref();
  }

  /** undefined when Redis is skipped or the command failed (the breaker logs outages). */
  private async attempt<T>(run: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.breaker.run(run);
    } catch {
      return undefined;
    }
  }
}

/**
 * A cache whose tenant invalidations are also announced to the other instances (Citus, where
 * migration 0012's triggers cannot run: deps.ts). Everything else is the inner cache's.
 */
export class AnnouncingCache implements QueryCache {
  constructor(
    private readonly inner: QueryCache,
    private readonly announce: (tenantId: string) => Promise<void>,
  ) {}

  get kind() {
    return this.inner.kind;
  }

  get(key: string): Promise<string | undefined> {
    return this.inner.get(key);
  }

  set(key: string, value: string, ttlMs: number): Promise<void> {
    return this.inner.set(key, value, ttlMs);
  }

  tenantVersion(tenantId: string): Promise<number> {
    return this.inner.tenantVersion(tenantId);
  }

  async invalidateTenant(tenantId: string): Promise<void> {
    await this.inner.invalidateTenant(tenantId);
    await this.announce(tenantId);
  }

  invalidateAll(): Promise<void> {
    return this.inner.invalidateAll();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

export interface CreateQueryCacheOptions {
  /** Redis when set (shared by all instances), else an in-process LRU. */
  redisUrl?: string | undefined;
  maxEntries?: number;
  maxBytes?: number;
  prefix?: string;
  log?: Logger;
  clock?: Clock;
  /** Per-command timeout, breaker threshold and probe interval (see platform/redis.ts). */
  redis?: OpenRedisOptions;
}

export function createQueryCache(options: CreateQueryCacheOptions): QueryCache {
  const log = options.log ?? jsonLogger;
  if (options.redisUrl) {
    return new RedisQueryCache(openRedis(options.redisUrl, log, { name: 'query cache', ...options.redis }), { prefix: options.prefix });
  }
  return new MemoryQueryCache({ maxEntries: options.maxEntries, maxBytes: options.maxBytes, clock: options.clock });
}
