/**
 * READ_DATABASE_URL: a private primary and streaming replica (test/postgres-replica.ts), migrated
 * as the server migrates, whatever Postgres the rest of the suite uses. Which server answered is
 * shown by pausing the replica's replay (`pg_wal_replay_pause()`) and writing behind the app's back:
 * a read that misses the write came from the replica, one that has it from the primary.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../db/client.js';
import { runMigrations } from '../db/migrate.js';
import { fromPackageRoot } from '../db/package-root.js';
import { parseLsn, ReplicaRouter, type ReplicaStatus } from '../db/replica-router.js';
import { APP_ROLE, enableLogin, ensureOwnerAndDatabase, OWNER_ROLE, PLATFORM_ROLE } from '../db/roles.js';
import { orders } from '../db/schema/index.js';
import { TenantReader } from '../db/tenant-read.js';
import { withTenant } from '../db/tenant-tx.js';
import { createApp } from '../src/app.js';
import { hasErrors } from '../src/audit/findings.js';
import { runAudit } from '../src/audit/run-audit.js';
import { loadConfig, type Config } from '../src/config.js';
import { withLogin } from '../src/database.js';
import { buildDeps, openDeps, type Built } from '../src/deps.js';
import { openReplica, type OpenedReplica } from '../src/read-replica.js';
import type { Logger } from '../src/lib/log.js';
import { replicaReadFailure } from '../src/lib/pg-errors.js';
import { loadCatalog } from '../src/modules/analytics/catalog.js';
import { makeTenantWithOrders, type Fixture } from './harness.js';
import { startReplicatedPostgres, type ReplicatedPostgres } from './postgres-replica.js';

const MAX_LAG_MS = 2_000;
/** The default (READ_REPLICA_POLL_MS), so what this file measures is what a server does. */
const POLL_MS = loadConfig({}).readReplicaPollMs;

let cluster: ReplicatedPostgres;
let urls: { owner: string; app: string; platform: string; replicaApp: string; replicaOwner: string };
let primarySuper: Sql;
let replicaSuper: Sql;
let owner: Sql;
let pool: Sql;
let platformPool: Sql;
let config: Config;
let replica: OpenedReplica;
let built: Built;
let app: ReturnType<typeof createApp>;
let a: Fixture;
let b: Fixture;
const logged: { level: string; message: string }[] = [];
const log: Logger = (level, message) => void logged.push({ level, message });
/** What the test measured, printed once at the end. */
const measured: Record<string, number> = {};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
  return performance.now() - started;
}

/** The replica has replayed everything the primary has written so far. */
async function replicaCaughtUp(): Promise<void> {
  const [{ lsn } = { lsn: '0/0' }] = await primarySuper<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`;
  await until('the replica to replay the primary', async () => {
    const [row] = await replicaSuper<{ lsn: string }[]>`select pg_last_wal_replay_lsn()::text as lsn`;
    return parseLsn(row!.lsn) >= parseLsn(lsn);
  });
}

const pauseReplay = () => replicaSuper`select pg_wal_replay_pause()`;
const resumeReplay = () => replicaSuper`select pg_wal_replay_resume()`;

/** An order written on the primary behind the app's back: the app does not know the tenant wrote. */
async function insertBehindTheAppsBack(fixture: Fixture): Promise<void> {
  await withTenant(owner, fixture.tenant.id, (tx) =>
    tx.insert(orders).values({ customerId: fixture.customerId, region: 'east', amount: '1.00', orderDate: '2026-02-01' }),
  );
}

async function request(path: string, key: string, init: RequestInit = {}): Promise<Response> {
  return app.request(path, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers } });
}

/** The tenant's order count as a dataset query (REST) answers it. */
async function datasetCount(fixture: Fixture): Promise<number> {
  const response = await request('/v1/query?dataset=orders&metrics=order_count', fixture.tenant.apiKey);
  expect(response.status).toBe(200);
  const body = (await response.json()) as { rows: { order_count: number }[] };
  return body.rows[0]!.order_count;
}

/** The tenant's orders as `orders.list` (a one-statement tenant read) answers them. */
async function listedOrders(fixture: Fixture): Promise<number> {
  const response = await request(`/trpc/orders.list?input=${encodeURIComponent(JSON.stringify({ limit: 500 }))}`, fixture.tenant.apiKey);
  expect(response.status).toBe(200);
  return ((await response.json()) as { result: { data: { items: unknown[] } } }).result.data.items.length;
}

/** `orders.get` (a compiled select): whether the order is there. */
async function orderFound(fixture: Fixture, id: string): Promise<boolean> {
  const response = await request(`/trpc/orders.get?input=${encodeURIComponent(JSON.stringify({ id }))}`, fixture.tenant.apiKey);
  expect([200, 404]).toContain(response.status);
  return response.status === 200;
}

async function primaryCount(fixture: Fixture): Promise<number> {
  const [row] = await withTenant(owner, fixture.tenant.id, (tx) => tx.$client<{ n: number }[]>`select count(*)::int as n from orders`);
  return row!.n;
}

async function readyz(): Promise<{ status: number; replica: ReplicaStatus }> {
  const response = await app.request('/readyz');
  return { status: response.status, replica: ((await response.json()) as { replica: ReplicaStatus }).replica };
}

const router = () => replica.router;

beforeAll(async () => {
  cluster = await startReplicatedPostgres();
  const database = `palisade_replica_${randomBytes(4).toString('hex')}`;
  const [ownerPassword, appPassword, platformPassword] = [0, 1, 2].map(() => randomBytes(12).toString('hex'));
  const maintenance = openPool(cluster.primaryUrl('postgres'), { max: 1 });
  try {
    await ensureOwnerAndDatabase(maintenance, database, ownerPassword!);
  } finally {
    await maintenance.end();
  }
  const ownerUrl = withLogin(cluster.primaryUrl(database), OWNER_ROLE, ownerPassword!);
  await runMigrations(ownerUrl);
  owner = openPool(ownerUrl, { max: 2 });
  await enableLogin(owner, APP_ROLE, appPassword!);
  await enableLogin(owner, PLATFORM_ROLE, platformPassword!);
  urls = {
    owner: ownerUrl,
    app: withLogin(ownerUrl, APP_ROLE, appPassword!),
    platform: withLogin(ownerUrl, PLATFORM_ROLE, platformPassword!),
    // Roles and passwords replicate: the app role logs in on the replica as on the primary.
    replicaApp: withLogin(cluster.replicaUrl(database), APP_ROLE, appPassword!),
    replicaOwner: withLogin(cluster.replicaUrl(database), OWNER_ROLE, ownerPassword!),
  };
  primarySuper = openPool(cluster.primaryUrl(database), { max: 1 });
  replicaSuper = openPool(cluster.replicaUrl(database), { max: 1 });
  config = {
    ...loadConfig({
      DATABASE_URL: urls.owner,
      APP_DATABASE_URL: urls.app,
      PLATFORM_DATABASE_URL: urls.platform,
      READ_DATABASE_URL: urls.replicaApp,
      READ_REPLICA_MAX_LAG_MS: String(MAX_LAG_MS),
      // Every dataset query reaches the database: this file is about where it goes.
      QUERY_CACHE_TTL_SECONDS: '0',
    }),
    catalogPath: fromPackageRoot('catalog.yaml'),
  };
  [a, b] = await Promise.all([makeTenantWithOrders(owner, 3), makeTenantWithOrders(owner, 3)]);
  pool = openPool(urls.app, { max: 4 });
  platformPool = openPool(urls.platform, { max: 2 });
  await replicaCaughtUp();
  replica = (await openReplica(config, { url: urls.app, pool }, { log }))!;
  built = buildDeps(config, { pool, platformPool, replica: replica.router }, { catalog: loadCatalog(config.catalogPath), log });
  app = createApp(built.deps);
  await until('the replica to serve both tenants', () => router().useReplica(a.tenant.id) && router().useReplica(b.tenant.id));
});

afterAll(async () => {
  await built?.stop();
  await replica?.close();
  await Promise.all([pool, platformPool, owner, primarySuper, replicaSuper].map((p) => p?.end()));
  cluster?.stop();
  if (Object.keys(measured).length > 0) process.stdout.write(`\n[read replica] measured (ms): ${JSON.stringify(measured)}\n`);
});

describe('READ_DATABASE_URL', () => {
  it(`starts with the replica serving, and refuses a primary or a login that bypasses row-level security`, async () => {
    expect(router().status()).toMatchObject({ state: 'streaming', serving: true, maxLagMs: MAX_LAG_MS });
    expect((await readyz()).replica).toMatchObject({ state: 'streaming', serving: true });
    const catalog = loadCatalog(config.catalogPath);
    const databases = { appUrl: urls.app, platformUrl: urls.platform };
    // The primary itself: not in recovery.
    await expect(openDeps({ ...config, readDatabaseUrl: urls.app }, databases, { catalog, log })).rejects.toThrow(
      /READ_DATABASE_URL is not a replica[\s\S]*not in recovery \(pg_is_in_recovery\(\) is false\)/,
    );
    // The replica, as a superuser: it would ignore every policy there.
    await expect(openDeps({ ...config, readDatabaseUrl: cluster.replicaUrl(new URL(urls.app).pathname.slice(1)) }, databases, { catalog, log })).rejects.toThrow(
      /on the replica: role postgres is SUPERUSER/,
    );
  });

  it('serves dataset queries, one-statement reads and compiled selects from the replica', async () => {
    await pauseReplay();
    try {
      await insertBehindTheAppsBack(a);
      const [newest] = await withTenant(owner, a.tenant.id, (tx) => tx.$client<{ id: string }[]>`select id from orders where region = 'east'`);
      expect(await primaryCount(a)).toBe(4);
      const before = router().status().reads;
      // The replica has not replayed the insert: every kind of read misses it.
      expect(await datasetCount(a)).toBe(3);
      expect(await listedOrders(a)).toBe(3);
      expect(await orderFound(a, newest!.id)).toBe(false);
      expect(await orderFound(a, a.orderIds[0]!)).toBe(true);
      expect(router().status().reads).toEqual({ ...before, replica: before.replica + 4 });
    } finally {
      await resumeReplay();
    }
    await until('tenant A back on the replica', () => router().useReplica(a.tenant.id));
    await replicaCaughtUp();
    expect(await datasetCount(a)).toBe(4);
  });

  it('read-your-writes: a tenant that wrote reads the primary until the replica has replayed its write; other tenants stay on the replica', async () => {
    await pauseReplay();
    let wroteAt: number;
    try {
      const countOfB = await datasetCount(b);
      await insertBehindTheAppsBack(b);
      const created = await request('/trpc/orders.create', a.tenant.apiKey, {
        method: 'POST',
        body: JSON.stringify({ customerId: a.customerId, region: 'west', amount: '9.99', orderDate: '2026-03-01' }),
      });
      expect(created.status).toBe(200);
      wroteAt = performance.now();
      const { id } = ((await created.json()) as { result: { data: { id: string } } }).result.data;
      // A's reads right after its write: the primary (the paused replica does not have it).
      expect(router().useReplica(a.tenant.id)).toBe(false);
      const before = router().status().reads;
      expect(await datasetCount(a)).toBe(await primaryCount(a));
      expect(await orderFound(a, id)).toBe(true);
      expect(await listedOrders(a)).toBe(await primaryCount(a));
      expect(router().status().reads).toMatchObject({ primary: before.primary + 3, replica: before.replica });
      // B's reads still come from the replica: B's insert is not there.
      expect(await datasetCount(b)).toBe(countOfB);
      expect(router().status().tenantsOnPrimary).toBeGreaterThanOrEqual(1);
    } finally {
      await resumeReplay();
    }
    measured['readYourWritesOnPrimaryAfterResume'] = Math.round(await until('tenant A back on the replica', () => router().useReplica(a.tenant.id)));
    measured['readYourWritesOnPrimaryAfterWrite'] = Math.round(performance.now() - wroteAt);

    // With replay running, how long a write keeps its tenant on the primary.
    const spans: number[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await request('/trpc/orders.create', a.tenant.apiKey, {
        method: 'POST',
        body: JSON.stringify({ customerId: a.customerId, region: 'west', amount: '1.00', orderDate: '2026-03-02' }),
      });
      expect(response.status).toBe(200);
      expect(router().useReplica(a.tenant.id)).toBe(false);
      spans.push(await until('tenant A back on the replica', () => router().useReplica(a.tenant.id)));
      // Back on the replica, A sees its write there.
      expect(await datasetCount(a)).toBe(await primaryCount(a));
    }
    measured['writeToReplicaMaxMs'] = Math.round(Math.max(...spans));
    measured['writeToReplicaMedianMs'] = Math.round(spans.sort((x, y) => x - y)[2]!);
    expect(Math.max(...spans)).toBeLessThan(10 * POLL_MS + 1_000);

    // A is served by the replica again: a write behind the app's back is missed while replay is paused.
    await pauseReplay();
    try {
      await insertBehindTheAppsBack(a);
      expect(await datasetCount(a)).toBe((await primaryCount(a)) - 1);
    } finally {
      await resumeReplay();
    }
  });

  it('a replica lagging past READ_REPLICA_MAX_LAG_MS sends every read to the primary, and /readyz says so', async () => {
    await until('tenant B on the replica', () => router().useReplica(b.tenant.id));
    await pauseReplay();
    try {
      await insertBehindTheAppsBack(b);
      const waited = await until('the replica to count as lagging', () => router().status().state === 'lagging', MAX_LAG_MS * 4);
      measured['lagDetectedAfterMs'] = Math.round(waited);
      const ready = await readyz();
      expect(ready.status).toBe(200);
      expect(ready.replica).toMatchObject({ state: 'lagging', serving: false, maxLagMs: MAX_LAG_MS });
      expect(ready.replica.lagMs).toBeGreaterThan(MAX_LAG_MS);
      expect(ready.replica.reason).toMatch(/behind the primary/);
      // B's insert is not on the replica, yet B sees it: the primary answers.
      expect(await datasetCount(b)).toBe(await primaryCount(b));
      expect(await listedOrders(b)).toBe(await primaryCount(b));
    } finally {
      await resumeReplay();
    }
    await until('the replica streaming again', () => router().status().state === 'streaming');
    expect((await readyz()).replica).toMatchObject({ state: 'streaming', serving: true, lagMs: 0 });
    const metrics = await built.deps.metrics.render();
    expect(metrics).toMatch(/^palisade_read_replica_serving 1$/m);
    expect(metrics).toMatch(/^palisade_read_replica_lag_seconds 0$/m);
    expect(logged.some((l) => l.message.includes('read replica not serving reads'))).toBe(true);
  });

  it('isolation holds on the replica: the app role sees nothing without a tenant and only its tenant with one; the audit finds no error', async () => {
    await replicaCaughtUp();
    const replicaApp = openPool(urls.replicaApp, { max: 1 });
    try {
      const [recovery] = await replicaApp<{ recovery: boolean }[]>`select pg_is_in_recovery() as recovery`;
      expect(recovery!.recovery).toBe(true);
      for (const table of ['orders', 'customers', 'api_keys', 'users']) {
        const [row] = await replicaApp.unsafe<{ n: number }[]>(`select count(*)::int as n from ${table}`);
        expect(row!.n, table).toBe(0);
      }
      const reader = new TenantReader(replicaApp);
      const seen = await reader.query(a.tenant.id, 'select distinct tenant_id::text as tenant from orders', []);
      expect(seen).toEqual([{ tenant: a.tenant.id }]);
      const [[bOrder]] = await Promise.all([reader.query(b.tenant.id, 'select count(*)::int as n from orders', [])]);
      expect(bOrder!['n']).toBe(await primaryCount(b));
      // Writes are refused on a replica whatever the tenant.
      await expect(withTenant(replicaApp, a.tenant.id, (tx) => tx.$client`delete from orders`)).rejects.toThrow(/read-only transaction/);
    } finally {
      await replicaApp.end();
    }

    const findings = await runAudit(replicaSuper, { appRole: APP_ROLE, scratch: primarySuper });
    expect(findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(findings.find((f) => f.ruleId === 'probe-skipped')?.problem).toMatch(/read replica \(pg_is_in_recovery\(\) is true\)/);
    // Without the primary to replay the migrations' policies on, drift is skipped and says why.
    const alone = await runAudit(replicaSuper, { appRole: APP_ROLE });
    expect(hasErrors(alone)).toBe(false);
    expect(alone.map((f) => f.ruleId)).toEqual(expect.arrayContaining(['policy-drift-skipped', 'probe-skipped']));

    // As operators run it: the owner's login on the replica, DATABASE_URL the primary.
    const root = fromPackageRoot();
    const { stdout } = await promisify(execFile)(path.join(root, 'node_modules', '.bin', 'tsx'), ['scripts/audit.ts', '--json', '--replica', urls.replicaOwner], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: urls.owner },
    });
    expect((JSON.parse(stdout) as { findings: { ruleId: string }[] }).findings.map((f) => f.ruleId)).toEqual(['probe-skipped']);
  });

  it('a replica that goes away mid-request: the read is answered by the primary, never a 500; /readyz says down; it serves again once back', async () => {
    // A router whose poller will not notice the stop: the request itself meets the dead connection.
    const pools = [openPool(urls.replicaApp, { max: 1 }), openPool(urls.replicaApp, { max: 1 }), openPool(urls.app, { max: 1 })] as const;
    const blind = new ReplicaRouter({
      replica: pools[0],
      replicaProbe: pools[1],
      primaryProbe: pools[2],
      pollMs: 600_000,
      maxLagMs: MAX_LAG_MS,
      isReplicaFailure: replicaReadFailure,
      verify: async () => [],
    });
    const blindReader = new TenantReader(pool, { replica: blind });
    const count = async (fixture: Fixture) => (await blindReader.query(fixture.tenant.id, 'select count(*)::int as n from orders', []))[0]!['n'];
    try {
      expect((await blind.start()).problems).toEqual([]);
      expect(blind.useReplica(b.tenant.id)).toBe(true);
      expect(await count(b)).toBe(await primaryCount(b));

      cluster.stopReplica();
      const stoppedAt = performance.now();
      expect(blind.useReplica(b.tenant.id)).toBe(true);
      // The replica's connection is gone: the read goes again to the primary.
      expect(await count(b)).toBe(await primaryCount(b));
      expect(blind.status()).toMatchObject({ state: 'down', serving: false });
      expect(blind.useReplica(b.tenant.id)).toBe(false);

      // The server: every request answered (by the primary), and /readyz tells.
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) {
        statuses.push((await request('/v1/query?dataset=orders&metrics=order_count', b.tenant.apiKey)).status);
        statuses.push((await request(`/trpc/orders.list?input=${encodeURIComponent('{}')}`, b.tenant.apiKey)).status);
      }
      expect(statuses.every((s) => s === 200)).toBe(true);
      await until('/readyz to say the replica is down', async () => (await readyz()).replica.state === 'down');
      measured['replicaDownShownAfterMs'] = Math.round(performance.now() - stoppedAt);
      const ready = await readyz();
      expect(ready.status).toBe(200);
      expect(ready.replica).toMatchObject({ state: 'down', serving: false, lagMs: null });
      expect(ready.replica.reason).toMatch(/not answering/);
      expect(blind.status().reads).toMatchObject({ retried: 1 });
      const metrics = await built.deps.metrics.render();
      expect(metrics).toMatch(/^palisade_read_replica_serving 0$/m);
      expect(metrics).toMatch(/^palisade_read_replica_reads_total\{target="replica"\} [1-9]\d*$/m);
      expect(metrics).toMatch(/^palisade_read_replica_lag_seconds nan$/im);
      expect(await datasetCount(b)).toBe(await primaryCount(b));
    } finally {
      await blind.close();
      await Promise.all(pools.map((p) => p.end()));
    }

    // Servers started while the replica is away: they start, and check it once it answers.
    const database = new URL(urls.app).pathname.slice(1);
    const late = (await openReplica(config, { url: urls.app, pool }, { log }))!;
    const lateSuperuser = (await openReplica({ ...config, readDatabaseUrl: cluster.replicaUrl(database) }, { url: urls.app, pool }, { log }))!;
    try {
      expect(late.router.status()).toMatchObject({ state: 'down', serving: false });
      expect(logged.some((l) => l.level === 'warn' && l.message.startsWith('read replica not reachable at startup'))).toBe(true);
      cluster.startReplica();
      const back = await until('the replica streaming again', () => router().status().state === 'streaming', 30_000);
      measured['replicaBackServingAfterMs'] = Math.round(back);
      await until('the late server verifying the replica', () => late.router.status().state === 'streaming', 30_000);
      await until('the late server refusing a superuser login', () => lateSuperuser.router.status().state === 'refused', 30_000);
      expect(lateSuperuser.router.status().reason).toMatch(/SUPERUSER/);
      expect(lateSuperuser.router.useReplica(b.tenant.id)).toBe(false);
    } finally {
      await Promise.all([late.close(), lateSuperuser.close()]);
    }
    await until('tenant B on the replica', () => router().useReplica(b.tenant.id));
    expect(await datasetCount(b)).toBe(await primaryCount(b));
  });
  it('another instance that hears a write (the change feed) reads that tenant from the primary until the replica has it', async () => {
    // Instance B: its own pool, replica router and LISTEN; the write goes through this file's server.
    const name = `palisade-test-replica-b-${randomBytes(3).toString('hex')}`;
    const poolB = openPool(urls.app, { max: 2, applicationName: name });
    const replicaB = (await openReplica(config, { url: urls.app, pool: poolB }, { log }))!;
    const builtB = buildDeps(config, { pool: poolB, platformPool, replica: replicaB.router, changeFeed: { origin: name } }, { catalog: loadCatalog(config.catalogPath), log });
    await builtB.changeFeed!.ready();
    const appB = createApp(builtB.deps);
    const countOnB = async () => {
      const response = await appB.request('/v1/query?dataset=orders&metrics=order_count', { headers: { authorization: `Bearer ${a.tenant.apiKey}` } });
      return ((await response.json()) as { rows: { order_count: number }[] }).rows[0]!.order_count;
    };
    try {
      await until('B to serve tenant A from the replica', () => replicaB.router.useReplica(a.tenant.id));
      await pauseReplay();
      try {
        const created = await request('/trpc/orders.create', a.tenant.apiKey, {
          method: 'POST',
          body: JSON.stringify({ customerId: a.customerId, region: 'west', amount: '2.00', orderDate: '2026-03-03' }),
        });
        expect(created.status).toBe(200);
        const heard = await until('B to read the write', async () => (await countOnB()) === (await primaryCount(a)));
        expect(heard).toBeLessThan(1_000);
        expect(replicaB.router.useReplica(a.tenant.id)).toBe(false);
      } finally {
        await resumeReplay();
      }
      await until('B back on the replica for tenant A', () => replicaB.router.useReplica(a.tenant.id));
    } finally {
      await builtB.stop();
      await replicaB.close();
      await poolB.end();
    }
  });
});
