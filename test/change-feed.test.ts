/**
 * Postgres tells the server what changed (migration 0012's triggers, src/platform/change-feed.ts):
 * credentials revoked or suspended and tenant data written behind the server's back (as psql or
 * the CLI would) reach its caches within a second, with no Redis and no eviction by hand; a rolled
 * back change says nothing; the listener comes back after its connection is killed and drops its
 * caches, since it may have missed something; the server's own writes are not applied twice.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../db/client.js';
import { apiKeys, orders } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { withLogin } from '../src/database.js';
import { ChangeFeed, parseChange } from '../src/platform/change-feed.js';
import { MemoryQueryCache } from '../src/platform/query-cache/query-cache.js';
import { addApiKey, makeTenantWithOrders, ownerPool, pg, startServer, trpcError, type TestServer } from './harness.js';

const revenue = { dataset: 'orders', dimensions: [], metrics: ['order_count'] };
/** This file's own application_name: its listener is the one connection it kills. */
const appName = `palisade-test-feed-${randomBytes(4).toString('hex')}`;

let owner: Sql;
let app: Sql;
let superuser: Sql;
let server: TestServer;
const cache = new MemoryQueryCache();
/** Every notification on the channel, as a DBA's psql would see them (other files' too: filter by tenant). */
const heard: { tenantId?: string; origin?: string; kind: string }[] = [];
const heardFor = (tenantId: string) => heard.filter((h) => h.tenantId === tenantId);
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

beforeAll(async () => {
  owner = ownerPool();
  superuser = openPool(pg.superuserUrl, { max: 1, applicationName: 'palisade-test-feed-su' });
  app = openPool(pg.appUrl, { max: 4, applicationName: appName });
  server = await startServer(app, { changeFeed: { origin: appName }, deps: { cache } });
  await superuser.listen('palisade_changes', (payload) => {
    const parsed = parseChange(payload);
    if (!parsed) return;
    const { change, origin } = parsed;
    heard.push({ kind: change.kind, origin, tenantId: change.kind === 'data' ? (change.tenantId ?? undefined) : change.change.tenantId });
  });
});

afterAll(async () => {
  await server?.close();
  await Promise.all([owner?.end(), app?.end(), superuser?.end()]);
});

/** Calls `probe` every 25 ms until it returns true; the ms it took, or fails after `limitMs`. */
async function within(limitMs: number, probe: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await probe()) return performance.now() - started;
    if (performance.now() - started > limitMs) throw new Error(`not seen within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const refused = (call: Promise<unknown>) => call.then(() => false, () => true);

describe('the change feed, without Redis', () => {
  it('refuses a key revoked in SQL within a second, and a suspended tenant too', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 1);
    const extra = await addApiKey(owner, tenant);
    await server.client(extra).orders.list.query({});
    await server.client(tenant.apiKey).orders.list.query({});
    expect(server.credentialCache.size).toBeGreaterThanOrEqual(2);

    await withTenant(owner, tenant.id, (tx) => tx.update(apiKeys).set({ revokedAt: new Date() }).where(undefined));
    const revokedAfter = await within(1_000, () => refused(server.client(extra).orders.list.query({})));
    expect(await trpcError(server.client(extra).orders.list.query({}))).toMatchObject({ httpStatus: 401 });

    const other = await makeTenantWithOrders(owner, 1);
    await server.client(other.tenant.apiKey).orders.list.query({});
    await owner`update tenants set status = 'suspended' where id = ${other.tenant.id}`;
    const suspendedAfter = await within(1_000, () => refused(server.client(other.tenant.apiKey).orders.list.query({})));
    expect(await trpcError(server.client(other.tenant.apiKey).orders.list.query({}))).toMatchObject({ httpStatus: 403 });
    console.log(`[change-feed] refused after: revoke ${revokedAfter.toFixed(0)} ms, suspension ${suspendedAfter.toFixed(0)} ms`);
  });

  it('serves a fresh result within a second of a write made behind its back, with one notification per tenant per transaction', async () => {
    const { tenant, customerId } = await makeTenantWithOrders(owner, 3);
    const api = server.client(tenant.apiKey);
    expect(await api.query.query(revenue)).toMatchObject({ rows: [{ order_count: 3 }] });
    expect(await api.query.query(revenue)).toMatchObject({ cached: true });

    await settle();
    const before = heardFor(tenant.id).length;
    await withTenant(owner, tenant.id, async (tx) => {
      for (let i = 0; i < 3; i++) await tx.insert(orders).values({ customerId, region: 'west', amount: '1.00', orderDate: '2026-02-01' });
    });
    const freshAfter = await within(1_000, async () => {
      const answer = await api.query.query(revenue);
      return answer.rows[0]?.order_count === 6;
    });
    await settle();
    expect(heardFor(tenant.id).length - before).toBe(1);
    console.log(`[change-feed] fresh result after a write in SQL: ${freshAfter.toFixed(0)} ms`);
  });

  it('hears nothing of a change that rolled back', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 1);
    await server.client(tenant.apiKey).orders.list.query({});
    await settle();
    const before = heardFor(tenant.id).length;
    await owner
      .begin(async (tx) => {
        await tx`update tenants set status = 'suspended' where id = ${tenant.id}`;
        throw new Error('roll back');
      })
      .catch(() => undefined);
    await settle();
    expect(heardFor(tenant.id).length).toBe(before);
    await server.client(tenant.apiKey).orders.list.query({});
  });

  it('does not apply its own writes twice: one version step per write', async () => {
    const { tenant, customerId } = await makeTenantWithOrders(owner, 1);
    const api = server.client(tenant.apiKey);
    await settle(); // the fixture's own notification
    const version = await cache.tenantVersion(tenant.id);
    await api.orders.create.mutate({ customerId, region: 'x', amount: 1, orderDate: '2026-03-01' });
    await within(1_000, async () => heardFor(tenant.id).some((h) => h.origin === appName));
    await settle();
    expect(await cache.tenantVersion(tenant.id)).toBe(version + 1);
  });

  it('listens again after its connection is killed, dropping what it may have missed', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 1);
    await server.client(tenant.apiKey).orders.list.query({});
    expect(server.credentialCache.size).toBeGreaterThan(0);
    const killed = await superuser`
      select pg_terminate_backend(pid) as done from pg_stat_activity
      where application_name = ${appName} and query ilike 'listen%'`;
    expect(killed).toHaveLength(1);
    await within(2_000, async () => server.credentialCache.size === 0);

    // Heard again after the reconnect.
    const extra = await addApiKey(owner, tenant);
    await server.client(extra).orders.list.query({});
    await superuser`update api_keys set revoked_at = now() where tenant_id = ${tenant.id}`;
    await within(1_000, () => refused(server.client(extra).orders.list.query({})));
  });
});

describe('a first LISTEN that fails', () => {
  it('is retried, counts as a reconnect (caches dropped), and hears changes once it is in', async () => {
    // A login role of this test's own that cannot log in yet: the first LISTEN fails for real.
    const role = `palisade_feed_test_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    const [{ db } = { db: '' }] = await superuser<{ db: string }[]>`select current_database() as db`;
    await superuser.unsafe(`create role ${role} nologin password '${password}'`);
    await superuser.unsafe(`grant connect on database "${db}" to ${role}`);
    const pool = openPool(withLogin(pg.appUrl, role, password), { max: 1, connectTimeoutMs: 1_000 });
    const logged: string[] = [];
    const heard: string[] = [];
    let missed = 0;
    const feed = new ChangeFeed(
      pool,
      { credentials: (change) => void heard.push(change.keyId ?? ''), data: () => undefined, missed: () => void missed++ },
      { log: (_level, message) => void logged.push(message) },
    );
    try {
      await feed.ready();
      expect(logged.some((m) => m.startsWith('could not LISTEN'))).toBe(true);
      await superuser.unsafe(`alter role ${role} login`);
      await within(5_000, async () => missed > 0);
      const keyId = randomBytes(4).toString('hex');
      await superuser`select pg_notify('palisade_changes', ${JSON.stringify({ kind: 'credentials', change: { keyId } })})`;
      await within(1_000, async () => heard.includes(keyId));
      expect(logged.filter((m) => m.startsWith('could not LISTEN'))).toHaveLength(1);
    } finally {
      await feed.close();
      await pool.end();
      await superuser.unsafe(`revoke connect on database "${db}" from ${role}`);
      await superuser.unsafe(`drop role ${role}`);
    }
  });
});

describe('parseChange', () => {
  it('reads both kinds and refuses anything else', () => {
    expect(parseChange('{"kind":"credentials","change":{"keyId":"k"},"origin":"a"}')).toEqual({ change: { kind: 'credentials', change: { keyId: 'k' } }, origin: 'a' });
    expect(parseChange('{"kind":"data","tenantId":null}')).toEqual({ change: { kind: 'data', tenantId: null }, origin: undefined });
    for (const bad of ['', 'x', 'null', '{"kind":"data","tenantId":1}', '{"kind":"credentials","change":{}}', '{"kind":"other"}']) {
      expect(parseChange(bad)).toBeUndefined();
    }
  });
});
