/**
 * The reader's own wire-protocol path (db/pg-wire.ts): one flight is Bind/Execute of the setting
 * and of the statement before one Sync, so it must (1) hold the setting for that statement only,
 * (2) answer each pipelined flight with its own rows even when others fail, (3) decode values as
 * the postgres.js pool does, (4) log in as the pool does, (5) refuse to keep a connection that a
 * statement left inside a transaction, and (6) fall back to an inlined statement when Postgres
 * cannot prepare one untyped.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../db/client.js';
import { sync, WireConnection, Writer } from '../db/pg-wire.js';
import { TenantReader } from '../db/tenant-read.js';
import { withTenant } from '../db/tenant-tx.js';
import { appReader, pg, useReaderFixture, type Fixture } from './harness.js';

let app: Sql;
let reader: TenantReader;
let a: Fixture;
let b: Fixture;
useReaderFixture(2, 3, (fixture) => ({ app, reader, a, b } = fixture));

const pid = async (r: TenantReader, tenantId: string) => (await r.query(tenantId, 'select pg_backend_pid() as pid', []))[0]!.pid as number;

describe('tenant reader on the wire protocol', () => {
  it('sets the tenant for the statement of its flight only, and ends the transaction at its Sync', async () => {
    const [inFlight] = await reader.query(a.tenant.id, "select current_setting('app.tenant_id') as t, now() as started", []);
    expect(inFlight!.t).toBe(a.tenant.id);
    // A flight whose statement fails ends at its Sync too; the next one starts a new transaction.
    await expect(reader.query(a.tenant.id, 'select 1/0', [])).rejects.toMatchObject({ code: '22012' });
    const [next] = await reader.query(b.tenant.id, "select current_setting('app.tenant_id') as t, now() as started", []);
    expect(next!.t).toBe(b.tenant.id);
    expect(next!.started).not.toEqual(inFlight!.started);
  });

  it('answers every pipelined flight with its own rows, whichever flights around it fail', async () => {
    const statements = ['select tenant_id from orders', 'select 1/0 as x', 'select tenant_id from orders where amount >= $1', 'select * from no_such_table'];
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const f = i % 3 === 0 ? a : b;
        const text = statements[i % statements.length]!;
        return reader.query(f.tenant.id, text, text.includes('$1') ? ['0'] : []).then(
          (rows) => ({ tenant: f.tenant.id, text, rows }),
          (error: { code?: string }) => ({ tenant: f.tenant.id, text, code: error.code }),
        );
      }),
    );
    for (const r of results) {
      if (r.text.includes('1/0')) expect(r).toMatchObject({ code: '22012' });
      else if (r.text.includes('no_such_table')) expect(r).toMatchObject({ code: '42P01' });
      else {
        expect('rows' in r && r.rows.length).toBe(r.tenant === a.tenant.id ? 2 : 3);
        for (const row of 'rows' in r ? r.rows : []) expect(row.tenant_id).toBe(r.tenant);
      }
    }
  });

  it('decodes every type as withTenant (Drizzle over postgres.js) does', async () => {
    const wide = sql`select 1::int2 as i2, 2::int4 as i4, 3::int8 as i8, 1.5::numeric as num, 2.5::float8 as f8, true as yes, null::text as nothing,
      'é ☃'::text as txt, '{"a":[1,2]}'::jsonb as jb, '[1]'::json as js, '2024-02-29'::date as d, '2024-02-29 12:34:56.789+00'::timestamptz as ts,
      '2024-02-29 12:34:56'::timestamp as tsl, gen_random_uuid() is not null as has_uuid, '\\x00ff'::bytea as bin,
      array[1,2,3]::int4[] as ints, array['a,b', 'c"d', '']::text[] as texts, '{}'::int8[] as empty`;
    const [viaReader] = await reader.read(a.tenant.id, (db) => db.execute(wide));
    const [viaTx] = await withTenant(app, a.tenant.id, (tx) => tx.execute(wide));
    expect(viaReader).toEqual(viaTx);
    expect(viaReader).toMatchObject({ i4: 2, i8: '3', yes: true, nothing: null, jb: { a: [1, 2] }, ints: [1, 2, 3], texts: ['a,b', 'c"d', ''] });
  });

  it('binds parameters as the pool does: types declared as postgres.js declares them, NUL refused before sending', async () => {
    const at = new Date('2024-01-02T03:04:05.678Z');
    const [row] = await reader.query(a.tenant.id, 'select $1::text as s, $2 + 1 as n, $3 as b, $4 as t, $5::int8 * 2 as big', ["it's \\ fine", 41, false, at, 2n ** 40n]);
    expect(row).toMatchObject({ s: "it's \\ fine", n: 42, b: false, big: String(2n ** 41n) });
    expect(new Date(row!.t as string).toISOString()).toBe(at.toISOString());
    await expect(reader.query(a.tenant.id, 'select $1::text as s', ['a\0b'])).rejects.toThrow(/NUL/);
    await expect(reader.query(a.tenant.id, 'select $1 as s', [{ not: 'a value' }])).rejects.toThrow(/not supported/);
  });

  it('runs a statement Postgres cannot prepare untyped with its parameters inlined, again and again', async () => {
    for (let i = 0; i < 2; i++) {
      const [row] = await reader.query(a.tenant.id, 'select $1 is null as missing, current_setting($2) as t', [null, 'app.tenant_id']);
      expect(row).toEqual({ missing: true, t: a.tenant.id });
    }
  });

  it('closes a connection a statement left inside a transaction, so no setting outlives its flight', async () => {
    const own = appReader(1);
    try {
      const before = await pid(own, a.tenant.id);
      await expect(own.query(a.tenant.id, 'begin', [])).rejects.toThrow(/inside a transaction/);
      // The next read runs on a new connection, in a new transaction, with its own tenant.
      const [after] = await own.query(b.tenant.id, "select pg_backend_pid() as pid, current_setting('app.tenant_id') as t, (select count(*)::int from orders) as n", []);
      expect(after).toMatchObject({ t: b.tenant.id, n: 3 });
      expect(after!.pid).not.toBe(before);
    } finally {
      await own.end();
    }
  });

  it('logs in as the pool does, and a wrong password fails the same way', async () => {
    const wrong = new URL(pg.appUrl);
    wrong.password = 'not-the-password';
    const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (error: { code?: string }) => error.code ?? String(error));
    const pool = openPool(wrong.toString(), { max: 1 });
    const right = new WireConnection(pg.appUrl, { applicationName: 'palisade-test-wire' });
    const bad = new WireConnection(wrong.toString(), { applicationName: 'palisade-test-wire' });
    try {
      expect(await outcome(right.request(sync(new Writer()).bytes(), () => undefined))).toBe('ok');
      // With trust auth (a local PostgreSQL) both log in; with passwords (embedded: SCRAM) both fail with 28P01.
      const viaPool = await outcome(pool`select 1 as one`);
      expect(await outcome(bad.request(sync(new Writer()).bytes(), () => undefined))).toBe(viaPool);
      expect(['ok', '28P01']).toContain(viaPool);
    } finally {
      await Promise.all([pool.end(), right.end(), bad.end()]);
    }
  });
});
