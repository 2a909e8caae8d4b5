/**
 * apiKeys.* over real HTTP with the typed client: what each procedure returns and leaves in the
 * database, validation, role limits (nobody mints or touches a key above their own role),
 * isolation, revocation on the very next request, rotation grace periods against a movable clock,
 * and lastUsedAt batching (no write on the request path).
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, auditEvents, type TenantRole } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { DAY_MS } from '../src/lib/clock.js';
import { hashKey } from '../src/lib/api-key.js';
import type { ProvisionedTenant } from '../src/modules/tenants/tenants.service.js';
import { buildAuthCases, expectAuthFailures, type AuthCase } from './auth-cases.js';
import { makeTenant, startServer, trpcError, type TestServer, useServer } from './harness.js';

const { owner, app, server } = useServer();

type Client = ReturnType<TestServer['client']>;

const keyRows = (tenantId: string) => withTenant(owner, tenantId, (tx) => tx.select().from(apiKeys));
const keyRow = (tenantId: string, id: string) =>
  withTenant(owner, tenantId, async (tx) => (await tx.select().from(apiKeys).where(eq(apiKeys.id, id)))[0]);
const eventCount = (tenantId: string) => withTenant(owner, tenantId, async (tx) => (await tx.select().from(auditEvents)).length);

/** A fresh tenant, its owner key's client, and a key (secret + id) for each lower role. */
async function tenantWithRoles() {
  const tenant = await makeTenant(owner, 'Keys');
  const api = server.client(tenant.apiKey);
  const byRole = {} as Record<Exclude<TenantRole, 'owner'>, { secret: string; id: string; api: Client }>;
  for (const role of ['admin', 'analyst', 'viewer'] as const) {
    const { key, secret } = await api.apiKeys.create.mutate({ name: `${role} key`, role });
    byRole[role] = { secret, id: key.id, api: server.client(secret) };
  }
  const ownerKeyId = (await keyRows(tenant.id)).find((k) => k.name === 'default')!.id;
  return { tenant, api, ownerKeyId, ...byRole };
}

describe('apiKeys.create', () => {
  it('returns the secret once and stores only its hash and display prefix', async () => {
    const { tenant, api } = await tenantWithRoles();
    const expiresAt = new Date(Date.now() + 30 * DAY_MS).toISOString();
    const { key, secret } = await api.apiKeys.create.mutate({ name: '  ci deploy  ', role: 'analyst', expiresAt, rateLimit: '100/minute' });

    expect(secret).toMatch(new RegExp(`^pk_${tenant.slug}_[0-9A-Za-z]{32}$`));
    expect(key).toEqual({
      id: expect.any(String),
      name: 'ci deploy',
      role: 'analyst',
      start: secret.slice(0, `pk_${tenant.slug}_`.length + 4),
      createdAt: expect.any(String),
      expiresAt,
      revokedAt: null,
      lastUsedAt: null,
      rateLimit: '100/minute',
      status: 'expiring',
    });
    const row = await keyRow(tenant.id, key.id);
    expect(row).toMatchObject({ name: 'ci deploy', role: 'analyst', keyHash: hashKey(secret), keyStart: key.start, rateLimit: '100/minute' });
    expect(row!.expiresAt!.toISOString()).toBe(expiresAt);
    expect(JSON.stringify(row)).not.toContain(secret);

    // The new key works, with its own role.
    expect(await server.client(secret).auth.whoami.query()).toMatchObject({ tenantId: tenant.id, role: 'analyst', keyId: key.id });
  });

  it('a key without expiry is active', async () => {
    const { api } = await tenantWithRoles();
    const { key } = await api.apiKeys.create.mutate({ name: 'forever', role: 'viewer' });
    expect(key).toMatchObject({ status: 'active', expiresAt: null, rateLimit: null });
  });

  it.each([
    ['expiresAt', { expiresAt: '2020-01-01T00:00:00Z' }],
    ['expiresAt', { expiresAt: '2999-01-01T00:00:00' }],
    ['expiresAt', { expiresAt: 'next week' }],
    ['rateLimit', { rateLimit: '10/day' }],
    ['rateLimit', { rateLimit: '0/second' }],
    ['rateLimit', { rateLimit: 'lots' }],
    ['role', { role: 'superuser' }],
    ['name', { name: '   ' }],
  ])('rejects a bad %s with 400 naming it: %j', async (field, patch) => {
    const { tenant, api } = await tenantWithRoles();
    const before = await keyRows(tenant.id);
    const input = { name: 'k', role: 'viewer', ...patch } as Parameters<Client['apiKeys']['create']['mutate']>[0];
    const error = await trpcError(api.apiKeys.create.mutate(input));
    expect(error).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400, reason: 'INVALID_INPUT' });
    expect(error.message).toContain(field);
    expect(await keyRows(tenant.id)).toHaveLength(before.length);
  });

  it('an admin can mint keys up to admin, but not an owner key', async () => {
    const { tenant, admin } = await tenantWithRoles();
    const { key } = await admin.api.apiKeys.create.mutate({ name: 'peer', role: 'admin' });
    expect(key.role).toBe('admin');
    const before = await keyRows(tenant.id);
    const error = await trpcError(admin.api.apiKeys.create.mutate({ name: 'escalate', role: 'owner' }));
    expect(error).toMatchObject({ code: 'FORBIDDEN', httpStatus: 403, reason: 'INSUFFICIENT_ROLE' });
    expect(await keyRows(tenant.id)).toHaveLength(before.length);
  });
});

describe('apiKeys.list', () => {
  it('lists keys with status, newest first, and never the hash or the secret', async () => {
    const { tenant, api, ownerKeyId, admin, viewer } = await tenantWithRoles();
    await api.apiKeys.revoke.mutate({ keyId: viewer.id });
    const expiring = await api.apiKeys.create.mutate({ name: 'temp', role: 'viewer', expiresAt: new Date(Date.now() + DAY_MS).toISOString() });

    const list = await api.apiKeys.list.query({});
    expect(list.nextOffset).toBeNull();
    expect(list.items.map((k) => k.name)).toEqual(['temp', 'viewer key', 'analyst key', 'admin key', 'default']);
    const byId = new Map(list.items.map((k) => [k.id, k]));
    expect(byId.get(ownerKeyId)).toMatchObject({ role: 'owner', status: 'active' });
    expect(byId.get(admin.id)).toMatchObject({ role: 'admin', status: 'active' });
    expect(byId.get(viewer.id)).toMatchObject({ status: 'revoked', revokedAt: expect.any(String) });
    expect(byId.get(expiring.key.id)).toMatchObject({ status: 'expiring' });
    for (const item of list.items) {
      expect(Object.keys(item).sort()).toEqual(
        ['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'rateLimit', 'revokedAt', 'role', 'start', 'status'].sort(),
      );
    }

    const text = JSON.stringify(list);
    for (const row of await keyRows(tenant.id)) expect(text).not.toContain(row.keyHash);
    for (const secret of [tenant.apiKey, admin.secret, viewer.secret, expiring.secret]) expect(text).not.toContain(secret);
  });

  it('includeRevoked: false leaves revoked keys out; limit and offset page', async () => {
    const { api, viewer } = await tenantWithRoles();
    await api.apiKeys.revoke.mutate({ keyId: viewer.id });
    const active = await api.apiKeys.list.query({ includeRevoked: false });
    expect(active.items.map((k) => k.id)).not.toContain(viewer.id);
    expect(active.items).toHaveLength(3);

    const first = await api.apiKeys.list.query({ limit: 3 });
    expect(first).toMatchObject({ nextOffset: 3 });
    const second = await api.apiKeys.list.query({ limit: 3, offset: 3 });
    expect(second.nextOffset).toBeNull();
    const ids = [...first.items, ...second.items].map((k) => k.id);
    expect(new Set(ids).size).toBe(4);
  });

  it('rejects bad paging with 400 naming the field', async () => {
    const { api } = await tenantWithRoles();
    const error = await trpcError(api.apiKeys.list.query({ limit: 0 }));
    expect(error).toMatchObject({ httpStatus: 400, reason: 'INVALID_INPUT' });
    expect(error.message).toContain('limit');
  });
});

describe('apiKeys.revoke', () => {
  it('revokes, and the very next request with the key fails KEY_REVOKED', async () => {
    const { tenant, api, analyst } = await tenantWithRoles();
    expect(await analyst.api.orders.list.query({})).toMatchObject({ items: [] });

    const revoked = await api.apiKeys.revoke.mutate({ keyId: analyst.id });
    expect(revoked).toMatchObject({ id: analyst.id, status: 'revoked', revokedAt: expect.any(String) });
    expect((await keyRow(tenant.id, analyst.id))!.revokedAt!.toISOString()).toBe(revoked.revokedAt);

    expect(await trpcError(analyst.api.orders.list.query({}))).toMatchObject({ httpStatus: 401, reason: 'KEY_REVOKED' });
  });

  it('revoking a revoked key returns it unchanged and records nothing', async () => {
    const { tenant, api, viewer } = await tenantWithRoles();
    const first = await api.apiKeys.revoke.mutate({ keyId: viewer.id });
    const events = await eventCount(tenant.id);
    const again = await api.apiKeys.revoke.mutate({ keyId: viewer.id });
    expect(again).toEqual(first);
    expect(await eventCount(tenant.id)).toBe(events);
  });

  it('an admin cannot revoke an owner key; it can revoke itself', async () => {
    const { tenant, ownerKeyId, admin } = await tenantWithRoles();
    const error = await trpcError(admin.api.apiKeys.revoke.mutate({ keyId: ownerKeyId }));
    expect(error).toMatchObject({ httpStatus: 403, reason: 'INSUFFICIENT_ROLE' });
    expect((await keyRow(tenant.id, ownerKeyId))!.revokedAt).toBeNull();

    await admin.api.apiKeys.revoke.mutate({ keyId: admin.id });
    expect(await trpcError(admin.api.apiKeys.list.query({}))).toMatchObject({ httpStatus: 401, reason: 'KEY_REVOKED' });
  });

  it('rejects a malformed keyId with 400 naming it', async () => {
    const { api } = await tenantWithRoles();
    const error = await trpcError(api.apiKeys.revoke.mutate({ keyId: 'key-1' }));
    expect(error).toMatchObject({ httpStatus: 400, reason: 'INVALID_INPUT' });
    expect(error.message).toContain('keyId');
  });
});

describe('apiKeys.rotate', () => {
  it('the old key works through the grace period, then answers KEY_EXPIRED; the new key keeps working', async () => {
    let now = Date.now();
    const timed = await startServer(app, { clock: () => new Date(now) });
    try {
      const tenant = await makeTenant(owner, 'Rotation');
      const api = timed.client(tenant.apiKey);
      const old = await api.apiKeys.create.mutate({ name: 'etl', role: 'analyst', rateLimit: '5/second' });

      const rotated = await api.apiKeys.rotate.mutate({ keyId: old.key.id, gracePeriodDays: 7 });
      expect(rotated.secret).toMatch(new RegExp(`^pk_${tenant.slug}_`));
      expect(rotated.secret).not.toBe(old.secret);
      expect(rotated.key).toMatchObject({ name: 'etl', role: 'analyst', rateLimit: '5/second', status: 'active', expiresAt: null });
      expect(rotated.key.id).not.toBe(old.key.id);
      expect(rotated.previous).toMatchObject({ id: old.key.id, status: 'expiring', expiresAt: new Date(now + 7 * DAY_MS).toISOString() });

      const rows = await keyRows(tenant.id);
      expect(rows.find((r) => r.id === rotated.key.id)).toMatchObject({ keyHash: hashKey(rotated.secret), role: 'analyst', rateLimit: '5/second' });
      expect(rows.find((r) => r.id === old.key.id)!.expiresAt!.getTime()).toBe(now + 7 * DAY_MS);

      const start = now;
      now = start + 6 * DAY_MS;
      expect(await timed.client(old.secret).auth.whoami.query()).toMatchObject({ keyId: old.key.id });

      now = start + 8 * DAY_MS;
      expect(await trpcError(timed.client(old.secret).auth.whoami.query())).toMatchObject({ httpStatus: 401, reason: 'KEY_EXPIRED' });
      expect(await timed.client(rotated.secret).auth.whoami.query()).toMatchObject({ keyId: rotated.key.id, role: 'analyst' });
      const listed = await api.apiKeys.list.query({});
      expect(listed.items.find((k) => k.id === old.key.id)?.status).toBe('expired');

      // An expired key cannot be rotated again.
      const error = await trpcError(api.apiKeys.rotate.mutate({ keyId: old.key.id }));
      expect(error).toMatchObject({ code: 'CONFLICT', httpStatus: 409, reason: 'KEY_ALREADY_EXPIRED' });
      expect(error.message).toMatch(/expired/);
    } finally {
      await timed.close();
    }
  });

  it('keeps an earlier expiry for the old key and passes the expiry on to the new one', async () => {
    const { api } = await tenantWithRoles();
    const soon = new Date(Date.now() + 2 * DAY_MS).toISOString();
    const later = new Date(Date.now() + 60 * DAY_MS).toISOString();
    const short = await api.apiKeys.create.mutate({ name: 'short', role: 'viewer', expiresAt: soon });
    const long = await api.apiKeys.create.mutate({ name: 'long', role: 'viewer', expiresAt: later });

    const a = await api.apiKeys.rotate.mutate({ keyId: short.key.id, gracePeriodDays: 7 });
    expect(a.previous.expiresAt).toBe(soon);
    expect(a.key.expiresAt).toBe(soon);

    const before = Date.now();
    const b = await api.apiKeys.rotate.mutate({ keyId: long.key.id });
    const oldEnd = Date.parse(b.previous.expiresAt!);
    expect(oldEnd).toBeGreaterThanOrEqual(before + 7 * DAY_MS - 1000);
    expect(oldEnd).toBeLessThanOrEqual(Date.now() + 7 * DAY_MS);
    expect(b.key.expiresAt).toBe(later);
  });

  it('gracePeriodDays 0 ends the old key at once', async () => {
    const { api, viewer } = await tenantWithRoles();
    const rotated = await api.apiKeys.rotate.mutate({ keyId: viewer.id, gracePeriodDays: 0 });
    expect(rotated.previous.status).toBe('expired');
    expect(await trpcError(viewer.api.auth.whoami.query())).toMatchObject({ httpStatus: 401, reason: 'KEY_EXPIRED' });
  });

  it('refuses a revoked key with 409 KEY_ALREADY_REVOKED and changes nothing', async () => {
    const { tenant, api, viewer } = await tenantWithRoles();
    await api.apiKeys.revoke.mutate({ keyId: viewer.id });
    const before = await keyRows(tenant.id);
    const error = await trpcError(api.apiKeys.rotate.mutate({ keyId: viewer.id }));
    expect(error).toMatchObject({ code: 'CONFLICT', httpStatus: 409, reason: 'KEY_ALREADY_REVOKED' });
    expect(error.message).toMatch(/revoked/);
    expect(await keyRows(tenant.id)).toEqual(before);
  });

  it.each([[91], [-1], [1.5]])('rejects gracePeriodDays %s with 400 naming it', async (gracePeriodDays) => {
    const { api, viewer } = await tenantWithRoles();
    const error = await trpcError(api.apiKeys.rotate.mutate({ keyId: viewer.id, gracePeriodDays }));
    expect(error).toMatchObject({ httpStatus: 400, reason: 'INVALID_INPUT' });
    expect(error.message).toContain('gracePeriodDays');
  });

  it('an admin cannot rotate an owner key', async () => {
    const { tenant, ownerKeyId, admin } = await tenantWithRoles();
    const before = await keyRows(tenant.id);
    const error = await trpcError(admin.api.apiKeys.rotate.mutate({ keyId: ownerKeyId }));
    expect(error).toMatchObject({ httpStatus: 403, reason: 'INSUFFICIENT_ROLE' });
    expect(await keyRows(tenant.id)).toEqual(before);
  });
});

describe('roles, isolation and credentials', () => {
  let a: Awaited<ReturnType<typeof tenantWithRoles>>;
  let b: Awaited<ReturnType<typeof tenantWithRoles>>;
  let authCases: AuthCase[];
  const calls: Record<string, (c: Client, keyId: string) => Promise<unknown>> = {
    'apiKeys.create': (c) => c.apiKeys.create.mutate({ name: 'x', role: 'viewer' }),
    'apiKeys.list': (c) => c.apiKeys.list.query({}),
    'apiKeys.revoke': (c, keyId) => c.apiKeys.revoke.mutate({ keyId }),
    'apiKeys.rotate': (c, keyId) => c.apiKeys.rotate.mutate({ keyId }),
  };

  beforeAll(async () => {
    [a, b] = await Promise.all([tenantWithRoles(), tenantWithRoles()]);
    authCases = await buildAuthCases(owner, a.tenant as ProvisionedTenant);
  });

  it.each(Object.keys(calls))('%s: viewer and analyst keys get 403 INSUFFICIENT_ROLE', async (name) => {
    const before = await keyRows(a.tenant.id);
    for (const role of ['viewer', 'analyst'] as const) {
      const error = await trpcError(calls[name]!(a[role].api, a.admin.id));
      expect({ role, ...error }).toMatchObject({ role, code: 'FORBIDDEN', httpStatus: 403, reason: 'INSUFFICIENT_ROLE' });
    }
    expect(await keyRows(a.tenant.id)).toEqual(before);
  });

  it.each(['apiKeys.revoke', 'apiKeys.rotate'])("%s on another tenant's keyId is 404, exactly like a missing id", async (name) => {
    const foreign = await trpcError(calls[name]!(b.api, a.admin.id));
    const missing = await trpcError(calls[name]!(b.api, randomUUID()));
    expect(foreign).toMatchObject({ code: 'NOT_FOUND', httpStatus: 404 });
    expect(foreign).toEqual(missing);
    expect(await keyRow(a.tenant.id, a.admin.id)).toMatchObject({ revokedAt: null, expiresAt: null });
  });

  it("B's list never shows A's keys", async () => {
    const listed = await b.api.apiKeys.list.query({});
    const aIds = new Set((await keyRows(a.tenant.id)).map((k) => k.id));
    expect(listed.items.length).toBeGreaterThan(0);
    expect(listed.items.filter((k) => aIds.has(k.id))).toEqual([]);
  });

  it.each(Object.keys(calls))('%s refuses every bad credential', async (name) => {
    await expectAuthFailures(server, authCases, (client) => calls[name]!(client, a.admin.id));
  });
});

describe('lastUsedAt', () => {
  it('is noted in memory on each request and written only by flush()', async () => {
    const { tenant, api } = await tenantWithRoles();
    const { key, secret } = await api.apiKeys.create.mutate({ name: 'busy', role: 'viewer' });
    const client = server.client(secret);
    for (let i = 0; i < 3; i++) await client.orders.list.query({});
    const before = Date.now();

    expect((await keyRow(tenant.id, key.id))!.lastUsedAt).toBeNull();
    await server.lastUsed.flush();
    const lastUsedAt = (await keyRow(tenant.id, key.id))!.lastUsedAt;
    expect(lastUsedAt).not.toBeNull();
    expect(lastUsedAt!.getTime()).toBeLessThanOrEqual(before);
    expect(lastUsedAt!.getTime()).toBeGreaterThan(before - 60_000);

    const listed = await api.apiKeys.list.query({});
    expect(listed.items.find((k) => k.id === key.id)?.lastUsedAt).toBe(lastUsedAt!.toISOString());
  });
});
