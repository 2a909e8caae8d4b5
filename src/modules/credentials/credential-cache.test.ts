import { describe, expect, it } from 'vitest';
import { CredentialCache, type ResolvedCredential } from './credential-cache.js';
import type { Principal } from './credentials.service.js';

const T0 = new Date('2026-03-01T12:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

const keyA: Principal = { kind: 'tenant', via: 'api_key', tenantId: 'tenant-a', tenantSlug: 'a', role: 'owner', keyId: 'key-a', rateLimit: null };
const keyB: Principal = { kind: 'tenant', via: 'api_key', tenantId: 'tenant-b', tenantSlug: 'b', role: 'viewer', keyId: 'key-b', rateLimit: null };
const sessionA: Principal = {
  kind: 'tenant',
  via: 'session',
  tenantId: 'tenant-a',
  tenantSlug: 'a',
  role: 'analyst',
  sessionId: 'session-a',
  userId: 'user-a',
  mustChangePassword: false,
};
const platform: Principal = { kind: 'platform', keyId: 'admin-key' };

/** A loader that counts its calls, as the database round trips it stands for. */
function loader(principal: Principal, expiresAt: Date | null = null) {
  const calls = { count: 0 };
  const load = () => {
    calls.count++;
    return Promise.resolve<ResolvedCredential>({ principal, expiresAt });
  };
  return { calls, load };
}

describe('CredentialCache', () => {
  it('reuses a resolution within the TTL and asks again after it', async () => {
    const cache = new CredentialCache({ ttlMs: 5_000 });
    const { calls, load } = loader(keyA);
    expect(await cache.resolve('h-a', T0, load)).toEqual(keyA);
    expect(await cache.resolve('h-a', at(4_999), load)).toEqual(keyA);
    expect(calls.count).toBe(1);
    await cache.resolve('h-a', at(5_000), load);
    expect(calls.count).toBe(2);
  });

  it('never serves a credential past its own expiry, however young the entry', async () => {
    const cache = new CredentialCache({ ttlMs: 60_000 });
    const { calls, load } = loader(keyA, at(1_000));
    await cache.resolve('h-a', T0, load);
    expect(cache.get('h-a', at(999))).toEqual(keyA);
    expect(cache.get('h-a', at(1_000))).toBeUndefined();
    expect(calls.count).toBe(1);
  });

  it('treats a clock that moved back before the entry as a miss', async () => {
    const cache = new CredentialCache({ ttlMs: 5_000 });
    await cache.resolve('h-a', T0, loader(keyA).load);
    expect(cache.get('h-a', at(-1))).toBeUndefined();
  });

  it('does not cache failures', async () => {
    const cache = new CredentialCache({ ttlMs: 5_000 });
    const failing = () => Promise.reject(new Error('KEY_REVOKED'));
    await expect(cache.resolve('h-a', T0, failing)).rejects.toThrow('KEY_REVOKED');
    expect(cache.size).toBe(0);
  });

  it('returns each hash its own principal', async () => {
    const cache = new CredentialCache({ ttlMs: 5_000 });
    await cache.resolve('h-a', T0, loader(keyA).load);
    await cache.resolve('h-b', T0, loader(keyB).load);
    expect(cache.get('h-a', T0)).toEqual(keyA);
    expect(cache.get('h-b', T0)).toEqual(keyB);
    expect(cache.get('h-c', T0)).toBeUndefined();
  });

  it('hands out frozen copies, so a caller cannot change what the next request gets', async () => {
    const cache = new CredentialCache({ ttlMs: 5_000 });
    await cache.resolve('h-a', T0, loader({ ...keyA }).load);
    const cached = cache.get('h-a', T0)!;
    expect(Object.isFrozen(cached)).toBe(true);
    expect(() => Object.assign(cached, { tenantId: 'tenant-b' })).toThrow(TypeError);
  });

  it('with a TTL of 0 caches nothing', async () => {
    const cache = new CredentialCache({ ttlMs: 0 });
    const { calls, load } = loader(keyA);
    await cache.resolve('h-a', T0, load);
    await cache.resolve('h-a', T0, load);
    expect(calls.count).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('drops the least recently used entry beyond maxEntries', async () => {
    const cache = new CredentialCache({ ttlMs: 5_000, maxEntries: 2 });
    await cache.resolve('h-1', T0, loader(keyA).load);
    await cache.resolve('h-2', T0, loader(keyB).load);
    cache.get('h-1', T0);
    await cache.resolve('h-3', T0, loader(sessionA).load);
    expect(cache.size).toBe(2);
    expect(cache.get('h-2', T0)).toBeUndefined();
    expect(cache.get('h-1', T0)).toEqual(keyA);
  });

  it('evicts by key, session, user and tenant, and nothing else', async () => {
    const fill = async () => {
      const cache = new CredentialCache({ ttlMs: 5_000 });
      await cache.resolve('h-key-a', T0, loader(keyA).load);
      await cache.resolve('h-key-b', T0, loader(keyB).load);
      await cache.resolve('h-session-a', T0, loader(sessionA).load);
      await cache.resolve('h-platform', T0, loader(platform).load);
      return cache;
    };
    const left = (cache: CredentialCache) => ['h-key-a', 'h-key-b', 'h-session-a', 'h-platform'].filter((h) => cache.get(h, T0));
    const cases = [
      [{ keyId: 'key-a' }, ['h-key-b', 'h-session-a', 'h-platform']],
      [{ keyId: 'admin-key' }, ['h-key-a', 'h-key-b', 'h-session-a']],
      [{ sessionId: 'session-a' }, ['h-key-a', 'h-key-b', 'h-platform']],
      [{ userId: 'user-a' }, ['h-key-a', 'h-key-b', 'h-platform']],
      [{ tenantId: 'tenant-a' }, ['h-key-b', 'h-platform']],
      [{ tenantId: 'tenant-c', keyId: 'key-c' }, ['h-key-a', 'h-key-b', 'h-session-a', 'h-platform']],
    ] as const;
    for (const [change, remaining] of cases) {
      const cache = await fill();
      await cache.evict(change);
      expect({ change, remaining: left(cache) }).toEqual({ change, remaining });
    }
  });

  it('does not store a lookup that was in flight when an eviction happened', async () => {
    const cache = new CredentialCache({ ttlMs: 5_000 });
    let finish!: (value: ResolvedCredential) => void;
    const pending = cache.resolve('h-a', T0, () => new Promise<ResolvedCredential>((resolve) => (finish = resolve)));
    // The revocation commits and evicts while the old state is still on its way back.
    await cache.evict({ keyId: 'key-a' });
    finish({ principal: keyA, expiresAt: null });
    expect(await pending).toEqual(keyA);
    expect(cache.get('h-a', T0)).toBeUndefined();
  });
});
