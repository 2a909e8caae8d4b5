/**
 * The one-message tenant read (db/tenant-read.ts): scoped like withTenant, gone after the message
 * on the same pooled connection, fail-closed on errors, one statement only, values inlined safely,
 * and never crossing tenants when many reads interleave on one or two connections.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { customers, orders } from '../db/schema/index.js';
import { SingleStatementError, tenantRead } from '../db/tenant-read.js';
import { withTenant } from '../db/tenant-tx.js';
import { appPool, makeTenantWithOrders, ownerPool, type Fixture } from './harness.js';

let owner: Sql;
let app: Sql;
let a: Fixture;
let b: Fixture;

beforeAll(async () => {
  owner = ownerPool();
  app = appPool(1);
  [a, b] = await Promise.all([makeTenantWithOrders(owner, 2), makeTenantWithOrders(owner, 3)]);
});
afterAll(async () => {
  await Promise.all([owner.end(), app.end()]);
});

describe('tenantRead', () => {
  it('reads the tenant’s rows only, and leaves no setting on the connection', async () => {
    const rows = await tenantRead(app, a.tenant.id, (db) => db.select().from(orders));
    expect(rows.map((r) => r.tenantId)).toEqual([a.tenant.id, a.tenant.id]);
    expect(rows[0]!.createdAt).toBeInstanceOf(Date);
    const [after] = await app<{ v: string | null }[]>`select current_setting('app.tenant_id', true) as v`;
    expect(after?.v ?? '').toBe('');
    expect(await app`select 1 from orders`).toHaveLength(0);
  });

  it('binds the statement timeout for that message only', async () => {
    const [row] = await tenantRead(app, a.tenant.id, (db) => db.execute<{ t: string }>(sql`select current_setting('statement_timeout') as t`), { statementTimeoutMs: 1234 });
    expect(row!.t).toBe('1234ms');
    const [after] = await app<{ t: string }[]>`select current_setting('statement_timeout') as t`;
    expect(after!.t).not.toBe('1234ms');
  });

  it('fails closed: an error ends the message, the next one starts clean', async () => {
    await expect(tenantRead(app, a.tenant.id, (db) => db.execute(sql`select 1/0`))).rejects.toMatchObject({ cause: { code: '22012' } });
    expect(await app`select 1 from orders`).toHaveLength(0);
  });

  it('refuses a second statement, an unscoped $client call, and a bad tenant id', async () => {
    await expect(
      tenantRead(app, a.tenant.id, async (db) => {
        await db.select().from(orders);
        return db.select().from(customers);
      }),
    ).rejects.toMatchObject({ cause: expect.any(SingleStatementError) });
    await expect(tenantRead(app, a.tenant.id, async (db) => db.$client`select 1`)).rejects.toThrow(/Drizzle handle/);
    await expect(tenantRead(app, `${a.tenant.id}'; select 1; --`, (db) => db.select().from(orders))).rejects.toThrow(/uuid/);
  });

  it('inlines values as literals that cannot escape their quotes', async () => {
    const hostile = `x' or '1'='1\\'; select * from orders; --`;
    const rows = await tenantRead(app, a.tenant.id, (db) => db.execute<{ v: string }>(sql`select ${hostile}::text as v, ${42} + 1 as n, ${true} as b, ${null}::text as z`));
    expect(rows[0]).toEqual({ v: hostile, n: 43, b: true, z: null });
    const none = await tenantRead(app, a.tenant.id, (db) => db.select().from(orders).where(sql`${orders.region} = ${"north' or true or '"}`));
    expect(none).toHaveLength(0);
  });

  it('matches withTenant’s answer for the same statement', async () => {
    const viaRead = await tenantRead(app, b.tenant.id, (db) => db.select().from(orders).orderBy(orders.id));
    const viaTx = await withTenant(app, b.tenant.id, (tx) => tx.select().from(orders).orderBy(orders.id));
    expect(viaRead).toEqual(viaTx);
  });

  it('never crosses tenants when reads for many tenants interleave on one connection', async () => {
    const fixtures = [a, b];
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) => {
        const f = fixtures[i % 2]!;
        if (i % 9 === 4) return tenantRead(app, f.tenant.id, (db) => db.execute(sql`select 1/0`)).then(() => 'no error', () => 'error');
        return tenantRead(app, f.tenant.id, (db) => db.execute<{ tenant_id: string; v: string }>(sql`select tenant_id, current_setting('app.tenant_id') as v from orders`)).then((rows) => {
          expect(rows).toHaveLength(f.orderIds.length);
          for (const row of rows) expect([row.tenant_id, row.v]).toEqual([f.tenant.id, f.tenant.id]);
          return 'ok';
        });
      }),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(400 - 44);
    expect(results.filter((r) => r === 'error')).toHaveLength(44);
  });
});
