/**
 * The verified-credential cache end to end: a cached credential skips the database, every change
 * through the API holds from the very next request, expiry is exact on the server's (moved) clock,
 * a change made only in the database shows once the TTL has passed, instances sharing Redis evict
 * each other, and one tenant's cached principal is never another's.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { apiKeys } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { DAY_MS } from '../src/lib/clock.js';
import { silentLogger } from '../src/lib/log.js';
import { CredentialCache, publishCredentialChanges } from '../src/modules/credentials/credential-cache.js';
import { createPlatformAdminKey } from '../src/modules/tenants/tenants.service.js';
import { makeTenant, ownerPool, pg, startServer, trpcError, type TestServer } from './harness.js';
import { testRedis } from './redis.js';

const TTL_MS = 5_000;

let owner: Sql;
/** The app role's pool, counting credential lookups (the one query each uncached request makes). */
let app: Sql;
let lookups = 0;
let now = Date.now();
let server: TestServer;
let adminKey: string;

beforeAll(async () => {
  owner = ownerPool();
  app = postgres(pg.appUrl, {
    max: 4,
    onnotice: () => undefined,
    debug: (_connection, query) => {
      if (/resolve_(tenant_api_key|session|platform_admin_key)\(/.test(query)) lookups++;
    },
  });
  server = await startServer(app, { clock: () => new Date(now), deps: { credentialCache: new CredentialCache({ ttlMs: TTL_MS }) } });
  adminKey = await createPlatformAdminKey(owner, 'credential cache test');
});
afterAll(async () => {
  await server?.close();
  await app?.end();
  await owner?.end();
});

/** Lookups the database answered while `run` ran. */
async function lookupsDuring(run: () => Promise<unknown>): Promise<number> {
  const before = lookups;
  await run();
  return lookups - before;
}

function rest(path: string, key: string, base = server.url) {
  return fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
}

/** A tenant with its owner key and a second, analyst key made through the API. */
async function tenantWithKey() {
  const tenant = await makeTenant(owner, 'Cached', { withOwner: true });
  const created = await server.client(tenant.apiKey).apiKeys.create.mutate({ name: 'cached', role: 'analyst' });
  return { tenant, admin: server.client(tenant.apiKey), key: created.key, secret: created.secret };
}

describe('a cached credential', () => {
  it('skips the database until the TTL has passed, on tRPC and REST alike', async () => {
    const { secret, key } = await tenantWithKey();
    expect(await lookupsDuring(() => server.client(secret).auth.whoami.query())).toBe(1);
    expect(
      await lookupsDuring(async () => {
        for (let i = 0; i < 5; i++) expect(await server.client(secret).auth.whoami.query()).toMatchObject({ keyId: key.id });
        expect((await rest('/v1/datasets', secret)).status).toBe(200);
      }),
    ).toBe(0);
    now += TTL_MS;
    expect(await lookupsDuring(() => server.client(secret).orders.list.query({}))).toBe(1);
  });

  it('never caches a failure: a refused credential asks the database every time', async () => {
    const { admin, key, secret } = await tenantWithKey();
    await admin.apiKeys.revoke.mutate({ keyId: key.id });
    const unknown = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
    for (const bad of [secret, unknown]) {
      expect(await lookupsDuring(() => trpcError(server.client(bad).auth.whoami.query()))).toBe(1);
      expect(await lookupsDuring(() => trpcError(server.client(bad).auth.whoami.query()))).toBe(1);
    }
  });
});

describe('changes through the API hold from the very next request', () => {
  it('a revoked key, on tRPC and REST', async () => {
    const { admin, key, secret } = await tenantWithKey();
    await server.client(secret).orders.list.query({});
    await admin.apiKeys.revoke.mutate({ keyId: key.id });
    expect(await trpcError(server.client(secret).orders.list.query({}))).toMatchObject({ httpStatus: 401, reason: 'KEY_REVOKED' });
    expect(await (await rest('/v1/datasets', secret)).json()).toMatchObject({ error: { reason: 'KEY_REVOKED' } });
  });

  it("a rotated key's grace period ends exactly on time, checked against the cached expiry", async () => {
    const { admin, key, secret } = await tenantWithKey();
    await server.client(secret).auth.whoami.query();
    const rotated = await admin.apiKeys.rotate.mutate({ keyId: key.id, gracePeriodDays: 1 });
    const graceEnd = Date.parse(rotated.previous.expiresAt!);
    expect(graceEnd).toBe(now + DAY_MS);
    // Evicted: its cached entry carried no expiry.
    expect(await lookupsDuring(() => server.client(secret).auth.whoami.query())).toBe(1);
    now = graceEnd - 1_000;
    expect(await lookupsDuring(() => server.client(secret).auth.whoami.query())).toBe(1);
    now = graceEnd - 1;
    expect(await lookupsDuring(() => server.client(secret).auth.whoami.query())).toBe(0);
    now = graceEnd;
    expect(await trpcError(server.client(secret).auth.whoami.query())).toMatchObject({ httpStatus: 401, reason: 'KEY_EXPIRED' });
    expect(await server.client(rotated.secret).auth.whoami.query()).toMatchObject({ keyId: rotated.key.id });
  });

  it("a user's role change, disabling, and a signed-out session", async () => {
    const { tenant, admin } = await tenantWithKey();
    const { user, temporaryPassword } = await admin.users.create.mutate({ email: `kim@${tenant.slug}.example`, name: 'Kim', role: 'admin' });
    const { token } = await server.client().auth.login.mutate({ tenant: tenant.slug, email: `kim@${tenant.slug}.example`, password: temporaryPassword });
    const password = 'a-long-new-password-1';
    await server.client(token).auth.changePassword.mutate({ currentPassword: temporaryPassword, newPassword: password });
    // The cached session said mustChangePassword; the change evicted it.
    expect(await server.client(token).apiKeys.list.query({})).toMatchObject({ items: expect.any(Array) });

    await admin.users.update.mutate({ userId: user.id, role: 'viewer' });
    expect(await trpcError(server.client(token).apiKeys.list.query({}))).toMatchObject({ httpStatus: 403, reason: 'INSUFFICIENT_ROLE' });
    expect(await server.client(token).auth.whoami.query()).toMatchObject({ role: 'viewer' });

    await admin.users.update.mutate({ userId: user.id, disabled: true });
    expect(await trpcError(server.client(token).auth.whoami.query())).toMatchObject({ httpStatus: 401 });

    await admin.users.update.mutate({ userId: user.id, disabled: false });
    const again = await server.client().auth.login.mutate({ tenant: tenant.slug, email: `kim@${tenant.slug}.example`, password });
    await server.client(again.token).auth.whoami.query();
    await server.client(again.token).auth.logout.mutate();
    expect(await trpcError(server.client(again.token).auth.whoami.query())).toMatchObject({ httpStatus: 401, reason: 'KEY_REVOKED' });
  });

  it('a suspended tenant, for its keys and sessions', async () => {
    const { tenant, secret } = await tenantWithKey();
    await server.client(secret).auth.whoami.query();
    await server.client(tenant.apiKey).auth.whoami.query();
    await server.client(adminKey).tenants.suspend.mutate({ tenantId: tenant.id, reason: 'test' });
    for (const key of [secret, tenant.apiKey]) {
      expect(await trpcError(server.client(key).auth.whoami.query())).toMatchObject({ httpStatus: 403, reason: 'TENANT_SUSPENDED' });
    }
    await server.client(adminKey).tenants.resume.mutate({ tenantId: tenant.id });
    expect(await server.client(secret).auth.whoami.query()).toMatchObject({ tenantId: tenant.id });
  });
});

describe('a change made only in the database', () => {
  it('is seen once the cached entry is TTL old, on the server’s clock', async () => {
    const { tenant, key, secret } = await tenantWithKey();
    await server.client(secret).auth.whoami.query();
    await withTenant(owner, tenant.id, (tx) => tx.update(apiKeys).set({ revokedAt: new Date(now) }));
    // Documented staleness: nobody told the server.
    now += TTL_MS - 1;
    expect(await server.client(secret).auth.whoami.query()).toMatchObject({ keyId: key.id });
    now += 1;
    expect(await trpcError(server.client(secret).auth.whoami.query())).toMatchObject({ httpStatus: 401, reason: 'KEY_REVOKED' });
  });
});

describe('isolation', () => {
  it("never answers one tenant's key with another tenant's cached principal", async () => {
    const tenants = await Promise.all([tenantWithKey(), tenantWithKey(), tenantWithKey()]);
    const calls = tenants.flatMap(({ tenant, key, secret }) =>
      Array.from({ length: 10 }, async () => {
        const principal = await server.client(secret).auth.whoami.query();
        expect(principal).toMatchObject({ tenantId: tenant.id, tenantSlug: tenant.slug, keyId: key.id });
        const orders = await server.client(tenant.apiKey).orders.list.query({});
        expect(orders.items).toEqual([]);
      }),
    );
    await Promise.all(calls);
    // A cached key relabelled with another tenant's slug is another secret: unknown, not a way in.
    const [a, b] = tenants;
    const relabelled = a!.secret.replace(`pk_${a!.tenant.slug}_`, `pk_${b!.tenant.slug}_`);
    expect(await trpcError(server.client(relabelled).auth.whoami.query())).toMatchObject({ httpStatus: 401, reason: 'KEY_UNKNOWN' });
    // The tenant header still has to match the cached principal's tenant.
    expect(await trpcError(server.client(a!.secret, { 'x-tenant-id': b!.tenant.id }).auth.whoami.query())).toMatchObject({ reason: 'TENANT_MISMATCH' });
  });
});

const redis = await testRedis();

describe.skipIf(redis.skip !== undefined)(`two instances sharing Redis${redis.skip ? ` (skipped: ${redis.skip})` : ''}`, () => {
  const channel = `palisade-test:credential-evictions:${randomBytes(6).toString('hex')}`;
  let first: TestServer;
  let second: TestServer;

  beforeAll(async () => {
    const cache = () => new CredentialCache({ ttlMs: 60_000, redisUrl: redis.url, channel, log: silentLogger });
    first = await startServer(app, { deps: { credentialCache: cache() } });
    second = await startServer(app, { deps: { credentialCache: cache() } });
    await Promise.all([first.credentialCache.ready(), second.credentialCache.ready()]);
  });
  afterAll(async () => {
    await first?.close();
    await second?.close();
  });

  /** Polls until `check` passes: the other instance hears of a change a moment after it commits. */
  async function eventually(check: () => Promise<void>, timeoutMs = 3_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await check();
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  async function cachedOnBoth(secret: string) {
    for (const s of [first, second]) await s.client(secret).auth.whoami.query();
    expect(await lookupsDuring(() => Promise.all([first, second].map((s) => s.client(secret).auth.whoami.query())))).toBe(0);
  }

  it('a key revoked on one instance is refused by the other', async () => {
    const tenant = await makeTenant(owner, 'Shared');
    const created = await first.client(tenant.apiKey).apiKeys.create.mutate({ name: 'shared', role: 'viewer' });
    await cachedOnBoth(created.secret);
    await first.client(tenant.apiKey).apiKeys.revoke.mutate({ keyId: created.key.id });
    expect(await trpcError(first.client(created.secret).auth.whoami.query())).toMatchObject({ reason: 'KEY_REVOKED' });
    await eventually(async () => {
      expect(await trpcError(second.client(created.secret).auth.whoami.query())).toMatchObject({ reason: 'KEY_REVOKED' });
    });
  });

  it('a change published by another process (the CLI) evicts on every instance', async () => {
    const tenant = await makeTenant(owner, 'Shared');
    await cachedOnBoth(tenant.apiKey);
    await owner`update tenants set status = 'suspended' where id = ${tenant.id}`;
    await publishCredentialChanges(redis.url!, [{ tenantId: tenant.id }], { channel, log: silentLogger });
    await eventually(async () => {
      for (const s of [first, second]) {
        expect(await trpcError(s.client(tenant.apiKey).auth.whoami.query())).toMatchObject({ reason: 'TENANT_SUSPENDED' });
      }
    });
  });
});
