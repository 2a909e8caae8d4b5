/** The tenant runner itself: scoping, rollback, and what it refuses. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { customers, orders } from '../db/schema/index.js';
import { TransactionEndedError, withTenant, type TenantDb } from '../db/tenant-tx.js';
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
