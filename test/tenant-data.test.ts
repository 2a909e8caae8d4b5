/**
 * tenants.delete / export / import over real HTTP with a platform-admin key. Delete must leave no
 * row of the tenant in any tenant table and touch no other tenant; export → import must reproduce
 * every row exactly (numeric scale, microsecond timestamps, jsonb); a bad bundle or a non-empty
 * target imports nothing.
 */
import { randomUUID } from 'node:crypto';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { auditEvents, customers, idempotencyKeys, orders, sessions, TENANT_TABLES, users } from '../db/schema/index.js';
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
  admin = server.client(await createPlatformAdminKey(owner, 'tenant data test'));
});
afterAll(async () => {
  await server.close();
  await Promise.all([owner.end(), app.end()]);
});

const TABLES = TENANT_TABLES.map((t) => getTableConfig(t).name);

/** Rows per tenant table, as the tenant itself sees them (under RLS, through withTenant). */
function rowCounts(tenantId: string) {
  return withTenant(owner, tenantId, async (tx) => {
    const out: Record<string, number> = {};
    for (const table of TABLES) out[table] = (await tx.$client.unsafe<{ n: number }[]>(`select count(*)::int as n from "${table}"`))[0]!.n;
    return out;
  });
}

/** Every row of every table as Postgres's JSON text without tenant_id, sorted: the round-trip yardstick. */
function rowTexts(tenantId: string) {
  return withTenant(owner, tenantId, async (tx) => {
    const out: Record<string, string[]> = {};
    for (const table of TABLES) {
      const rows = await tx.$client.unsafe<{ j: string }[]>(`select (to_json(t)::jsonb - 'tenant_id')::text as j from "${table}" t order by 1`);
      out[table] = rows.map((r) => r.j);
    }
    return out;
  });
}

const tenantExists = async (id: string) => (await owner`select 1 from tenants where id = ${id}`).length === 1;
const slugExists = async (slug: string) => (await owner`select 1 from tenants where slug = ${slug}`).length === 1;
const platformEvents = (tenantId: string, action: string) =>
  owner<{ details: Record<string, unknown> }[]>`
    select details from platform_audit_events where target_tenant_id = ${tenantId} and action = ${action}`;

/**
 * A tenant with rows in every tenant table, and values that are easy to damage in transit:
 * numeric scale, microsecond timestamps, unicode and nested jsonb, nulls.
 */
async function richTenant() {
  const fixture = await makeTenantWithOrders(owner, 3);
  const { tenant } = fixture;
  await addApiKey(owner, tenant, { revokedAt: new Date('2026-02-03T04:05:06.789Z') });
  await withTenant(owner, tenant.id, async (tx) => {
    const [customer] = await tx.insert(customers).values({ name: 'Zoë “Quotes” \\ Ünïcode\nline', email: `zoe@${tenant.slug}.example` }).returning();
    await tx.insert(orders).values([
      { customerId: customer!.id, region: 'east', amount: '12.50', orderDate: '2026-04-30', status: 'paid' },
      { customerId: customer!.id, region: 'east', amount: '7.00', orderDate: '2026-05-01' },
      { customerId: customer!.id, region: 'west', amount: '9999999999.99', orderDate: '2026-05-02' },
    ]);
    await tx.$client.unsafe(`update orders set created_at = '2026-01-02 03:04:05.123456+00' where amount = 12.50`);
    const [user] = await tx
      .insert(users)
      .values([
        { email: `owner@${tenant.slug}.example`, name: 'Owner', role: 'owner', passwordHash: 'scrypt$abc', mustChangePassword: false, lastLoginAt: new Date() },
        { email: `gone@${tenant.slug}.example`, name: 'Gone', role: 'viewer', passwordHash: 'scrypt$def', disabledAt: new Date() },
      ])
      .returning();
    await tx.insert(sessions).values({ userId: user!.id, tokenHash: generateSessionToken(tenant.slug).hash, expiresAt: new Date(Date.now() + 3_600_000) });
    await tx.insert(auditEvents).values({
      action: 'custom.event',
      actorType: 'system',
      details: { nested: { list: [1, 2.50, 'x'], unicode: '✓ ü' }, big: 1234567890123456 },
    });
    await tx.$client`
      insert into usage_daily (day, requests, dataset_queries, cache_hits, total_duration_ms, latency_buckets, last_active)
      values ('2026-04-30', 3, 2, 1, 12.625, '{1,2,0,0,0,0,0,0,0,0,0,0}', '2026-04-30T10:11:12.345678Z')`;
    await tx.insert(idempotencyKeys).values({ credential: 'api_key:fixture', key: 'k-1', path: 'orders.create', requestHash: 'ab'.repeat(32), response: { value: { id: 'x', amount: '12.50' } } });
  });
  return fixture;
}

describe('tenants.delete', () => {
  it('refuses without a confirmation, or with the wrong one, deleting nothing', async () => {
    const { tenant } = await richTenant();
    const before = await rowCounts(tenant.id);

    const missing = await trpcError(admin.tenants.delete.mutate({ tenantId: tenant.id } as never));
    expect(missing).toMatchObject({ httpStatus: 400, reason: 'INVALID_INPUT' });
    expect(missing.issues?.map((i) => i.path)).toEqual(['confirm']);

    const wrong = await trpcError(admin.tenants.delete.mutate({ tenantId: tenant.id, confirm: `${tenant.slug}-x` }));
    expect(wrong).toMatchObject({ httpStatus: 400, reason: 'CONFIRMATION_MISMATCH' });
    expect(wrong.message).toContain(tenant.slug);

    expect(await rowCounts(tenant.id)).toEqual(before);
    expect(await tenantExists(tenant.id)).toBe(true);
    expect(await platformEvents(tenant.id, 'tenant.delete')).toEqual([]);
  });

  it("deletes every row of the tenant in every tenant table and the tenant itself, and nobody else's", async () => {
    const { tenant } = await richTenant();
    const others = await Promise.all([richTenant(), makeTenantWithOrders(owner, 5)]);
    const before = await rowCounts(tenant.id);
    const othersBefore = await Promise.all(others.map((o) => rowCounts(o.tenant.id)));
    expect(Object.values(before).every((n) => n > 0)).toBe(true);

    const result = await admin.tenants.delete.mutate({ tenantId: tenant.id, confirm: tenant.slug });
    expect(result).toEqual({ tenantId: tenant.id, slug: tenant.slug, deleted: before, verified: true });

    expect(await rowCounts(tenant.id)).toEqual(Object.fromEntries(TABLES.map((t) => [t, 0])));
    expect(await tenantExists(tenant.id)).toBe(false);
    expect(await Promise.all(others.map((o) => rowCounts(o.tenant.id)))).toEqual(othersBefore);
    const events = await platformEvents(tenant.id, 'tenant.delete');
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ slug: tenant.slug, deleted: before });

    expect(await trpcError(server.client(tenant.apiKey).orders.list.query())).toMatchObject({ httpStatus: 401, reason: 'KEY_UNKNOWN' });
    expect((await server.client(others[0].tenant.apiKey).orders.list.query()).items).toHaveLength(6);
    expect(await trpcError(admin.tenants.delete.mutate({ tenantId: tenant.id, confirm: tenant.slug }))).toMatchObject({ httpStatus: 404 });
  });
});

describe('tenants.export and tenants.import', () => {
  it('round-trips every row of every table exactly into a new tenant', async () => {
    const { tenant } = await richTenant();
    const bundle = await admin.tenants.export.query({ tenantId: tenant.id });
    expect(bundle).toMatchObject({ format: 'palisade-tenant-export', version: 1, tenant: { id: tenant.id, slug: tenant.slug, name: tenant.name, status: 'active' } });
    expect(bundle.tables.map((t) => t.name)).toEqual(TABLES);
    const counts = await rowCounts(tenant.id);
    expect(Object.fromEntries(bundle.tables.map((t) => [t.name, t.rowCount]))).toEqual(counts);
    const orderLines = bundle.tables.find((t) => t.name === 'orders')!.jsonl;
    expect(orderLines).toContain('"amount":12.50');
    expect(orderLines).toContain('"amount":7.00');
    expect(orderLines).toContain('2026-01-02T03:04:05.123456+00:00');
    expect(bundle.tables.find((t) => t.name === 'orders')!.columns).toEqual(['tenant_id', 'id', 'customer_id', 'region', 'amount', 'order_date', 'status', 'created_at']);
    expect(await platformEvents(tenant.id, 'tenant.export')).toHaveLength(1);

    const slug = randomSlug('copy');
    const imported = await admin.tenants.import.mutate({ bundle, slug, name: 'The copy' });
    expect(imported).toEqual({ tenantId: expect.any(String), slug, imported: counts });
    expect(imported.tenantId).not.toBe(tenant.id);
    expect(await admin.tenants.get.query({ tenantId: imported.tenantId })).toMatchObject({ slug, name: 'The copy', status: 'active' });

    const [source, copy] = await Promise.all([rowTexts(tenant.id), rowTexts(imported.tenantId)]);
    expect(copy).toEqual(source);
    expect(copy.orders!.some((r) => r.includes('"amount": 12.50'))).toBe(true);
    expect(copy.orders!.some((r) => r.includes('2026-01-02T03:04:05.123456+00:00'))).toBe(true);
    // Every imported row belongs to the new tenant, whatever tenant_id the bundle carried.
    const foreign = await withTenant(owner, imported.tenantId, (tx) =>
      tx.$client.unsafe<{ n: number }[]>(TABLES.map((t) => `select count(*)::int as n from "${t}" where tenant_id <> '${imported.tenantId}'`).join(' union all ')),
    );
    expect(foreign.map((r) => r.n)).toEqual(TABLES.map(() => 0));
    const events = await platformEvents(imported.tenantId, 'tenant.import');
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ created: true, imported: counts, source: { tenantId: tenant.id } });
  });

  it('restores a deleted tenant under its own slug, and its keys work again', async () => {
    const { tenant } = await richTenant();
    const bundle = await admin.tenants.export.query({ tenantId: tenant.id });
    const before = await rowTexts(tenant.id);
    await admin.tenants.delete.mutate({ tenantId: tenant.id, confirm: tenant.slug });
    const restored = await admin.tenants.import.mutate({ bundle });
    expect(restored.slug).toBe(tenant.slug);
    expect(await rowTexts(restored.tenantId)).toEqual(before);
    expect((await server.client(tenant.apiKey).orders.list.query()).items).toHaveLength(6);
  });

  it('imports into an existing empty tenant', async () => {
    const { tenant } = await richTenant();
    const bundle = await admin.tenants.export.query({ tenantId: tenant.id });
    const target = await makeTenant(owner, 'Empty target');
    await withTenant(owner, target.id, async (tx) => {
      await tx.$client.unsafe('delete from audit_events');
      await tx.$client.unsafe('delete from api_keys');
    });
    const result = await admin.tenants.import.mutate({ bundle, tenantId: target.id, slug: 'ignored-here' });
    expect(result).toEqual({ tenantId: target.id, slug: target.slug, imported: await rowCounts(tenant.id) });
    expect(await rowTexts(target.id)).toEqual(await rowTexts(tenant.id));
    expect(await platformEvents(target.id, 'tenant.import')).toMatchObject([{ details: { created: false } }]);
  });

  it('refuses a tenant that has rows with 409 TENANT_NOT_EMPTY, inserting nothing', async () => {
    const { tenant } = await richTenant();
    const bundle = await admin.tenants.export.query({ tenantId: tenant.id });
    const target = await makeTenantWithOrders(owner, 1);
    const before = await rowTexts(target.tenant.id);
    const error = await trpcError(admin.tenants.import.mutate({ bundle, tenantId: target.tenant.id }));
    expect(error).toMatchObject({ httpStatus: 409, reason: 'TENANT_NOT_EMPTY' });
    expect(await rowTexts(target.tenant.id)).toEqual(before);
    expect(await platformEvents(target.tenant.id, 'tenant.import')).toEqual([]);
    expect(await trpcError(admin.tenants.import.mutate({ bundle, tenantId: randomUUID() }))).toMatchObject({ httpStatus: 404 });
  });

  it('refuses a taken slug with 409 SLUG_TAKEN, creating nothing', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 1);
    const bundle = await admin.tenants.export.query({ tenantId: tenant.id });
    const error = await trpcError(admin.tenants.import.mutate({ bundle }));
    expect(error).toMatchObject({ httpStatus: 409, reason: 'SLUG_TAKEN' });
    expect((await owner`select count(*)::int as n from tenants where name = ${tenant.name} and slug = ${tenant.slug}`)[0]!.n).toBe(1);
  });

  it('answers 400 naming what is wrong with a bundle, creating nothing', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 2);
    const bundle = await admin.tenants.export.query({ tenantId: tenant.id });
    const slug = randomSlug('bad');
    const variants: [string, unknown, string][] = [
      ['unknown table', { ...bundle, tables: [...bundle.tables, { name: 'secrets', columns: ['id'], rowCount: 0, jsonl: '' }] }, 'secrets'],
      ['unknown column', { ...bundle, tables: bundle.tables.map((t) => (t.name === 'orders' ? { ...t, columns: [...t.columns, 'discount'] } : t)) }, 'discount'],
      ['wrong format', { ...bundle, format: 'csv' }, 'format'],
      ['wrong version', { ...bundle, version: 2 }, 'version'],
      ['row count mismatch', { ...bundle, tables: bundle.tables.map((t) => (t.name === 'orders' ? { ...t, rowCount: 5 } : t)) }, 'rowCount'],
    ];
    for (const [name, bad, named] of variants) {
      const error = await trpcError(admin.tenants.import.mutate({ bundle: bad as typeof bundle, slug }));
      expect({ name, httpStatus: error.httpStatus, reason: error.reason }).toEqual({ name, httpStatus: 400, reason: 'INVALID_INPUT' });
      expect(error.message).toContain(named);
    }
    const unknownTable = await trpcError(admin.tenants.import.mutate({ bundle: variants[0]![1] as typeof bundle, slug }));
    expect(unknownTable.issues).toEqual([{ path: `bundle.tables.${bundle.tables.length}.name`, message: expect.stringContaining('unknown table "secrets"') }]);
    expect(await slugExists(slug)).toBe(false);
  });

  it('imports nothing (and creates no tenant) when a row is refused half way', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 2);
    const bundle = await admin.tenants.export.query({ tenantId: tenant.id });
    // Orders whose customer is not in the bundle: api_keys and customers go in first, then this fails.
    const orphaned = { ...bundle, tables: bundle.tables.map((t) => (t.name === 'customers' ? { ...t, rowCount: 0, jsonl: '' } : t)) };
    const slug = randomSlug('half');
    const error = await trpcError(admin.tenants.import.mutate({ bundle: orphaned, slug }));
    expect(error).toMatchObject({ httpStatus: 400, reason: 'INVALID_BUNDLE' });
    expect(error.message).toContain('orders');
    expect(await slugExists(slug)).toBe(false);

    const malformed = { ...bundle, tables: bundle.tables.map((t) => (t.name === 'orders' ? { ...t, jsonl: t.jsonl.replace('"amount":', '"amount":"lots",') } : t)) };
    const error2 = await trpcError(admin.tenants.import.mutate({ bundle: malformed, slug }));
    expect(error2).toMatchObject({ httpStatus: 400, reason: 'INVALID_BUNDLE' });
    expect(await slugExists(slug)).toBe(false);
  });
});
