/**
 * Selects compiled once (db/compiled-select.ts): the text is Drizzle's with the read's tenant bound
 * in the WHERE clause (RLS still guards), rows decode exactly as a Drizzle select decodes them, and each run sees only
 * its own tenant's rows, even when runs of different tenants share one connection.
 */
import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { compiledSelect } from '../db/compiled-select.js';
import { customers, orders } from '../db/schema/index.js';
import type { TenantReader } from '../db/tenant-read.js';
import { withTenant } from '../db/tenant-tx.js';
import { useReaderFixture, type Fixture } from './harness.js';

const orderById = compiledSelect(orders, eq(orders.id, sql.placeholder('id')));
const customerById = compiledSelect(customers, eq(customers.id, sql.placeholder('id')));

let app: Sql;
let reader: TenantReader;
let a: Fixture;
let b: Fixture;
useReaderFixture(2, 2, (fixture) => ({ app, reader, a, b } = fixture));

describe('compiledSelect', () => {
  it('is Drizzle’s statement, naming the tenant as a bound parameter', () => {
    expect(orderById.text).toMatch(/^select "tenant_id", "id", .* from "orders" where \("orders"\."tenant_id" = \$1 and "orders"\."id" = \$2\)$/);
  });

  it('decodes rows exactly as a Drizzle select does', async () => {
    const [viaDrizzle] = await withTenant(app, a.tenant.id, (tx) => tx.select().from(orders).where(eq(orders.id, a.orderIds[0]!)));
    const [compiled] = await orderById.run(reader, a.tenant.id, { id: a.orderIds[0] });
    expect(compiled).toEqual(viaDrizzle);
    expect(compiled!.createdAt).toBeInstanceOf(Date);
    const [customer] = await customerById.run(reader, a.tenant.id, { id: a.customerId });
    expect(customer).toEqual((await withTenant(app, a.tenant.id, (tx) => tx.select().from(customers).where(eq(customers.id, a.customerId))))[0]);
  });

  it('sees only its tenant’s rows, with runs of two tenants pipelined on one connection', async () => {
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const [own, other] = i % 2 ? [a, b] : [b, a];
        return Promise.all([orderById.run(reader, own.tenant.id, { id: own.orderIds[0] }), orderById.run(reader, own.tenant.id, { id: other.orderIds[0] })]);
      }),
    );
    runs.forEach(([own, other], i) => {
      expect(own.map((r) => r.tenantId)).toEqual([(i % 2 ? a : b).tenant.id]);
      expect(other).toEqual([]);
    });
  });

  it('refuses a tenant id that is not a uuid before sending anything', async () => {
    await expect(orderById.run(reader, `${a.tenant.id}' or true --`, { id: a.orderIds[0] })).rejects.toThrow(/uuid/);
  });

  it('a value that is not a uuid is a database error, not a wider read', async () => {
    await expect(orderById.run(reader, a.tenant.id, { id: "x' or true --" })).rejects.toMatchObject({ code: '22P02' });
  });
});

