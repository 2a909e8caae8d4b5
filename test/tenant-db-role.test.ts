/**
 * Per-tenant database roles (migration 0014, `palisade tenant db-role`): a login role Postgres
 * itself holds to one tenant. Whatever tenant the setting names, it sees and changes only its own
 * tenant's rows on every tenant table; a pinned instance connected as it serves that tenant, and
 * refuses to start pinned to another tenant, unpinned, or as a role the policy does not hold.
 */
import { getTableName } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../db/client.js';
import { OWNER_ROLE, rolePinning, tenantRoleName } from '../db/roles.js';
import { TENANT_TABLES } from '../db/schema/tenancy.js';
import { runStaticRules } from '../src/audit/static-rules.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { withLogin } from '../src/database.js';
import { openDeps } from '../src/deps.js';
import { loadCatalog } from '../src/modules/analytics/catalog.js';
import { issueTenantDbRole, revokeTenantDbRole } from '../src/modules/tenants/tenant-db-role.service.js';
import { appPool, makeTenantWithOrders, ownerPool, pg, startServer, TEST_CONFIG, trpcError, type Fixture } from './harness.js';

const ACTOR = { type: 'cli' as const, id: 'test', requestId: null, sourceIp: null };
const TABLES = TENANT_TABLES.map((t) => getTableName(t));

let owner: Sql;
let app: Sql;
let pinned: Sql;
let a: Fixture;
let b: Fixture;
let role: string;
let firstPassword: string;

beforeAll(async () => {
  owner = ownerPool();
  app = appPool();
  a = await makeTenantWithOrders(owner, 3, 'Pinned A', { withOwner: true });
  b = await makeTenantWithOrders(owner, 4, 'Other B', { withOwner: true });
  const issued = await issueTenantDbRole(owner, a.tenant, ACTOR);
  role = issued.role;
  firstPassword = issued.password;
  pinned = openPool(withLogin(pg.ownerUrl, issued.role, issued.password), { max: 2 });
});

afterAll(async () => {
  await pinned?.end();
  if (a) await revokeTenantDbRole(owner, a.tenant, ACTOR);
  await Promise.all([owner?.end(), app?.end()]);
});

/** Rows per tenant table that `sql` sees with the setting naming `tenantId` (or no setting). */
async function counts(sql: Sql, tenantId: string | null): Promise<Record<string, number>> {
  return sql.begin(async (tx) => {
    if (tenantId) await tx`select set_tenant(${tenantId}::uuid)`;
    const out: Record<string, number> = {};
    for (const table of TABLES) out[table] = Number((await tx.unsafe(`select count(*)::int as n from ${table}`))[0]!.n);
    return out;
  });
}

async function logsIn(url: string): Promise<boolean> {
  const sql = openPool(url, { max: 1, connectTimeoutMs: 2_000 });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end();
  }
}

const zeros = () => Object.fromEntries(TABLES.map((t) => [t, 0]));

describe('a per-tenant database role', () => {
  it('is named for its tenant and held by the pinned policy', async () => {
    expect(role).toBe(`palisade_tenant_${a.tenant.id.replace(/-/g, '')}`);
    expect(await rolePinning(pinned)).toEqual({ role, tenantId: a.tenant.id });
    expect(await rolePinning(app)).toBeNull();
  });

  it("sees none of another tenant's rows on any tenant table, even with the setting naming that tenant", async () => {
    const shared = await counts(app, b.tenant.id);
    // The shared app role does see B's rows (the test can fail), the pinned one sees none.
    expect(shared.orders).toBe(4);
    expect(shared.customers).toBe(1);
    expect(shared.users).toBeGreaterThan(0);
    expect(shared.api_keys).toBeGreaterThan(0);
    expect(await counts(pinned, b.tenant.id)).toEqual(zeros());
    expect(await counts(pinned, null)).toEqual(zeros());
  });

  it('sees its own tenant as the shared app role does', async () => {
    const own = await counts(pinned, a.tenant.id);
    expect(own).toEqual(await counts(app, a.tenant.id));
    expect(own.orders).toBe(3);
  });

  it("cannot insert, update or delete another tenant's rows", async () => {
    const asB = <T>(fn: (tx: Sql) => Promise<T>) =>
      pinned.begin(async (tx) => {
        await tx`select set_tenant(${b.tenant.id}::uuid)`;
        return fn(tx as unknown as Sql);
      });
    await expect(asB((tx) => tx`insert into customers (name, email) values ('Intruder', 'x@b.example')`)).rejects.toMatchObject({ code: '42501' });
    await expect(
      asB((tx) => tx`insert into customers (tenant_id, name, email) values (${b.tenant.id}, 'Intruder', 'y@b.example')`),
    ).rejects.toMatchObject({ code: '42501' });
    expect((await asB((tx) => tx`update orders set region = 'moved'`)).count).toBe(0);
    expect((await asB((tx) => tx`delete from orders`)).count).toBe(0);
    // Nor move one of its own rows into B.
    await expect(
      pinned.begin(async (tx) => {
        await tx`select set_tenant(${a.tenant.id}::uuid)`;
        await tx`update customers set tenant_id = ${b.tenant.id} where id = ${a.customerId}`;
      }),
    ).rejects.toMatchObject({ code: '42501' });
    expect((await counts(app, b.tenant.id)).orders).toBe(4);
  });

  it('writes its own tenant', async () => {
    await pinned.begin(async (tx) => {
      await tx`select set_tenant(${a.tenant.id}::uuid)`;
      const [row] = await tx<{ tenant_id: string }[]>`insert into customers (name, email) values ('Own', 'own@a.example') returning tenant_id`;
      expect(row!.tenant_id).toBe(a.tenant.id);
      await tx`delete from customers where email = 'own@a.example'`;
    });
  });

  it('gets a new password when issued again, and the old one stops working', async () => {
    const again = await issueTenantDbRole(owner, a.tenant, ACTOR);
    expect(again).toMatchObject({ role, created: false });
    const fresh = openPool(withLogin(pg.ownerUrl, role, again.password), { max: 1 });
    try {
      expect(await rolePinning(fresh)).toEqual({ role, tenantId: a.tenant.id });
    } finally {
      await fresh.end();
    }
    await pinned.end();
    pinned = openPool(withLogin(pg.ownerUrl, role, again.password), { max: 2 });
    // A server with trust authentication (the machine's PostgreSQL 15) takes any password; the embedded one checks.
    if (await logsIn(withLogin(pg.ownerUrl, OWNER_ROLE, 'not0the0password0at0all'))) return;
    expect(await logsIn(withLogin(pg.ownerUrl, role, firstPassword))).toBe(false);
  });
});

describe('an instance connected as a per-tenant role', () => {
  const open = (env: Record<string, string>, appUrl: string) => {
    const config = { ...loadConfig(env), catalogPath: TEST_CONFIG.catalogPath };
    return openDeps(config, { appUrl, platformUrl: pg.platformUrl }, { catalog: loadCatalog(config.catalogPath), log: () => undefined });
  };
  let password: string;
  beforeAll(async () => {
    password = (await issueTenantDbRole(owner, a.tenant, ACTOR)).password;
    await pinned.end();
    pinned = openPool(withLogin(pg.ownerUrl, role, password), { max: 2 });
  });

  it('starts pinned to its tenant and says which role holds it', async () => {
    const built = await open({ PALISADE_TENANT: a.tenant.slug }, withLogin(pg.ownerUrl, role, password));
    try {
      expect(built.deps.servedTenant).toEqual({ id: a.tenant.id, slug: a.tenant.slug, databaseRole: role });
    } finally {
      await built.stop();
    }
  });

  it('refuses to start pinned to another tenant, or not pinned at all', async () => {
    const url = withLogin(pg.ownerUrl, role, password);
    await expect(open({ PALISADE_TENANT: b.tenant.slug }, url)).rejects.toThrow(ConfigError);
    await expect(open({ PALISADE_TENANT: b.tenant.slug }, url)).rejects.toThrow(new RegExp(`sees only tenant ${a.tenant.slug}`));
    await expect(open({}, url)).rejects.toThrow(new RegExp(`set PALISADE_TENANT=${a.tenant.slug}`));
  });

  it('refuses a role named as pinned that the policy does not hold', async () => {
    const fakeTenant = '00000000-0000-4000-8000-00000000beef';
    const unheld = tenantRoleName(fakeTenant);
    const secret = 'Unheld0role0password0x';
    await owner.unsafe(`drop role if exists ${unheld}`);
    await owner.unsafe(`create role ${unheld} login password '${secret}' in role palisade_app`);
    try {
      await expect(open({}, withLogin(pg.ownerUrl, unheld, secret))).rejects.toThrow(/holds it to no tenant/);
      const findings = await runStaticRules(owner, 'palisade_app');
      expect(findings.map((f) => `${f.ruleId} ${f.object}`)).toContain(`pinned-role-unheld ${unheld}`);
    } finally {
      await owner.unsafe(`drop role if exists ${unheld}`);
    }
  });

  it("serves its tenant and refuses another's key; its batched audit and usage writes land", async () => {
    const server = await startServer(pinned, { servedTenant: { id: a.tenant.id, slug: a.tenant.slug, databaseRole: role } });
    try {
      const page = await server.client(a.tenant.apiKey).orders.list.query({});
      expect(page.items.map((o) => o.id).sort()).toEqual([...a.orderIds].sort());
      const query = await fetch(`${server.url}/v1/query?dataset=orders&metrics=order_count`, { headers: { authorization: `Bearer ${a.tenant.apiKey}` } });
      expect(query.status).toBe(200);
      expect(await trpcError(server.client(b.tenant.apiKey).orders.list.query({}))).toMatchObject({ httpStatus: 403, reason: 'TENANT_NOT_SERVED_HERE' });
    } finally {
      // Flushes the audit events, usage and last use as the pinned role.
      await server.close();
    }
    const written = await owner.begin(async (tx) => {
      await tx`select set_tenant(${a.tenant.id}::uuid)`;
      const [audit] = await tx<{ n: number }[]>`select count(*)::int as n from audit_events where action = 'dataset.query'`;
      const [usage] = await tx<{ n: number }[]>`select coalesce(sum(requests), 0)::int as n from usage_daily`;
      return { audit: audit!.n, usage: usage!.n };
    });
    expect(written.audit).toBeGreaterThan(0);
    expect(written.usage).toBeGreaterThan(0);
  });
});
