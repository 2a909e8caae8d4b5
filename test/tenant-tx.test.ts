/** The tenant runner itself: scoping, rollback, and what it refuses. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { customers, orders } from '../db/schema/index.js';
import { sql } from 'drizzle-orm';
import { afterCommit, TransactionEndedError, withTenant, writeEachTenant, type TenantDb } from '../db/tenant-tx.js';
import { appPool, makeTenantWithOrders, ownerPool, type Fixture } from './harness.js';

let owner: Sql;
let app: Sql;
let a: Fixture;

beforeAll(async () => {
  owner = ownerPool();
  app = appPool(1);
  a = await makeTenantWithOrders(owner, 2);
});
afterAll(async () => {
  await Promise.all([owner.end(), app.end()]);
});

const setting = async (tx: TenantDb) =>
  (await tx.$client<{ v: string }[]>`select current_setting('app.tenant_id', true) as v`)[0]?.v;

describe('withTenant', () => {
  it('sets app.tenant_id for the transaction only', async () => {
    expect(await withTenant(app, a.tenant.id, setting)).toBe(a.tenant.id);
    const [after] = await app<{ v: string | null }[]>`select current_setting('app.tenant_id', true) as v`;
    expect(after?.v ?? '').toBe('');
  });

  it('runs every statement in one transaction', async () => {
    const ids = await withTenant(app, a.tenant.id, async (tx) => {
      const one = await tx.$client<{ x: string }[]>`select txid_current()::text as x`;
      const two = await tx.$client<{ x: string }[]>`select txid_current()::text as x`;
      return [one[0]?.x, two[0]?.x];
    });
    expect(ids[0]).toBe(ids[1]);
  });

  it('rolls back everything when the callback throws, and the connection is clean after', async () => {
    const email = `rollback-${Date.now()}@x.example`;
    await expect(
      withTenant(app, a.tenant.id, async (tx) => {
        await tx.insert(customers).values({ name: 'doomed', email });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const rows = await withTenant(owner, a.tenant.id, (tx) => tx.$client`select 1 from customers where email = ${email}`);
    expect(rows).toHaveLength(0);
    expect(await app`select 1 from customers`).toHaveLength(0);
  });

  it('surfaces a failing statement as an error and still releases the connection', async () => {
    await expect(withTenant(app, a.tenant.id, (tx) => tx.$client`select 1/0`)).rejects.toMatchObject({ code: '22012' });
    expect(await withTenant(app, a.tenant.id, setting)).toBe(a.tenant.id);
  });

  it('refuses a tenant id that is not a uuid, before touching the database', async () => {
    await expect(withTenant(app, "x' or true --", setting)).rejects.toThrow(TypeError);
  });

  it('refuses queries after the transaction has ended', async () => {
    let leaked: TenantDb | undefined;
    await withTenant(app, a.tenant.id, async (tx) => {
      leaked = tx;
    });
    const error = await leaked!.select().from(customers).catch((e: unknown) => e);
    expect((error as { cause?: unknown }).cause).toBeInstanceOf(TransactionEndedError);
  });

  it('refuses nested transactions', async () => {
    await expect(withTenant(app, a.tenant.id, (tx) => tx.transaction(async () => 1))).rejects.toThrow(/nested/);
  });

  it('gives each transaction its own handle: interleaved transactions of two tenants see their own rows, a leaked raw $client refuses too', async () => {
    const b = await makeTenantWithOrders(owner, 3);
    const wide = appPool(2);
    try {
      // Two transactions open at once, their statements interleaved on two connections.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const first = withTenant(wide, a.tenant.id, async (tx) => {
        await gate;
        return tx.select().from(orders);
      });
      const second = withTenant(wide, b.tenant.id, async (tx) => {
        const rows = await tx.select().from(orders);
        release();
        return rows;
      });
      const [rowsA, rowsB] = await Promise.all([first, second]);
      expect(new Set(rowsA.map((r) => r.tenantId))).toEqual(new Set([a.tenant.id]));
      expect(new Set(rowsB.map((r) => r.tenantId))).toEqual(new Set([b.tenant.id]));
    } finally {
      await wide.end();
    }
    let leaked: TenantDb | undefined;
    await withTenant(app, a.tenant.id, async (tx) => {
      leaked = tx;
    });
    expect(() => leaked!.$client`select 1`).toThrow(TransactionEndedError);
  });

  it('refuses relational queries (db.query.*), which would bypass the transaction’s connection', async () => {
    await expect(withTenant(app, a.tenant.id, (tx) => tx.query.orders.findMany())).rejects.toMatchObject({ cause: expect.any(TransactionEndedError) });
  });
});

describe('writeEachTenant', () => {
  const insertCustomer = (email: string) => sql`insert into ${customers} (name, email) values ('batched', ${email})`;
  const emailsOf = (tenantId: string) =>
    withTenant(owner, tenantId, async (tx) => (await tx.select({ email: customers.email }).from(customers)).map((r) => r.email).filter((e) => e.startsWith('batch-')).sort());

  it('writes each tenant’s statements under that tenant’s setting, in one transaction, and leaves the connection clean', async () => {
    const b = await makeTenantWithOrders(owner, 1);
    const tag = Math.random().toString(36).slice(2, 8);
    await writeEachTenant(
      app,
      new Map([
        [a.tenant.id, [insertCustomer(`batch-a1-${tag}@x.example`), insertCustomer(`batch-a2-${tag}@x.example`)]],
        [b.tenant.id, [insertCustomer(`batch-b1-${tag}@x.example`)]],
      ]),
      { synchronousCommit: false },
    );
    expect((await emailsOf(a.tenant.id)).filter((e) => e.includes(tag))).toEqual([`batch-a1-${tag}@x.example`, `batch-a2-${tag}@x.example`]);
    expect((await emailsOf(b.tenant.id)).filter((e) => e.includes(tag))).toEqual([`batch-b1-${tag}@x.example`]);
    // The pool's only connection: no tenant setting survives, so tenant tables show nothing.
    const [after] = await app<{ v: string | null; n: string }[]>`select current_setting('app.tenant_id', true) as v, (select count(*) from customers)::text as n`;
    expect([after?.v ?? '', after?.n]).toEqual(['', '0']);
  });

  it('refuses a row for another tenant (WITH CHECK) and then writes nothing for anyone', async () => {
    const b = await makeTenantWithOrders(owner, 1);
    const tag = Math.random().toString(36).slice(2, 8);
    const smuggled = sql`insert into ${customers} (tenant_id, name, email) values (${b.tenant.id}, 'smuggled', ${`batch-s-${tag}@x.example`})`;
    await expect(
      writeEachTenant(
        app,
        new Map([
          [b.tenant.id, [insertCustomer(`batch-b-${tag}@x.example`)]],
          [a.tenant.id, [smuggled]],
        ]),
      ),
    ).rejects.toMatchObject({ code: '42501' });
    expect((await emailsOf(a.tenant.id)).filter((e) => e.includes(tag))).toEqual([]);
    expect((await emailsOf(b.tenant.id)).filter((e) => e.includes(tag))).toEqual([]);
  });

  it('sends json parameters as Drizzle does, on a pool no tenant transaction has used yet', async () => {
    const fresh = appPool(1);
    try {
      const rows = JSON.stringify([{ name: 'json', email: `batch-json-${Math.random().toString(36).slice(2, 8)}@x.example` }]);
      await writeEachTenant(fresh, new Map([[a.tenant.id, [sql`insert into ${customers} (name, email) select name, email from jsonb_to_recordset(${rows}::jsonb) as r(name text, email text)`]]]));
      expect((await emailsOf(a.tenant.id)).some((e) => e.startsWith('batch-json-'))).toBe(true);
    } finally {
      await fresh.end();
    }
  });

  it('refuses a tenant id that is not a uuid, before touching the database', async () => {
    await expect(writeEachTenant(app, new Map([['nope', [insertCustomer('batch-x@x.example')]]]))).rejects.toThrow(/uuid/);
  });
});

describe('set_tenant(uuid), the one setter', () => {
  it('as the app role: scopes its transaction only, and NULL or no call leaves no tenant', async () => {
    const [scoped] = await app.begin(async (tx) => {
      await tx`select public.set_tenant(${a.tenant.id})`;
      return tx<{ v: string; n: number }[]>`select current_setting('app.tenant_id') as v, (select count(*)::int from orders) as n`;
    });
    expect(scoped).toEqual({ v: a.tenant.id, n: 2 });
    const [after] = await app<{ v: string | null }[]>`select current_setting('app.tenant_id', true) as v`;
    expect(after?.v ?? '').toBe('');
    const [none] = await app.begin(async (tx) => {
      await tx`select public.set_tenant(${null})`;
      return tx<{ n: number }[]>`select count(*)::int as n from orders`;
    });
    expect(none!.n).toBe(0);
    await expect(app`select public.set_tenant(${'not-a-uuid'})`).rejects.toMatchObject({ code: '22P02' });
  });

  it('grants nothing: SECURITY INVOKER, search_path fixed, not executable by PUBLIC', async () => {
    const [fn] = await owner<{ definer: boolean; config: string[]; public_exec: boolean; app_exec: boolean }[]>`
      select p.prosecdef as definer, p.proconfig as config, has_function_privilege('public', p.oid, 'EXECUTE') as public_exec,
        has_function_privilege('palisade_app', p.oid, 'EXECUTE') as app_exec
      from pg_proc p where p.oid = 'public.set_tenant(uuid)'::regprocedure`;
    expect(fn).toEqual({ definer: false, config: ['search_path=""'], public_exec: false, app_exec: true });
  });
});

describe('afterCommit', () => {
  it('runs hooks once the change is visible to other connections, in order, and never after a rollback', async () => {
    const seen: string[] = [];
    const email = `hook-${Date.now()}@fixture.example`;
    await withTenant(app, a.tenant.id, async (tx) => {
      await tx.insert(customers).values({ name: 'Hooked', email });
      afterCommit(tx, async () => {
        // Another connection already sees the row: the hook ran after COMMIT.
        const rows = await withTenant(owner, a.tenant.id, (other) => other.select().from(customers).where(sql`email = ${email}`));
        seen.push(`first:${rows.length}`);
      });
      afterCommit(tx, () => void seen.push('second'));
      seen.push('body');
    });
    expect(seen).toEqual(['body', 'first:1', 'second']);

    const rolledBack: string[] = [];
    await expect(
      withTenant(app, a.tenant.id, async (tx) => {
        afterCommit(tx, () => void rolledBack.push('ran'));
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(rolledBack).toEqual([]);
  });

  it('refuses a handle whose transaction has ended', async () => {
    let kept: TenantDb | undefined;
    await withTenant(app, a.tenant.id, async (tx) => {
      kept = tx;
    });
    expect(() => afterCommit(kept!, () => undefined)).toThrow(TransactionEndedError);
  });
});
