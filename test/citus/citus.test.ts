/**
 * Palisade on a Citus cluster (a coordinator and two workers: ../shared/citus/citus-cluster.sh):
 * migrations as the owner, `palisade citus distribute`, then the server over HTTP and the app role
 * at SQL level, with tenants whose shards live on the workers. Skipped, saying so, unless
 * CITUS_TEST_URL names the coordinator's superuser URL (CI sets it; `npm test` alone does not).
 */
import { getTableName } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectEngine, distribute, distributionOf, PLATFORM_TABLES } from '../../db/citus.js';
import { openPool, type Sql } from '../../db/client.js';
import { TENANT_TABLES } from '../../db/schema/tenancy.js';
import { TenantReader } from '../../db/tenant-read.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTenantRole, tenantRoleName } from '../../db/roles.js';
import { loadConfig } from '../../src/config.js';
import { withLogin } from '../../src/database.js';
import { openDeps } from '../../src/deps.js';
import { loadCatalog } from '../../src/modules/analytics/catalog.js';
import { prepareCitusDatabase } from '../citus-database.js';
import { addApiKey, makeTenantWithOrders, startServer, TEST_CONFIG, type Fixture, type TestServer } from '../harness.js';

const url = process.env['CITUS_TEST_URL'];
if (!url) process.stdout.write('\n[palisade tests] Citus suite skipped: set CITUS_TEST_URL to a coordinator superuser URL (citus-cluster.sh prints it)\n');

describe.skipIf(!url)('on a Citus cluster', () => {
  let superuser: Sql;
  let owner: Sql;
  let app: Sql;
  let platform: Sql;
  let appUrl: string;
  let platformUrl: string;
  let server: TestServer;
  const fixtures: Fixture[] = [];
  /** Tenants whose orders shard is placed on a worker, not the coordinator. */
  let onWorkers: Fixture[] = [];

  beforeAll(async () => {
    const prepared = await prepareCitusDatabase(url!);
    superuser = openPool(url!, { max: 1 });
    owner = openPool(prepared.ownerUrl, { max: 2 });
    appUrl = prepared.appUrl;
    platformUrl = prepared.platformUrl;
    app = openPool(appUrl, { max: 4 });
    platform = openPool(prepared.platformUrl, { max: 2 });
    server = await startServer(app, { platformPool: platform, engine: 'citus' });
    for (let i = 0; i < 6; i++) fixtures.push(await makeTenantWithOrders(owner, 2 + i));
    const [coordinator] = await superuser<{ port: number }[]>`select inet_server_port() as port`;
    const placed = await Promise.all(
      fixtures.map(async (f) => {
        const [row] = await superuser<{ port: number }[]>`
          select p.nodeport as port from pg_dist_shard_placement p
          where p.shardid = get_shard_id_for_distribution_column('orders', ${f.tenant.id}::uuid)`;
        return row!.port;
      }),
    );
    onWorkers = fixtures.filter((_, i) => placed[i] !== coordinator!.port);
  }, 180_000);

  afterAll(async () => {
    await server?.close();
    await Promise.all([owner?.end(), app?.end(), platform?.end(), superuser?.end()]);
  });

  it('is detected, with every tenant table distributed by tenant_id in one colocation group and platform tables replicated', async () => {
    expect(await detectEngine(app)).toBe('citus');
    const placement = new Map((await distributionOf(owner)).map((d) => [d.table, d]));
    const tenantTables = TENANT_TABLES.map(getTableName);
    for (const table of tenantTables) expect(placement.get(table), table).toMatchObject({ method: 'h', column: 'tenant_id' });
    expect(new Set(tenantTables.map((t) => placement.get(t)!.colocation)).size).toBe(1);
    for (const table of PLATFORM_TABLES) expect(placement.get(table), table).toMatchObject({ method: 'n' });
    const [setting] = await app<{ mode: string }[]>`select current_setting('citus.propagate_set_commands') as mode`;
    expect(setting!.mode).toBe('local');
    // A second run changes nothing.
    const again = await distribute(owner, { platform: PLATFORM_TABLES, tenant: tenantTables });
    expect(again).toMatchObject({ referenceTables: [], distributedTables: [] });
  });

  it('places some tenants on the workers (what the rest of the suite relies on)', () => {
    expect(onWorkers.length).toBeGreaterThan(0);
  });

  it('serves every tenant its own orders over HTTP, tenants on workers included', async () => {
    for (const { tenant, orderIds } of fixtures) {
      const page = await server.client(tenant.apiKey).orders.list.query({ limit: 100 });
      expect(page.items.map((o) => o.id).sort()).toEqual([...orderIds].sort());
      const res = await fetch(`${server.url}/odata/orders/$count`, { headers: { authorization: `Bearer ${tenant.apiKey}` } });
      expect(await res.text()).toBe(String(orderIds.length));
    }
    const ready = await fetch(`${server.url}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready', engine: 'citus' });
  });

  it('writes through the API for a tenant on a worker, and only there', async () => {
    const { tenant, customerId } = onWorkers[0]!;
    const created = await server.client(tenant.apiKey).orders.create.mutate({ customerId, region: 'west', amount: '5.00', orderDate: '2026-02-01' });
    const other = fixtures.find((f) => f.tenant.id !== tenant.id)!;
    expect(await withTenant(app, other.tenant.id, (tx) => tx.execute(`select 1 from orders where id = '${created.id}'`))).toHaveLength(0);
    expect(await withTenant(app, tenant.id, (tx) => tx.execute(`select 1 from orders where id = '${created.id}'`))).toHaveLength(1);
  });

  it('as the app role at SQL level: a tenant sees its rows only, no tenant sees nothing and cannot write', async () => {
    for (const { tenant, orderIds } of fixtures) {
      const rows = await withTenant(app, tenant.id, (tx) => tx.execute<{ tenant_id: string }>('select tenant_id from orders'));
      expect(rows.length).toBeGreaterThanOrEqual(orderIds.length);
      expect(new Set(rows.map((r) => r.tenant_id))).toEqual(new Set([tenant.id]));
    }
    expect(await app`select count(*)::int as n from orders`).toEqual([{ n: 0 }]);
    expect(await app`select count(*)::int as n from customers`).toEqual([{ n: 0 }]);
    const { customerId } = onWorkers[0]!;
    const refused = await app`insert into orders (customer_id, region, amount, order_date) values (${customerId}, 'x', 1, '2026-01-01')`.then(
      () => undefined,
      (error: { code?: string }) => error.code,
    );
    // Plain Postgres says 42501; Citus may refuse earlier (22004: no tenant to route by). Both refuse.
    expect(['42501', '22004', '23502']).toContain(refused);
  });

  it('keeps one-statement reads in one flight inside BEGIN … COMMIT; without it the workers see no tenant', async () => {
    const { tenant, orderIds } = onWorkers[0]!;
    const citusReader = new TenantReader(app, { engine: 'citus' });
    const rows = await citusReader.query(tenant.id, 'select count(*)::int as n from orders where customer_id is not null', []);
    expect(rows[0]!['n']).toBeGreaterThanOrEqual(orderIds.length);
    // The plain-Postgres flight (no explicit transaction block) does not reach a worker's shard: zero rows, never another tenant's.
    const plain = new TenantReader(app, { engine: 'postgres' });
    expect(await plain.query(tenant.id, 'select count(*)::int as n from orders', [])).toEqual([{ n: 0 }]);
  });

  it('routes every request of a tenant to its one shard: no statement of the app role fans out', async () => {
    // Citus raises an error, instead of running it, for any statement that would touch more than
    // one shard; every tenant query the server builds names its tenant, so none does.
    const strict = postgres(appUrl, { max: 4, onnotice: () => undefined, connection: { 'citus.multi_task_query_log_level': 'error' } });
    const routed = await startServer(strict, { platformPool: platform, engine: 'citus' });
    try {
      const { tenant, customerId, orderIds } = onWorkers[0]!;
      const api = routed.client(tenant.apiKey);
      expect((await api.orders.list.query({ region: 'west', limit: 50 })).items.every((o) => o.tenantId === tenant.id)).toBe(true);
      await api.orders.get.query({ id: orderIds[0]! });
      const order = await api.orders.create.mutate({ customerId, region: 'north', amount: '7.50', orderDate: '2026-03-01' });
      await api.orders.update.mutate({ id: order.id, status: 'paid' });
      await api.orders.delete.mutate({ id: order.id });
      await api.customers.list.query({ search: 'first' });
      await api.customers.get.query({ id: customerId });
      const { user, temporaryPassword } = await api.users.create.mutate({ email: `routed@${tenant.slug}.example`, name: 'Routed', role: 'viewer' });
      await api.users.list.query({});
      const signedIn = await routed.client().auth.login.mutate({ tenant: tenant.slug, email: user.email, password: temporaryPassword });
      await routed.client(signedIn.token).auth.changePassword.mutate({ currentPassword: temporaryPassword, newPassword: 'a routed passphrase 42' });
      await api.users.update.mutate({ userId: user.id, disabled: true });
      await api.users.delete.mutate({ userId: user.id });
      const key = await api.apiKeys.create.mutate({ name: 'routed', role: 'viewer' });
      await api.apiKeys.list.query({});
      const rotated = await api.apiKeys.rotate.mutate({ keyId: key.key.id, gracePeriodDays: 1 });
      await api.apiKeys.revoke.mutate({ keyId: rotated.key.id });
      await api.audit.list.query({});
      await api.usage.get.query({ days: 7 });
      await api.query.query({ dataset: 'orders', dimensions: ['region'], metrics: ['revenue', 'order_count'], filters: [{ metric: 'order_count', op: 'gte', value: 1 }] });
      const odata = await fetch(`${routed.url}/odata/orders?$select=region,revenue&$count=true`, { headers: { authorization: `Bearer ${tenant.apiKey}` } });
      expect(odata.status).toBe(200);
      await routed.lastUsed.flush();
    } finally {
      // Flushes the audit events, usage and last use the requests noted, on the same strict pool.
      await routed.close();
      await strict.end();
    }
  });

  it('tells the other instances through Postgres, without Redis: a key revoked and a write through A reach B within a second', async () => {
    // Citus refuses migration 0012's triggers; the server announces what it changed after commit.
    const name = `palisade-test-citus-feed-${Date.now()}`;
    const appB = openPool(appUrl, { max: 2, applicationName: name });
    const b = await startServer(appB, { platformPool: platform, engine: 'citus', changeFeed: { origin: name } });
    const within = async (probe: () => Promise<boolean>) => {
      const started = performance.now();
      while (!(await probe())) {
        if (performance.now() - started > 1_000) throw new Error('not seen within a second');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    try {
      const { tenant, customerId } = onWorkers[0] ?? fixtures[0]!;
      const extra = await addApiKey(owner, tenant);
      await b.client(extra).orders.list.query({});
      const keys = await server.client(tenant.apiKey).apiKeys.list.query({});
      await server.client(tenant.apiKey).apiKeys.revoke.mutate({ keyId: keys.items.find((k) => k.name === 'extra')!.id });
      await within(() => b.client(extra).orders.list.query({}).then(() => false, () => true));

      const count = { dataset: 'orders', dimensions: [], metrics: ['order_count'] };
      const before = (await b.client(tenant.apiKey).query.query(count)).rows[0]!.order_count as number;
      expect(await b.client(tenant.apiKey).query.query(count)).toMatchObject({ cached: true });
      await server.client(tenant.apiKey).orders.create.mutate({ customerId, region: 'x', amount: 1, orderDate: '2026-03-01' });
      await within(async () => (await b.client(tenant.apiKey).query.query(count)).rows[0]!.order_count === before + 1);
    } finally {
      await b.close();
      await appB.end();
    }
  });
  it('has no per-tenant database roles: distribute drops their policy (Citus would copy it to the shards permissive), and a server refuses such a role', async () => {
    const [left] = await superuser<{ n: number }[]>`select count(*)::int as n from pg_policy where polname = 'pinned_tenant'`;
    expect(left!.n).toBe(0);
    const shards = await superuser<{ result: string }[]>`
      select result from run_command_on_workers($$select count(*) from pg_policy where polname = 'pinned_tenant'$$)`;
    expect(shards.map((r) => r.result)).toEqual(shards.map(() => '0'));
    const f = fixtures[0]!;
    const role = tenantRoleName(f.tenant.id);
    await owner.unsafe(`drop role if exists ${role}`);
    await createTenantRole(owner, f.tenant.id, 'Citus0tenant0role0pass');
    try {
      const config = { ...loadConfig({ PALISADE_TENANT: f.tenant.slug }), catalogPath: TEST_CONFIG.catalogPath };
      const opening = openDeps(config, { appUrl: withLogin(appUrl, role, 'Citus0tenant0role0pass'), platformUrl }, {
        catalog: loadCatalog(config.catalogPath),
        log: () => undefined,
      });
      await expect(opening).rejects.toThrow(/which Citus cannot hold to its tenant/);
    } finally {
      await owner.unsafe(`drop role if exists ${role}`);
    }
  });
});

