/**
 * tenants.create / list / get / stats / suspend / resume over real HTTP with a platform-admin key:
 * responses, what each leaves in the database, validation, and who may call them at all.
 * (delete / export / import: tenant-data.test.ts.)
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { apiKeys, auditEvents, customers, orders, sessions, users } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { generateSessionToken } from '../src/lib/api-key.js';
import { createPlatformAdminKey } from '../src/modules/tenants/tenants.service.js';
import { addApiKey, appPool, makeTenant, makeTenantWithOrders, ownerPool, randomSlug, startServer, trpcError, type TestServer } from './harness.js';

let owner: Sql;
let app: Sql;
let server: TestServer;
let admin: ReturnType<TestServer['client']>;

beforeAll(async () => {
  owner = ownerPool();
  app = appPool(4);
  server = await startServer(app);
  admin = server.client(await createPlatformAdminKey(owner, 'tenants test'));
});
afterAll(async () => {
  await server.close();
  await Promise.all([owner.end(), app.end()]);
});

const tenantRow = async (id: string) =>
  (await owner<{ id: string; slug: string; name: string; status: string }[]>`select id, slug, name, status from tenants where id = ${id}`)[0];
const platformEvents = (tenantId: string, action: string) =>
  owner<{ action: string; actor_type: string; details: Record<string, unknown> }[]>`
    select action, actor_type, details from platform_audit_events where target_tenant_id = ${tenantId} and action = ${action} order by at`;
const orderCount = (tenantId: string) => withTenant(owner, tenantId, async (tx) => (await tx.select().from(orders)).length);

/** An owner user who has set a password, and a live session for them; returns the session token. */
async function signedInSession(tenant: { id: string; slug: string }) {
  const token = generateSessionToken(tenant.slug);
  await withTenant(owner, tenant.id, async (tx) => {
    const [user] = await tx
      .insert(users)
      .values({ email: `signed-in@${tenant.slug}.example`, name: 'Signed in', role: 'owner', passwordHash: 'x', mustChangePassword: false })
      .returning();
    await tx.insert(sessions).values({ userId: user!.id, tokenHash: token.hash, expiresAt: new Date(Date.now() + 3_600_000) });
  });
  return token.secret;
}

describe('tenants.create', () => {
  it('creates the tenant, its owner user and owner key, and records the event', async () => {
    const slug = randomSlug('create');
    const created = await admin.tenants.create.mutate({ name: 'Created Co', slug, ownerEmail: `Boss@${slug}.Example` });
    expect(created).toMatchObject({ name: 'Created Co', slug, owner: { email: `boss@${slug}.example` } });
    expect(created.owner.temporaryPassword.length).toBeGreaterThanOrEqual(12);
    expect(created.apiKey).toMatch(new RegExp(`^pk_${slug}_`));

    expect(await tenantRow(created.tenantId)).toEqual({ id: created.tenantId, slug, name: 'Created Co', status: 'active' });
    const rows = await withTenant(owner, created.tenantId, async (tx) => ({
      users: await tx.select().from(users),
      keys: await tx.select().from(apiKeys),
    }));
    expect(rows.users.map((u) => [u.id, u.email, u.role, u.mustChangePassword])).toEqual([[created.owner.userId, `boss@${slug}.example`, 'owner', true]]);
    expect(rows.keys.map((k) => k.role)).toEqual(['owner']);
    const events = await platformEvents(created.tenantId, 'tenant.create');
    expect(events).toHaveLength(1);
    expect(events[0]!.actor_type).toBe('platform_admin');
    // The key works at once.
    expect((await server.client(created.apiKey).orders.list.query()).items).toEqual([]);
  });

  it('derives a slug from the name and suffixes it when taken', async () => {
    const name = `Derived ${randomBytes(4).toString('hex')}`;
    const first = await admin.tenants.create.mutate({ name, ownerEmail: 'a@derived.example' });
    const second = await admin.tenants.create.mutate({ name, ownerEmail: 'b@derived.example' });
    expect(first.slug).toBe(name.toLowerCase().replace(' ', '-'));
    expect(second.slug).toBe(`${first.slug}-2`);
  });

  it('answers 409 SLUG_TAKEN for an explicit slug that is taken, creating nothing', async () => {
    const existing = await makeTenant(owner);
    const error = await trpcError(admin.tenants.create.mutate({ name: 'Clash', slug: existing.slug, ownerEmail: 'x@clash.example' }));
    expect(error).toMatchObject({ httpStatus: 409, reason: 'SLUG_TAKEN' });
    expect((await owner`select count(*)::int as n from tenants where name = 'Clash' and slug like ${`${existing.slug}%`}`)[0]!.n).toBe(0);
  });

  it.each([
    ['name', { name: '', ownerEmail: 'a@b.example' }],
    ['name', { name: 'x'.repeat(201), ownerEmail: 'a@b.example' }],
    ['slug', { name: 'Ok', slug: 'Not A Slug', ownerEmail: 'a@b.example' }],
    ['slug', { name: 'Ok', slug: 'a'.repeat(41), ownerEmail: 'a@b.example' }],
    ['slug', { name: 'Ok', slug: 'double--hyphen', ownerEmail: 'a@b.example' }],
    ['ownerEmail', { name: 'Ok', ownerEmail: 'not-an-email' }],
    ['ownerEmail', { name: 'Ok' }],
  ])('answers 400 naming %s', async (field, input) => {
    const error = await trpcError(admin.tenants.create.mutate(input as never));
    expect(error).toMatchObject({ httpStatus: 400, reason: 'INVALID_INPUT' });
    expect(error.issues?.map((i) => i.path)).toContain(field);
    expect(error.message).toContain(field);
  });
});

describe('tenants.list and tenants.get', () => {
  it('searches name or slug case-insensitively, filters by status, and pages', async () => {
    const token = randomBytes(4).toString('hex');
    const a = await makeTenant(owner, `Listed ${token} Alpha`);
    const b = await makeTenant(owner, `Listed ${token.toUpperCase()} Beta`);
    const c = await makeTenant(owner, `Listed ${token} Gamma`);
    await admin.tenants.suspend.mutate({ tenantId: c.id });

    const all = await admin.tenants.list.query({ search: token.toUpperCase() });
    expect(all.items.map((t) => t.id).sort()).toEqual([a.id, b.id, c.id].sort());
    expect(all.nextOffset).toBeNull();
    expect(all.items.find((t) => t.id === a.id)).toEqual({ id: a.id, slug: a.slug, name: a.name, status: 'active', createdAt: expect.any(String) });

    const bySlug = await admin.tenants.list.query({ search: b.slug.toUpperCase() });
    expect(bySlug.items.map((t) => t.id)).toEqual([b.id]);

    const suspended = await admin.tenants.list.query({ search: token, status: 'suspended' });
    expect(suspended.items.map((t) => t.id)).toEqual([c.id]);

    const first = await admin.tenants.list.query({ search: token, limit: 2 });
    const second = await admin.tenants.list.query({ search: token, limit: 2, offset: first.nextOffset! });
    expect(first.items).toHaveLength(2);
    expect(first.nextOffset).toBe(2);
    expect(second.items).toHaveLength(1);
    expect(second.nextOffset).toBeNull();
    expect(new Set([...first.items, ...second.items].map((t) => t.id)).size).toBe(3);
  });

  it('treats % and _ in a search as plain characters', async () => {
    const token = randomBytes(4).toString('hex');
    await makeTenant(owner, `Percent ${token} plain`);
    expect((await admin.tenants.list.query({ search: `${token}%` })).items).toEqual([]);
    expect((await admin.tenants.list.query({ search: `${token.slice(0, 3)}_` })).items).toEqual([]);
  });

  it('lists with no input at all', async () => {
    const page = await admin.tenants.list.query();
    expect(page.items.length).toBeGreaterThan(0);
  });

  it('gets one tenant, 404 for an unknown id, 400 for a malformed one', async () => {
    const t = await makeTenant(owner, 'Got');
    expect(await admin.tenants.get.query({ tenantId: t.id })).toEqual({
      id: t.id,
      slug: t.slug,
      name: 'Got',
      status: 'active',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
    });
    expect(await trpcError(admin.tenants.get.query({ tenantId: randomUUID() }))).toMatchObject({ httpStatus: 404, reason: 'NOT_FOUND' });
    const bad = await trpcError(admin.tenants.get.query({ tenantId: 'acme' }));
    expect(bad).toMatchObject({ httpStatus: 400 });
    expect(bad.issues?.map((i) => i.path)).toEqual(['tenantId']);
    expect(await trpcError(admin.tenants.list.query({ status: 'deleted' as never }))).toMatchObject({ httpStatus: 400 });
  });
});

describe('tenants.stats', () => {
  it("counts the tenant's users, keys and rows per table, and its last activity", async () => {
    const { tenant } = await makeTenantWithOrders(owner, 4);
    const other = await makeTenantWithOrders(owner, 9);
    await addApiKey(owner, tenant, { revokedAt: new Date() });
    await addApiKey(owner, tenant, { expiresAt: new Date(Date.now() - 60_000) });
    await addApiKey(owner, tenant, { expiresAt: new Date(Date.now() + 3_600_000) });
    const lastLogin = '2026-03-04T05:06:07.891Z';
    const lastSession = '2026-03-05T00:00:00.000Z';
    await signedInSession(tenant);
    await withTenant(owner, tenant.id, async (tx) => {
      await tx.insert(users).values([
        { email: `gone@${tenant.slug}.example`, name: 'Gone', role: 'viewer', passwordHash: 'x', disabledAt: new Date() },
        { email: `login@${tenant.slug}.example`, name: 'Login', role: 'viewer', passwordHash: 'x', lastLoginAt: new Date(lastLogin) },
      ]);
      await tx.update(sessions).set({ lastUsedAt: new Date(lastSession) });
      await tx.update(apiKeys).set({ lastUsedAt: new Date('2026-02-01T00:00:00Z') });
    });
    // Activity in another tenant must not count.
    await withTenant(owner, other.tenant.id, (tx) => tx.update(apiKeys).set({ lastUsedAt: new Date('2026-12-01T00:00:00Z') }));

    const stats = await admin.tenants.stats.query({ tenantId: tenant.id });
    expect(stats).toMatchObject({
      tenantId: tenant.id,
      slug: tenant.slug,
      name: tenant.name,
      status: 'active',
      lastActiveAt: lastSession,
      users: { total: 3, active: 2, disabled: 1 },
      apiKeys: { active: 2, revoked: 1, expired: 1 },
    });
    const expected = await withTenant(owner, tenant.id, async (tx) => {
      const out = [];
      for (const table of ['api_keys', 'customers', 'orders', 'users', 'sessions', 'audit_events', 'usage_daily', 'idempotency_keys']) {
        const [row] = await tx.$client.unsafe<{ rows: number; bytes: number }[]>(
          `select count(*)::int as rows, coalesce(sum(pg_column_size(t.*)), 0)::int as bytes from ${table} t`,
        );
        out.push({ table, rows: row!.rows, approxBytes: row!.bytes });
      }
      return out;
    });
    expect(stats.tables).toEqual(expected);
    expect(stats.tables.find((t) => t.table === 'orders')).toMatchObject({ rows: 4 });
    expect(stats.tables.find((t) => t.table === 'api_keys')).toMatchObject({ rows: 4 });
    expect(stats.tables.every((t) => t.rows === 0 || t.approxBytes > 0)).toBe(true);
  });

  it('reports lastActiveAt null for a tenant never used, and 404 for an unknown tenant', async () => {
    const tenant = await makeTenant(owner);
    const stats = await admin.tenants.stats.query({ tenantId: tenant.id });
    expect(stats.lastActiveAt).toBeNull();
    expect(stats.users).toEqual({ total: 0, active: 0, disabled: 0 });
    expect(stats.tables.map((t) => [t.table, t.rows])).toEqual([
      ['api_keys', 1],
      ['customers', 0],
      ['orders', 0],
      ['users', 0],
      ['sessions', 0],
      ['audit_events', 1],
      ['usage_daily', 0],
      ['idempotency_keys', 0],
    ]);
    expect(await trpcError(admin.tenants.stats.query({ tenantId: randomUUID() }))).toMatchObject({ httpStatus: 404 });
  });
});

describe('tenants.suspend and tenants.resume', () => {
  it("cuts off the tenant's keys and sessions on the next request, leaves data and others alone, and resume restores", async () => {
    const a = await makeTenantWithOrders(owner, 3);
    const b = await makeTenantWithOrders(owner, 2);
    const session = await signedInSession(a.tenant);
    const keyA = server.client(a.tenant.apiKey);
    const sessionA = server.client(session);
    const keyB = server.client(b.tenant.apiKey);
    expect((await keyA.orders.list.query()).items).toHaveLength(3);
    expect((await sessionA.orders.list.query()).items).toHaveLength(3);

    const suspended = await admin.tenants.suspend.mutate({ tenantId: a.tenant.id, reason: 'unpaid invoice' });
    expect(suspended).toMatchObject({ id: a.tenant.id, slug: a.tenant.slug, status: 'suspended' });
    expect((await tenantRow(a.tenant.id))!.status).toBe('suspended');

    expect(await trpcError(keyA.orders.list.query())).toMatchObject({ httpStatus: 403, reason: 'TENANT_SUSPENDED' });
    expect(await trpcError(sessionA.orders.list.query())).toMatchObject({ httpStatus: 403, reason: 'TENANT_SUSPENDED' });
    expect(await trpcError(keyA.customers.create.mutate({ name: 'Late', email: 'late@x.example' }))).toMatchObject({ reason: 'TENANT_SUSPENDED' });
    expect((await keyB.orders.list.query()).items).toHaveLength(2);
    expect(await orderCount(a.tenant.id)).toBe(3);
    expect(await withTenant(owner, a.tenant.id, async (tx) => (await tx.select().from(customers)).length)).toBe(1);

    // Idempotent: still suspended, no second event.
    expect(await admin.tenants.suspend.mutate({ tenantId: a.tenant.id })).toMatchObject({ status: 'suspended' });
    const events = await platformEvents(a.tenant.id, 'tenant.suspend');
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ reason: 'unpaid invoice', from: 'active', to: 'suspended' });

    expect(await admin.tenants.resume.mutate({ tenantId: a.tenant.id })).toMatchObject({ status: 'active' });
    expect((await keyA.orders.list.query()).items).toHaveLength(3);
    expect((await sessionA.orders.list.query()).items).toHaveLength(3);
    expect(await platformEvents(a.tenant.id, 'tenant.resume')).toHaveLength(1);
    expect((await tenantRow(a.tenant.id))!.status).toBe('active');
  });

  it('answers 404 for an unknown tenant and 400 for a bad reason', async () => {
    expect(await trpcError(admin.tenants.suspend.mutate({ tenantId: randomUUID() }))).toMatchObject({ httpStatus: 404 });
    expect(await trpcError(admin.tenants.resume.mutate({ tenantId: randomUUID() }))).toMatchObject({ httpStatus: 404 });
    const t = await makeTenant(owner);
    const error = await trpcError(admin.tenants.suspend.mutate({ tenantId: t.id, reason: 'x'.repeat(501) }));
    expect(error).toMatchObject({ httpStatus: 400 });
    expect(error.issues?.map((i) => i.path)).toEqual(['reason']);
    expect((await tenantRow(t.id))!.status).toBe('active');
  });
});

describe('who may call tenants.*', () => {
  type Client = ReturnType<TestServer['client']>;
  const calls = (id: string, slug: string): [string, (c: Client) => Promise<unknown>][] => [
    ['create', (c) => c.tenants.create.mutate({ name: 'Nope', slug: randomSlug('nope'), ownerEmail: 'a@nope.example' })],
    ['list', (c) => c.tenants.list.query({})],
    ['get', (c) => c.tenants.get.query({ tenantId: id })],
    ['stats', (c) => c.tenants.stats.query({ tenantId: id })],
    ['suspend', (c) => c.tenants.suspend.mutate({ tenantId: id })],
    ['resume', (c) => c.tenants.resume.mutate({ tenantId: id })],
    ['delete', (c) => c.tenants.delete.mutate({ tenantId: id, confirm: slug })],
    ['export', (c) => c.tenants.export.query({ tenantId: id })],
    ['import', (c) => c.tenants.import.mutate({ tenantId: id, bundle: { format: 'palisade-tenant-export', version: 1, exportedAt: '', tenant: { id, slug, name: 'x', status: 'active', createdAt: '' }, tables: [] } })],
  ];

  it('refuses tenant credentials (even an owner key or session) with 403 PLATFORM_ADMIN_REQUIRED, changing nothing', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 2);
    const session = await signedInSession(tenant);
    for (const credential of [tenant.apiKey, session]) {
      for (const [name, call] of calls(tenant.id, tenant.slug)) {
        const error = await trpcError(call(server.client(credential)));
        expect({ name, httpStatus: error.httpStatus, reason: error.reason }).toEqual({ name, httpStatus: 403, reason: 'PLATFORM_ADMIN_REQUIRED' });
      }
    }
    expect(await tenantRow(tenant.id)).toMatchObject({ status: 'active' });
    expect(await orderCount(tenant.id)).toBe(2);
    expect(await platformEvents(tenant.id, 'tenant.export')).toEqual([]);
  });

  it('answers 401 with no key, an unknown key or a malformed one', async () => {
    const tenant = await makeTenant(owner);
    const cases: [string | undefined, string][] = [
      [undefined, 'KEY_MISSING'],
      [`pa_${'A'.repeat(32)}`, 'KEY_UNKNOWN'],
      ['pa_short', 'KEY_MALFORMED'],
    ];
    for (const [key, reason] of cases) {
      for (const [name, call] of calls(tenant.id, tenant.slug)) {
        const error = await trpcError(call(server.client(key)));
        expect({ name, httpStatus: error.httpStatus, reason: error.reason }).toEqual({ name, httpStatus: 401, reason });
      }
    }
    expect(await tenantRow(tenant.id)).toMatchObject({ status: 'active' });
  });

  it('answers 404 for an unknown tenant id on every procedure that names one', async () => {
    const id = randomUUID();
    for (const [name, call] of calls(id, 'no-such-tenant').filter(([n]) => !['create', 'list'].includes(n))) {
      const error = await trpcError(call(admin));
      expect({ name, httpStatus: error.httpStatus }).toEqual({ name, httpStatus: 404 });
    }
  });
});

describe('audit of tenant events', () => {
  it("keeps the tenant's own log untouched by lifecycle changes", async () => {
    const tenant = await makeTenant(owner);
    await admin.tenants.suspend.mutate({ tenantId: tenant.id });
    await admin.tenants.resume.mutate({ tenantId: tenant.id });
    const own = await withTenant(owner, tenant.id, (tx) => tx.select().from(auditEvents));
    expect(own.map((e) => e.action)).toEqual(['api_key.create']);
  });
});
