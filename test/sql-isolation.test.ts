/**
 * The cross-tenant matrix at SQL level, as the app role: for every tenant table and every
 * operation, tenant A's context cannot touch tenant B's rows, and no context sees and writes
 * nothing, on a fresh and on a reused pooled connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type postgres from 'postgres';
import type { Sql } from '../db/client.js';
import { withTenant } from '../db/tenant-tx.js';
import { generateTenantKey } from '../src/lib/api-key.js';
import { appPool, makeTenantWithOrders, ownerPool, pg, type Fixture } from './harness.js';

type Tx = postgres.TransactionSql;
interface TableSpec {
  table: string;
  /** A column the update probe rewrites to itself. */
  touch: string;
  /** Row values for an insert probe into the given fixture's tenant. */
  values(f: Fixture & { userId: string }): Record<string, string>;
  /** One row id of the fixture in this table. */
  rowId(f: Fixture, sql: Sql): Promise<string>;
  /** The app role may only SELECT and INSERT (audit_events): UPDATE and DELETE are refused outright. */
  appendOnly?: boolean;
}

const firstId = (table: string) => async (f: Fixture, owner: Sql) =>
  withTenant(owner, f.tenant.id, async (tx) => {
    const [row] = await tx.$client<{ id: string }[]>`select id from ${tx.$client(table)} limit 1`;
    return row!.id;
  });

const TABLES: TableSpec[] = [
  {
    table: 'customers',
    touch: 'name',
    values: () => ({ name: 'probe', email: `probe-${Math.random()}@x.example` }),
    rowId: async (f) => f.customerId,
  },
  {
    table: 'orders',
    touch: 'region',
    values: (f) => ({ customer_id: f.customerId, region: 'probe', amount: '1.00', order_date: '2026-02-01' }),
    rowId: async (f) => f.orderIds[0]!,
  },
  {
    table: 'api_keys',
    touch: 'name',
    values: (f) => {
      const key = generateTenantKey(f.tenant.slug);
      return { name: 'probe', key_hash: key.hash, key_start: key.start };
    },
    rowId: firstId('api_keys'),
  },
  {
    table: 'users',
    touch: 'name',
    values: () => ({ email: `probe-${Math.random()}@x.example`, name: 'probe', role: 'viewer', password_hash: 'x' }),
    rowId: firstId('users'),
  },
  {
    table: 'sessions',
    touch: 'expires_at',
    values: (f) => ({ user_id: f.userId, token_hash: `probe-${Math.random()}`, expires_at: '2099-01-01T00:00:00Z' }),
    rowId: firstId('sessions'),
  },
  {
    table: 'audit_events',
    touch: 'action',
    values: () => ({ action: 'probe.insert', actor_type: 'system' }),
    rowId: firstId('audit_events'),
    appendOnly: true,
  },
  {
    table: 'usage_daily',
    touch: 'requests',
    // Not the fixture's day: (tenant_id, day) is unique.
    values: () => ({ day: '2030-06-15', last_active: '2030-06-15T00:00:00Z' }),
    rowId: firstId('usage_daily'),
  },
];

/** makeTenantWithOrders plus an owner user with one session and a usage day: every tenant table has a row. */
async function fullTenant(name: string): Promise<Fixture & { userId: string }> {
  const f = await makeTenantWithOrders(owner, 3, name, { withOwner: true });
  const userId = f.tenant.owner!.userId;
  await withTenant(owner, f.tenant.id, async (tx) => {
    await tx.$client`insert into sessions (user_id, token_hash, expires_at) values (${userId}, ${`fixture-${f.tenant.id}`}, now() + interval '1 hour')`;
    await tx.$client`insert into usage_daily (day, requests, last_active) values ('2026-01-01', 1, '2026-01-01T00:00:00Z')`;
  });
  return { ...f, userId };
}

let owner: Sql;
let app: Sql;
let a: Fixture & { userId: string };
let b: Fixture & { userId: string };

beforeAll(async () => {
  owner = ownerPool();
  app = appPool(2);
  [a, b] = await Promise.all([fullTenant('A'), fullTenant('B')]);
});
afterAll(async () => {
  await Promise.all([owner.end(), app.end()]);
});

/**
 * A transaction on the app pool with A's context, set the same way the runner does: set_tenant,
 * which on Citus is the SET LOCAL the workers receive (a bare set_config never reaches them).
 */
function asTenant<T>(tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return app.begin(async (tx) => {
    await tx`select public.set_tenant(${tenantId})`;
    return fn(tx);
  }) as Promise<T>;
}

/**
 * A refusal: 42501 (the policy's WITH CHECK) on Postgres. Citus refuses some writes before the
 * policy is asked, with its own codes: 0A000 for changing a row's distribution column (moving a
 * row to another tenant), 22004 for a row without one. Still refusals; nothing else passes.
 */
function expectRefused(code: string | undefined, onCitus: '0A000' | '22004' | undefined = undefined): void {
  expect(pg.engine === 'citus' && onCitus ? [onCitus, '42501'] : ['42501']).toContain(code);
}

async function sqlstate(run: Promise<unknown>): Promise<string | undefined> {
  try {
    await run;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe.each(TABLES)('$table', (spec) => {
  let bRowId: string;
  let aRowId: string;
  beforeAll(async () => {
    bRowId = await spec.rowId(b, owner);
    aRowId = await spec.rowId(a, owner);
  });

  it("A's context sees only A's rows, never B's", async () => {
    const rows = await asTenant(a.tenant.id, (tx) => tx<{ tenant_id: string; id: string }[]>`select tenant_id, id from ${tx(spec.table)}`);
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows.map((r) => r.tenant_id))).toEqual(new Set([a.tenant.id]));
    expect(rows.map((r) => r.id)).not.toContain(bRowId);
  });

  it("A's context updates and deletes none of B's rows", async () => {
    const update = () =>
      asTenant(a.tenant.id, (tx) => tx`update ${tx(spec.table)} set ${tx(spec.touch)} = ${tx(spec.touch)} where id = ${bRowId}`);
    const remove = () => asTenant(a.tenant.id, (tx) => tx`delete from ${tx(spec.table)} where id = ${bRowId}`);
    if (spec.appendOnly) {
      expect(await sqlstate(update())).toBe('42501');
      expect(await sqlstate(remove())).toBe('42501');
    } else {
      expect((await update()).count).toBe(0);
      expect((await remove()).count).toBe(0);
    }
    const stillThere = await withTenant(owner, b.tenant.id, (tx) =>
      tx.$client`select count(*)::int as n from ${tx.$client(spec.table)} where id = ${bRowId}`,
    );
    expect(stillThere[0]).toEqual({ n: 1 });
  });

  it("A's context cannot insert into B or move its own row to B (42501)", async () => {
    const values = { ...spec.values(b), tenant_id: b.tenant.id };
    expectRefused(await sqlstate(asTenant(a.tenant.id, (tx) => tx`insert into ${tx(spec.table)} ${tx(values)}`)));
    // (append-only tables refuse the UPDATE itself: also 42501)
    expectRefused(
      await sqlstate(asTenant(a.tenant.id, (tx) => tx`update ${tx(spec.table)} set tenant_id = ${b.tenant.id} where id = ${aRowId}`)),
      '0A000',
    );
  });

  it("A's context can write its own rows (the probes above can fail for the right reason only)", async () => {
    const inserted = await sqlstate(
      app.begin(async (tx) => {
        await tx`select public.set_tenant(${a.tenant.id})`;
        await tx`insert into ${tx(spec.table)} ${tx(spec.values(a))}`;
        throw Object.assign(new Error('rollback'), { code: 'ROLLBACK' });
      }),
    );
    expect(inserted).toBe('ROLLBACK');
  });

  it('no context on a fresh connection: sees nothing, writes nothing', async () => {
    const fresh = appPool(1);
    try {
      const [setting] = await fresh<{ v: string | null }[]>`select current_setting('app.tenant_id', true) as v`;
      expect(setting?.v ?? null).toBeNull();
      expect(await fresh`select id from ${fresh(spec.table)}`).toHaveLength(0);
      expect(await sqlstate(fresh`insert into ${fresh(spec.table)} ${fresh({ ...spec.values(a), tenant_id: a.tenant.id })}`)).toBe('42501');
      expectRefused(await sqlstate(fresh`insert into ${fresh(spec.table)} ${fresh(spec.values(a))}`), '22004'); // tenant_id defaults to NULL here
      if (!spec.appendOnly) {
        expect((await fresh`update ${fresh(spec.table)} set ${fresh(spec.touch)} = ${fresh(spec.touch)}`).count).toBe(0);
        expect((await fresh`delete from ${fresh(spec.table)}`).count).toBe(0);
      }
    } finally {
      await fresh.end();
    }
  });

  it('no context on a reused connection: the previous tenant is gone, and nothing errors', async () => {
    const reused = appPool(1);
    try {
      const seen = await withTenant(reused, a.tenant.id, (tx) => tx.$client`select id from ${tx.$client(spec.table)}`);
      expect(seen.length).toBeGreaterThan(0);
      const [setting] = await reused<{ v: string; pid: number }[]>`select current_setting('app.tenant_id', true) as v`;
      expect(setting?.v).toBe(''); // '' not NULL: why the policy needs nullif
      expect(await reused`select id from ${reused(spec.table)}`).toHaveLength(0);
      expect(await sqlstate(reused`insert into ${reused(spec.table)} ${reused({ ...spec.values(a), tenant_id: a.tenant.id })}`)).toBe('42501');
      if (!spec.appendOnly) expect((await reused`delete from ${reused(spec.table)}`).count).toBe(0);
    } finally {
      await reused.end();
    }
  });
});
