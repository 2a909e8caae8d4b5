/**
 * A short-lived cache of verified credentials, so a request does not pay a database round trip to
 * resolve its API key or session token. Safety rules, each for a reason:
 *
 * - Keyed by the SHA-256 of the whole secret (which includes its kind and tenant slug); the secret
 *   itself is never held. A principal is only ever returned for the secret it was resolved from.
 * - Only successes are cached: an unknown, revoked or suspended credential always reaches the
 *   database, so a fix (a new key, a resumed tenant) works at once and failures cannot fill the cache.
 * - The credential's own `expiresAt` is checked on every hit against the request's clock, so a
 *   rotation's grace period ends exactly on time; the entry's age bounds everything else (`ttlMs`).
 * - State changes evict: the server evicts the affected entries after the change commits and
 *   publishes the change on Redis (when configured) so every instance evicts too. A lookup that was
 *   in flight across an eviction is not stored, so it cannot put back what was just evicted.
 * - A publish that fails (Redis down or frozen) never undoes the local eviction; it is kept and
 *   published again when Redis answers. Meanwhile other instances may serve the old credential
 *   until their entry's `ttlMs` ends; an instance whose subscription dropped clears its whole
 *   cache when it resubscribes.
 * - Changes made behind the server's back (psql) are seen once the entry ages out (`ttlMs`).
 */
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { jsonLogger, type Logger } from '../../lib/log.js';
import { closeRedis, openRedis, redisBreaker, type OpenRedisOptions, type Redis } from '../../platform/redis.js';
import type { Principal } from './principal.js';

/** What changed; every cached credential matching any of the given fields is dropped. */
export interface CredentialChange {
  tenantId?: string;
  /** A tenant API key's or a platform-admin key's id. */
  keyId?: string;
  sessionId?: string;
  /** All of the user's sessions (role change, disable, password change, delete). */
  userId?: string;
}

/** A successful resolution as the database answered it. */
export interface ResolvedCredential {
  principal: Principal;
  /** The key's or session's own end; null: none. */
  expiresAt: Date | null;
}

export const DEFAULT_CREDENTIAL_CACHE_TTL_MS = 5_000;
export const DEFAULT_CREDENTIAL_CACHE_MAX_ENTRIES = 10_000;
export const CREDENTIAL_EVICTION_CHANNEL = 'palisade:credential-evictions';
/** Changes kept for re-publishing during an outage; beyond that the TTL alone bounds staleness. */
const MAX_UNSENT_CHANGES = 1_000;

export interface CredentialCacheOptions {
  /** How long a resolution is trusted; 0 disables caching (evictions are still published). */
  ttlMs?: number;
  maxEntries?: number;
  /** Share evictions with every instance subscribed to the same Redis. */
  redisUrl?: string;
  /** Per-command timeout, breaker threshold and probe interval (see platform/redis.ts). */
  redis?: OpenRedisOptions;
  /** Tests use their own, so parallel files never evict each other's entries. */
  channel?: string;
  log?: Logger;
}

interface Entry {
  principal: Principal;
  cachedAt: number;
  /** The earlier of the credential's own expiry and the cache TTL (ms since epoch). */
  validUntil: number;
}

interface EvictionMessage {
  from: string;
  changes: CredentialChange[];
}

const CHANGE_FIELDS = ['tenantId', 'keyId', 'sessionId', 'userId'] as const;

function matches(principal: Principal, change: CredentialChange): boolean {
  if (change.keyId !== undefined && 'keyId' in principal && principal.keyId === change.keyId) return true;
  if (principal.kind !== 'tenant') return false;
  if (change.tenantId !== undefined && principal.tenantId === change.tenantId) return true;
  if (principal.via !== 'session') return false;
  return (change.sessionId !== undefined && principal.sessionId === change.sessionId) || (change.userId !== undefined && principal.userId === change.userId);
}

/** Parsed or undefined: a message we cannot read must not be mistaken for "nothing changed". */
function parseMessage(text: string): EvictionMessage | undefined {
  try {
    const value = JSON.parse(text) as Partial<EvictionMessage>;
    if (typeof value.from !== 'string' || !Array.isArray(value.changes)) return undefined;
    const changes: CredentialChange[] = [];
    for (const raw of value.changes as unknown[]) {
      if (typeof raw !== 'object' || raw === null) return undefined;
      const change: CredentialChange = {};
      for (const field of CHANGE_FIELDS) {
        const v = (raw as Record<string, unknown>)[field];
        if (v === undefined) continue;
        if (typeof v !== 'string') return undefined;
        change[field] = v;
      }
      changes.push(change);
    }
    return { from: value.from, changes };
  } catch {
    return undefined;
  }
}

const isEmpty = (change: CredentialChange) => CHANGE_FIELDS.every((field) => change[field] === undefined);

/**
 * LRU of verified credentials (lru-cache, bounded by `maxEntries`). Validity is judged here, not by
 * lru-cache's TTL: it runs on the request's clock (the server's injectable one, which may move
 * back) and ends at the credential's own expiry too. One per server instance; `close()` ends its
 * Redis connections.
 */
export class CredentialCache {
  readonly ttlMs: number;
  private readonly entries: LRUCache<string, Entry>;
  /** Moves on at every eviction; a lookup started under an older value is not stored. */
  private generation = 0;
  private readonly id = randomUUID();
  private readonly channel: string;
  private readonly log: Logger;
  private readonly publisher: Redis | undefined;
  private readonly subscriber: Redis | undefined;
  private readonly subscribed: Promise<void>;
  /** Changes whose publish failed: sent with the next publish, or when the publisher's breaker closes. */
  private unsent: CredentialChange[] = [];
  /** Tells the other instances through Postgres where its triggers cannot (Citus; deps.ts). */
  private announce: ((changes: CredentialChange[]) => Promise<void>) | undefined;

  constructor(options: CredentialCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_CREDENTIAL_CACHE_TTL_MS;
    this.entries = new LRUCache({ max: options.maxEntries ?? DEFAULT_CREDENTIAL_CACHE_MAX_ENTRIES });
    this.channel = options.channel ?? CREDENTIAL_EVICTION_CHANNEL;
    this.log = options.log ?? jsonLogger;
    if (!options.redisUrl) {
      this.subscribed = Promise.resolve();
      return;
    }
    const publisher = openRedis(options.redisUrl, this.log, { name: 'credential evictions (publish)', ...options.redis });
    this.publisher = publisher;
    redisBreaker(publisher).onClose(() => void this.publish());
    const subscriber = openRedis(options.redisUrl, this.log, { name: 'credential evictions (subscribe)', ...options.redis });
    this.subscriber = subscriber;
    subscriber.on('message', (channel: string, text: string) => {
      if (channel === this.channel) this.receive(text);
    });
    let readyBefore = false;
    this.subscribed = new Promise<void>((resolve) => {
      // Subscribed on every (re)connect, so a Redis that was down at startup is picked up later.
      subscriber.on('ready', () => {
        // Evictions published while the subscription was down are lost: start over.
        if (readyBefore) this.clear();
        readyBefore = true;
        subscriber.subscribe(this.channel).then(
          () => resolve(),
          (error: unknown) => {
            this.log('warn', 'could not subscribe to credential evictions; cached credentials age out by TTL only', { error: String(error) });
            resolve();
          },
        );
      });
      subscriber.once('error', () => resolve());
    });
  }

  /** Entries held now (tests, metrics). */
  get size(): number {
    return this.entries.size;
  }

  /** Resolves once the Redis subscription is in place (or has failed, logged); at once without Redis. */
  ready(): Promise<void> {
    return this.subscribed;
  }

  /** The principal for this secret hash if a still-valid resolution is cached. */
  get(hash: string, now: Date): Principal | undefined {
    // A hit becomes the most recently used.
    const entry = this.entries.get(hash);
    if (!entry) return undefined;
    const at = now.getTime();
    // A clock that moved back before the entry was made is treated as a miss too.
    if (at >= entry.validUntil || at < entry.cachedAt) {
      this.entries.delete(hash);
      return undefined;
    }
    return entry.principal;
  }

  /**
   * The cached principal, or `load()`'s (then cached). Failures propagate and are never cached;
   * a result whose lookup overlapped an eviction is returned but not stored.
   */
  async resolve(hash: string, now: Date, load: () => Promise<ResolvedCredential>): Promise<Principal> {
    const hit = this.get(hash, now);
    if (hit) return hit;
    const generation = this.generation;
    const resolved = await load();
    if (generation === this.generation) this.store(hash, resolved, now);
    return resolved.principal;
  }

  /** Drops matching entries on this instance only (what a message from another instance does). */
  evictLocal(changes: CredentialChange[]): number {
    this.generation++;
    // A full scan: evictions are rare admin actions and the cache is bounded (10,000 by default).
    const doomed: string[] = [];
    for (const [hash, entry] of this.entries.entries()) {
      if (changes.some((change) => matches(entry.principal, change))) doomed.push(hash);
    }
    for (const hash of doomed) this.entries.delete(hash);
    return doomed.length;
  }

  /**
   * Call after the change has committed: evicts here at once, then tells the other instances.
   * Never throws (the change is already made); a failed publish is logged and retried when Redis
   * answers again, and the TTL bounds the other instances' staleness meanwhile.
   */
  async evict(...changes: CredentialChange[]): Promise<void> {
    const real = changes.filter((change) => !isEmpty(change));
    if (real.length === 0) return;
    this.evictLocal(real);
    await Promise.all([this.publish(real), this.announce?.(real)]);
  }

  /** After every `evict`, also `announce` the changes (never throws: see announceChanges). */
  announceWith(announce: (changes: CredentialChange[]) => Promise<void>): void {
    this.announce = announce;
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
  }

  async close(): Promise<void> {
    this.clear();
    await Promise.all([this.publisher && closeRedis(this.publisher), this.subscriber && closeRedis(this.subscriber)]);
  }

  private store(hash: string, { principal, expiresAt }: ResolvedCredential, now: Date): void {
    if (this.ttlMs <= 0) return;
    const at = now.getTime();
    const validUntil = Math.min(at + this.ttlMs, expiresAt?.getTime() ?? Infinity);
    if (validUntil <= at) return;
    this.entries.set(hash, { principal: Object.freeze({ ...principal }), cachedAt: at, validUntil });
  }

  /** Publishes `changes` together with any that could not be published before; keeps all on failure. */
  private async publish(changes: CredentialChange[] = []): Promise<void> {
    const all = [...this.unsent, ...changes];
    if (!this.publisher || all.length === 0) return;
    this.unsent = [];
    if (!(await publishOn(this.publisher, this.channel, { from: this.id, changes: all }, this.log))) {
      this.unsent = [...all, ...this.unsent].slice(-MAX_UNSENT_CHANGES);
    }
  }

  private receive(text: string): void {
    const message = parseMessage(text);
    if (!message) {
      // Fail towards freshness: whatever it meant to evict, evict everything.
      this.log('warn', 'unreadable credential eviction message; clearing the credential cache', { channel: this.channel });
      this.clear();
      return;
    }
    if (message.from !== this.id) this.evictLocal(message.changes);
  }
}

/** True when published; false (logged) when Redis was skipped or the publish failed. */
async function publishOn(redis: Redis, channel: string, message: EvictionMessage, log: Logger): Promise<boolean> {
  try {
    await redisBreaker(redis).run(() => redis.publish(channel, JSON.stringify(message)));
    return true;
  } catch (error) {
    log('warn', 'could not publish a credential eviction; other instances see it within the cache TTL', { changes: message.changes, error: String(error) });
    return false;
  }
}

/**
 * For processes that change credentials without serving requests (the CLI): tells every server
 * instance subscribed on this Redis to evict. Never throws; logs when Redis cannot be reached.
 */
export async function publishCredentialChanges(redisUrl: string, changes: CredentialChange[], options: { channel?: string; log?: Logger } = {}): Promise<void> {
  const real = changes.filter((change) => !isEmpty(change));
  if (real.length === 0) return;
  const log = options.log ?? jsonLogger;
  const redis = openRedis(redisUrl, log);
  try {
    await publishOn(redis, options.channel ?? CREDENTIAL_EVICTION_CHANNEL, { from: randomUUID(), changes: real }, log);
  } finally {
    await closeRedis(redis);
  }
}
