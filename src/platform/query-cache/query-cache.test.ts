import { describe, expect, it } from 'vitest';
import { cacheKey, canonicalJson, MemoryQueryCache, UNKNOWN_VERSION } from './query-cache.js';

const tenantId = '11111111-1111-4111-8111-111111111111';

describe('cacheKey', () => {
  const base = { tenantId, role: 'viewer', version: 3, request: { dataset: 'orders', metrics: ['revenue'] } };

  it('has the documented shape', () => {
    expect(cacheKey(base)).toMatch(new RegExp(`^q:${tenantId}:viewer:3:[0-9a-f]{64}$`));
  });

  it('ignores object key order at every level but not array order', () => {
    const a = canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } });
    expect(a).toBe(canonicalJson({ a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 }));
    expect(a).toBe('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
    expect(cacheKey({ ...base, request: { metrics: ['revenue'], dataset: 'orders' } })).toBe(cacheKey(base));
    expect(cacheKey({ ...base, request: { dataset: 'orders', metrics: ['a', 'b'] } })).not.toBe(
      cacheKey({ ...base, request: { dataset: 'orders', metrics: ['b', 'a'] } }),
    );
  });

  it('differs by tenant, role and version', () => {
    const keys = new Set([
      cacheKey(base),
      cacheKey({ ...base, tenantId: '22222222-2222-4222-8222-222222222222' }),
      cacheKey({ ...base, role: 'admin' }),
      cacheKey({ ...base, version: 4 }),
    ]);
    expect(keys.size).toBe(4);
  });

  it("refuses a tenant or role containing ':' (it would make keys ambiguous)", () => {
    expect(() => cacheKey({ ...base, role: 'a:b' })).toThrow(/role/);
    expect(() => cacheKey({ ...base, tenantId: '' })).toThrow(/tenantId/);
  });
});

describe('MemoryQueryCache', () => {
  function cacheAt(options: { maxEntries?: number; maxBytes?: number } = {}) {
    let now = 1_000_000;
    const cache = new MemoryQueryCache({ ...options, clock: () => new Date(now) });
    return { cache, advance: (ms: number) => (now += ms) };
  }
  const key = (n: number, tenant = tenantId) => cacheKey({ tenantId: tenant, role: 'viewer', version: 0, request: n });

  it('evicts the least recently used entry beyond maxEntries', async () => {
    const { cache } = cacheAt({ maxEntries: 2 });
    await cache.set(key(1), 'one', 60_000);
    await cache.set(key(2), 'two', 60_000);
    expect(await cache.get(key(1))).toBe('one'); // 1 is now more recent than 2
    await cache.set(key(3), 'three', 60_000);
    expect(await cache.get(key(2))).toBeUndefined();
    expect(await cache.get(key(1))).toBe('one');
    expect(await cache.get(key(3))).toBe('three');
    expect(cache.size.entries).toBe(2);
  });

  it('evicts by total value bytes (UTF-8) and never stores a value larger than the budget', async () => {
    const { cache } = cacheAt({ maxBytes: 10 });
    await cache.set(key(1), 'aaaa', 60_000);
    await cache.set(key(2), 'éé', 60_000); // 4 bytes
    expect(cache.size.bytes).toBe(8);
    await cache.set(key(3), 'ccc', 60_000);
    expect(await cache.get(key(1))).toBeUndefined();
    expect(cache.size).toEqual({ entries: 2, bytes: 7 });
    await cache.set(key(4), 'x'.repeat(11), 60_000);
    expect(await cache.get(key(4))).toBeUndefined();
    expect(cache.size).toEqual({ entries: 2, bytes: 7 });
  });

  it('replacing an entry does not count its bytes twice', async () => {
    const { cache } = cacheAt();
    await cache.set(key(1), 'abc', 60_000);
    await cache.set(key(1), 'abcdef', 60_000);
    expect(cache.size).toEqual({ entries: 1, bytes: 6 });
  });

  it('serves an entry while its age is at most its TTL (as Redis PX does), then removes it when read', async () => {
    const { cache, advance } = cacheAt();
    await cache.set(key(1), 'one', 1_000);
    advance(1_000);
    expect(await cache.get(key(1))).toBe('one');
    advance(1);
    expect(await cache.get(key(1))).toBeUndefined();
    expect(cache.size).toEqual({ entries: 0, bytes: 0 });
  });

  it('does not store with a TTL of 0 or under an unknown version', async () => {
    const { cache } = cacheAt();
    await cache.set(key(1), 'one', 0);
    const unknown = cacheKey({ tenantId, role: 'viewer', version: UNKNOWN_VERSION, request: 1 });
    await cache.set(unknown, 'one', 60_000);
    expect(cache.size.entries).toBe(0);
  });

  it("invalidating a tenant frees its entries at once and keeps others'", async () => {
    const other = '22222222-2222-4222-8222-222222222222';
    const { cache } = cacheAt();
    await cache.set(key(1), 'mine', 60_000);
    await cache.set(key(1, other), 'theirs', 60_000);
    await cache.invalidateTenant(tenantId);
    expect(await cache.tenantVersion(tenantId)).toBe(1);
    expect(cache.size.entries).toBe(1);
    expect(await cache.get(key(1, other))).toBe('theirs');
  });

  it('invalidating everything frees every entry and moves every version on, tenants never seen before included', async () => {
    const other = '22222222-2222-4222-8222-222222222222';
    const unseen = '33333333-3333-4333-8333-333333333333';
    const { cache } = cacheAt();
    await cache.invalidateTenant(other);
    await cache.set(key(1), 'mine', 60_000);
    await cache.set(key(1, other), 'theirs', 60_000);
    const before = await Promise.all([tenantId, other, unseen].map((t) => cache.tenantVersion(t)));
    await cache.invalidateAll();
    expect(cache.size.entries).toBe(0);
    const after = await Promise.all([tenantId, other, unseen].map((t) => cache.tenantVersion(t)));
    after.forEach((version, i) => expect(version).toBeGreaterThan(before[i]!));
    // A later tenant invalidation still moves the version on.
    await cache.invalidateTenant(other);
    expect(await cache.tenantVersion(other)).toBe(after[1]! + 1);
  });

  it('invalidating a tenant frees its expired entries too, not only live ones', async () => {
    const { cache, advance } = cacheAt();
    await cache.set(key(1), 'old', 1_000);
    advance(2_000);
    await cache.invalidateTenant(tenantId);
    expect(cache.size).toEqual({ entries: 0, bytes: 0 });
  });
});
