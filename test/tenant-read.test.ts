/**
 * The one-flight tenant read (db/tenant-read.ts, a `sql.batch` of the setting and the statement):
 * scoped like withTenant, gone after the Sync on the same connection, fail-closed on errors, one
 * statement only, values bound (never inlined), statements prepared once per connection (and
 * again after a reconnect), and never crossing tenants when many reads pipeline on one connection.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../db/client.js';
import { customers, orders } from '../db/schema/index.js';
import { SingleStatementError, type TenantReader } from '../db/tenant-read.js';
import { withTenant } from '../db/tenant-tx.js';
import { appReader, pg, useReaderFixture, type Fixture } from './harness.js';

let app: Sql;
let reader: TenantReader;
let a: Fixture;
let b: Fixture;
useReaderFixture(2, 3, (fixture) => ({ app, reader, a, b } = fixture));

/** What the reader's (only) connection holds, read through the reader itself. */
async function session(r: TenantReader, tenantId: string) {
  const [row] = await r.read(tenantId, (db) =>
    db.execute<{ pid: number; prepared: number; tenant: string; timeout: string }>(
      sql`select pg_backend_pid() as pid, (select count(*)::int from pg_prepared_statements) as prepared, current_setting('app.tenant_id') as tenant, current_setting('statement_timeout') as timeout`,
    ),
  );
  return row!;
}

describe('TenantReader', () => {
  it('reads the tenant’s rows only', async () => {
    const rows = await reader.read(a.tenant.id, (db) => db.select().from(orders));
    expect(rows.map((r) => r.tenantId)).toEqual([a.tenant.id, a.tenant.id]);
    expect(rows[0]!.createdAt).toBeInstanceOf(Date);
    expect(await app`select 1 from orders`).toHaveLength(0);
  });

  it('binds the setting and the statement timeout for that message only', async () => {
    const [row] = await reader.read(a.tenant.id, (db) => db.execute<{ t: string }>(sql`select current_setting('statement_timeout') as t`), { statementTimeoutMs: 1234 });
    expect(row!.t).toBe('1234ms');
    const next = await session(reader, b.tenant.id);
    expect(next.tenant).toBe(b.tenant.id);
    expect(next.timeout).not.toBe('1234ms');
  });

  it('fails closed: an error ends the message, the next one starts clean', async () => {
    await expect(reader.read(a.tenant.id, (db) => db.execute(sql`select 1/0`))).rejects.toMatchObject({ cause: { code: '22012' } });
    await expect(reader.read(a.tenant.id, (db) => db.execute(sql`select 1/0`))).rejects.toMatchObject({ cause: { code: '22012' } });
    expect(await reader.read(b.tenant.id, (db) => db.select().from(orders))).toHaveLength(3);
  });

  it('refuses a second statement, an unscoped $client call, use outside read, and a bad tenant id', async () => {
    await expect(
      reader.read(a.tenant.id, async (db) => {
        await db.select().from(orders);
        return db.select().from(customers);
      }),
    ).rejects.toMatchObject({ cause: expect.any(SingleStatementError) });
    await expect(reader.read(a.tenant.id, async (db) => db.$client`select 1`)).rejects.toThrow(/Drizzle handle/);
    let leaked: Parameters<Parameters<TenantReader['read']>[1]>[0] | undefined;
    await reader.read(a.tenant.id, async (db) => {
      leaked = db;
      return db.select().from(orders);
    });
    await expect(async () => leaked!.select().from(orders)).rejects.toMatchObject({ cause: { message: expect.stringMatching(/only works inside/) } });
    await expect(reader.read(`${a.tenant.id}'; select 1; --`, (db) => db.select().from(orders))).rejects.toThrow(/uuid/);
  });

  it('binds values, which cannot escape into the statement', async () => {
    const hostile = `x' or '1'='1\\'; select * from orders; --`;
    // Typed by the server from the statement (postgres.js 4): `${42}` from `+ 1`, the boolean by its cast.
    const rows = await reader.read(a.tenant.id, (db) => db.execute<{ v: string }>(sql`select ${hostile}::text as v, ${42} + 1 as n, ${true}::boolean as b, ${null}::text as z`));
    expect(rows[0]).toEqual({ v: hostile, n: 43, b: true, z: null });
    const again = await reader.read(a.tenant.id, (db) => db.execute<{ v: string }>(sql`select ${hostile}::text as v, ${42} + 1 as n, ${true}::boolean as b, ${null}::text as z`));
    expect(again[0]).toEqual({ v: hostile, n: 43, b: true, z: null });
    const none = await reader.read(a.tenant.id, (db) => db.select().from(orders).where(sql`${orders.region} = ${"north' or true or '"}`));
    expect(none).toHaveLength(0);
  });

  it('matches withTenant’s answer for the same statement', async () => {
    const viaRead = await reader.read(b.tenant.id, (db) => db.select().from(orders).orderBy(orders.id));
    const viaTx = await withTenant(app, b.tenant.id, (tx) => tx.select().from(orders).orderBy(orders.id));
    expect(viaRead).toEqual(viaTx);
  });

  it('prepares a statement once per connection, and again after the connection is replaced', async () => {
    const own = appReader(1);
    const su = openPool(pg.superuserUrl, { max: 1 });
    try {
      // The connection holds the setting statement too: count relative to it.
      const first = await session(own, a.tenant.id);
      expect((await session(own, a.tenant.id)).prepared).toBe(first.prepared);
      await own.read(a.tenant.id, (db) => db.select().from(orders));
      expect((await session(own, a.tenant.id)).prepared).toBe(first.prepared + 1);

      await su`select pg_terminate_backend(${first.pid})`;
      // Reads in the way of the kill fail with the connection; the next read opens a new one,
      // which holds none of the old statements, so the pool prepares them again.
      let rows: unknown[] | undefined;
      for (let attempt = 0; attempt < 4 && !rows; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 300));
        rows = await own.read(a.tenant.id, (db) => db.select().from(orders)).catch((error: unknown) => {
          expect(String((error as Error).cause ?? error)).toMatch(/terminat|closed|ended|ECONNRESET|EPIPE|connection/i);
          return undefined;
        });
      }
      expect(rows).toHaveLength(2);
      const after = await session(own, a.tenant.id);
      expect(after.pid).not.toBe(first.pid);
      expect(after.tenant).toBe(a.tenant.id);
    } finally {
      await Promise.all([own.end(), su.end()]);
    }
  });

  it('never crosses tenants when reads for many tenants pipeline on one connection', async () => {
    const fixtures = [a, b];
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) => {
        const f = fixtures[i % 2]!;
        if (i % 9 === 4) return reader.read(f.tenant.id, (db) => db.execute(sql`select 1/0`)).then(() => 'no error', () => 'error');
        return reader.read(f.tenant.id, (db) => db.execute<{ tenant_id: string; v: string }>(sql`select tenant_id, current_setting('app.tenant_id') as v from orders`)).then((rows) => {
          expect(rows).toHaveLength(f.orderIds.length);
          for (const row of rows) expect([row.tenant_id, row.v]).toEqual([f.tenant.id, f.tenant.id]);
          return 'ok';
        });
      }),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(400 - 44);
    expect(results.filter((r) => r === 'error')).toHaveLength(44);
  });

  it('query(): runs SQL text for the tenant only, with the timeout for that message, and refuses a bad tenant id', async () => {
    const rows = await reader.query(a.tenant.id, 'select tenant_id, amount from orders where amount >= $1 order by amount', ['0']);
    expect(rows.map((r) => r.tenant_id)).toEqual([a.tenant.id, a.tenant.id]);
    const [timeout] = await reader.query(b.tenant.id, "select current_setting('statement_timeout') as t", [], { statementTimeoutMs: 4321 });
    expect(timeout!.t).toBe('4321ms');
    await expect(reader.query(a.tenant.id, 'select pg_sleep(1)', [], { statementTimeoutMs: 50 })).rejects.toMatchObject({ code: '57014' });
    // Nothing of the last message stays on the connection.
    const next = await session(reader, b.tenant.id);
    expect([next.tenant, next.timeout]).toEqual([b.tenant.id, expect.not.stringMatching(/^(4321|50)ms$/)]);
    await expect(reader.query('not-a-uuid', 'select 1', [])).rejects.toThrow(/uuid/);
    expect(await app`select 1 from orders`).toHaveLength(0);
  });

  it('parses values alike on every connection (Drizzle’s parsers, not the driver’s defaults)', async () => {
    const wide = appReader(3);
    try {
      const seen = await Promise.all(
        Array.from({ length: 9 }, () => wide.read(a.tenant.id, (db) => db.execute<{ d: unknown; t: unknown }>(sql`select order_date as d, created_at as t from orders limit 1`))),
      );
      const types = new Set(seen.map(([row]) => `${typeof row!.d}/${typeof row!.t}`));
      expect([...types]).toEqual(['string/string']);
    } finally {
      await wide.end();
    }
  });

  it('refuses relational queries (db.query.*), which would run without the setting', async () => {
    await expect(reader.read(a.tenant.id, (db) => db.query.orders.findMany())).rejects.toMatchObject({ cause: { message: expect.stringMatching(/only works inside/) } });
  });
});
