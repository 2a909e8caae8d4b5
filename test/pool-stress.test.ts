/**
 * Thousands of interleaved requests for many tenants over a pool of two connections: every
 * returned row must belong to the tenant that asked. Guards against connection-reuse bugs (a
 * setting surviving on a pooled connection, or a driver running one request's statements inside
 * another's transaction), including when some requests fail half-way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { sql } from 'drizzle-orm';
import { withTenant } from '../db/tenant-tx.js';
import { TenantBulkhead } from '../src/platform/bulkhead/tenant-bulkhead.js';
import { appPool, appReader, makeTenantWithOrders, ownerPool, startServer, type Fixture, type TestReader, type TestServer } from './harness.js';

const TENANTS = 12;
let owner: Sql;
let app: Sql;
let reader: TestReader;
let fixtures: Fixture[];

beforeAll(async () => {
  owner = ownerPool(4);
  app = appPool(2);
  reader = appReader(2);
  fixtures = await Promise.all(Array.from({ length: TENANTS }, (_, i) => makeTenantWithOrders(owner, 1 + i * 3, `T${i}`)));
});
afterAll(async () => {
  await Promise.all([owner.end(), app.end(), reader.end()]);
});

async function inBatches(total: number, concurrency: number, job: (i: number) => Promise<void>) {
  for (let start = 0; start < total; start += concurrency) {
    await Promise.all(Array.from({ length: Math.min(concurrency, total - start) }, (_, k) => job(start + k)));
  }
}

// Thousands of round trips: on Citus, on a loaded 2-core machine, one test took 30 s.
describe('pool stress', { timeout: 120_000 }, () => {
  it('runner: 3000 interleaved transactions on 2 connections never cross tenants', async () => {
    let checked = 0;
    await inBatches(3000, 60, async (i) => {
      const f = fixtures[(i * 7) % TENANTS]!;
      if (i % 10 === 3) {
        // A failure mid-transaction must not leave anything behind for the next user.
        await expect(
          withTenant(app, f.tenant.id, async (tx) => {
            await tx.$client`select tenant_id from orders`;
            await tx.$client`select 1/0`;
          }),
        ).rejects.toMatchObject({ code: '22012' });
        return;
      }
      const rows = await withTenant(app, f.tenant.id, async (tx) => {
        const first = await tx.$client<{ tenant_id: string }[]>`select tenant_id from orders`;
        const setting = await tx.$client<{ v: string }[]>`select current_setting('app.tenant_id') as v`;
        return [...first, { tenant_id: setting[0]!.v }];
      });
      expect(rows).toHaveLength(f.orderIds.length + 1);
      for (const row of rows) expect(row.tenant_id).toBe(f.tenant.id);
      checked++;
    });
    expect(checked).toBe(2700);
    // Between transactions the pooled connections carry no tenant.
    expect(await app`select tenant_id from orders`).toHaveLength(0);
  });

  it('one-message reads (pipelined on 2 connections of their own) mixed with transactions (2 more): 3000 never cross tenants', async () => {
    let checked = 0;
    await inBatches(3000, 60, async (i) => {
      const f = fixtures[(i * 7) % TENANTS]!;
      if (i % 10 === 3) {
        await expect(reader.read(f.tenant.id, (db) => db.execute(sql`select 1/0`))).rejects.toMatchObject({ cause: { code: '22012' } });
        return;
      }
      const rows =
        i % 2 === 0
          ? await reader.read(f.tenant.id, (db) => db.execute<{ tenant_id: string; v: string }>(sql`select tenant_id, current_setting('app.tenant_id') as v from orders`))
          : await withTenant(app, f.tenant.id, (tx) => tx.$client<{ tenant_id: string; v: string }[]>`select tenant_id, current_setting('app.tenant_id') as v from orders`);
      expect(rows).toHaveLength(f.orderIds.length);
      for (const row of rows) expect([row.tenant_id, row.v]).toEqual([f.tenant.id, f.tenant.id]);
      checked++;
    });
    expect(checked).toBe(2700);
    expect(await app`select tenant_id from orders`).toHaveLength(0);
  });

  it('HTTP: 1500 interleaved requests through auth, tRPC and RLS never cross tenants', async () => {
    // The subject is crossing, not fairness: a bulkhead (2 permits per tenant by default) could turn
    // a slow moment (Citus fans every read out; a busy CI machine) into 503 TENANT_BUSY here.
    const server: TestServer = await startServer(app, { deps: { bulkhead: new TenantBulkhead({ maxConcurrent: 40, waitMs: 0 }) } });
    try {
      const clients = fixtures.map((f) => ({ f, client: server.client(f.tenant.apiKey) }));
      await inBatches(1500, 40, async (i) => {
        const { f, client } = clients[(i * 5) % TENANTS]!;
        const page = await client.orders.list.query({ limit: 500 });
        expect(page.items).toHaveLength(f.orderIds.length);
        for (const item of page.items) expect(item.tenantId).toBe(f.tenant.id);
      });
    } finally {
      await server.close();
    }
  });
});

