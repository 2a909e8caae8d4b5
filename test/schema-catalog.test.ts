/**
 * The live catalog, read as the app role, against the isolation rules in ISOLATION.md. A new
 * tenant table that skipped the helper or its FORCE migration fails here.
 */
import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectEngine, distributionOf, PLATFORM_TABLES } from '../db/citus.js';
import type { Sql } from '../db/client.js';
import { findAppRoleProblems } from '../db/roles.js';
import * as schema from '../db/schema/index.js';
import { appPool, pg, platformPool } from './harness.js';

const POLICY_PREDICATE = "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)";
const PINNED_PREDICATE =
  "(tenant_id =\nCASE\n    WHEN (CURRENT_USER ~ '^palisade_tenant_[0-9a-f]{32}$'::text) THEN (substr((CURRENT_USER)::text, 17))::uuid\n    ELSE NULL::uuid\nEND)";

const declaredTenantTables = (Object.values(schema) as unknown[])
  .filter((v): v is PgTable => v instanceof PgTable)
  .map((t) => getTableConfig(t))
  // Column names are the TypeScript keys until casing applies them at query time.
  .filter((c) => c.columns.some((col) => col.name === 'tenantId' || col.name === 'tenant_id'))
  .map((c) => c.name)
  .sort();

let sql: Sql;
let liveTenantTables: string[];
beforeAll(async () => {
  sql = appPool(1);
  liveTenantTables = (
    await sql<{ relname: string }[]>`
      select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
      where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1`
  ).map((r) => r.relname);
});
afterAll(() => sql.end());

describe('tenant tables in the catalog', () => {
  it('are exactly the tables declared through tenantTable()', () => {
    expect(declaredTenantTables).toEqual(['api_keys', 'audit_events', 'customers', 'idempotency_keys', 'orders', 'sessions', 'usage_daily', 'users']);
    expect(liveTenantTables).toEqual(declaredTenantTables);
  });

  it('are registered parents-first, the order export and purge rely on', () => {
    const order = schema.TENANT_TABLES.map((t) => getTableConfig(t).name);
    expect([...order].sort()).toEqual(declaredTenantTables);
    for (const table of schema.TENANT_TABLES) {
      for (const fk of getTableConfig(table).foreignKeys) {
        const parent = getTableConfig(fk.reference().foreignTable).name;
        if (parent !== 'tenants') expect(order.indexOf(parent), `${parent} before ${getTableConfig(table).name}`).toBeLessThan(order.indexOf(getTableConfig(table).name));
      }
    }
  });

  it('have RLS enabled and forced', async () => {
    const rows = await sql<{ relname: string; enabled: boolean; forced: boolean }[]>`
      select relname, relrowsecurity as enabled, relforcerowsecurity as forced
      from pg_class where relname = any(${liveTenantTables}) and relnamespace = 'public'::regnamespace order by 1`;
    expect(rows).toEqual(liveTenantTables.map((relname) => ({ relname, enabled: true, forced: true })));
  });

  it('carry exactly the tenant policy and the per-tenant roles\' restrictive one', async () => {
    const rows = await sql<{ tablename: string; policyname: string; permissive: string; roles: string[]; cmd: string; qual: string; with_check: string }[]>`
      select tablename, policyname, permissive, roles, cmd, qual, with_check
      from pg_policies where schemaname = 'public' and tablename = any(${liveTenantTables}) order by 1, 2`;
    expect(rows).toEqual(
      liveTenantTables.flatMap((tablename) => [
        // Not on Citus: `palisade citus distribute` drops it (its shards would get it permissive).
        ...(pg.engine === 'citus' ? [] : [{ tablename, policyname: 'pinned_tenant', permissive: 'RESTRICTIVE', roles: ['palisade_pinned'], cmd: 'ALL', qual: PINNED_PREDICATE, with_check: PINNED_PREDICATE }]),
        { tablename, policyname: 'tenant_isolation', permissive: 'PERMISSIVE', roles: ['public'], cmd: 'ALL', qual: POLICY_PREDICATE, with_check: POLICY_PREDICATE },
      ]),
    );
  });

  it('use (tenant_id, id) as primary key, uuid ids, no serial or identity', async () => {
    const pks = await sql<{ relname: string; cols: string[] }[]>`
      select c.relname, array(select a.attname::text from unnest(k.conkey) with ordinality u(n, i)
        join pg_attribute a on a.attrelid = c.oid and a.attnum = u.n order by u.i) as cols
      from pg_constraint k join pg_class c on c.oid = k.conrelid
      where k.contype = 'p' and c.relname = any(${liveTenantTables}) order by 1`;
    expect(pks).toEqual(liveTenantTables.map((relname) => ({ relname, cols: ['tenant_id', 'id'] })));
    const generated = await sql`
      select table_name, column_name from information_schema.columns
      where table_schema = 'public' and table_name = any(${liveTenantTables})
        and (is_identity = 'YES' or column_default like 'nextval(%')`;
    expect(generated).toEqual([]);
    const idTypes = await sql<{ data_type: string }[]>`
      select distinct data_type from information_schema.columns
      where table_schema = 'public' and table_name = any(${liveTenantTables}) and column_name in ('id', 'tenant_id')`;
    expect(idTypes.map((r) => r.data_type)).toEqual(['uuid']);
  });

  it('include tenant_id in every unique constraint, index and tenant-to-tenant foreign key', async () => {
    const indexes = await sql<{ index: string; first: string }[]>`
      select i.indexrelid::regclass::text as index, a.attname as first
      from pg_index i join pg_class c on c.oid = i.indrelid
      join pg_attribute a on a.attrelid = c.oid and a.attnum = i.indkey[0]
      where c.relname = any(${liveTenantTables}) and c.relnamespace = 'public'::regnamespace`;
    expect(indexes.length).toBeGreaterThan(liveTenantTables.length);
    expect(indexes.filter((i) => i.first !== 'tenant_id')).toEqual([]);
    const fks = await sql<{ conname: string; has_tenant: boolean }[]>`
      select k.conname, exists (select 1 from unnest(k.conkey) n join pg_attribute a
        on a.attrelid = k.conrelid and a.attnum = n where a.attname = 'tenant_id') as has_tenant
      from pg_constraint k
      where k.contype = 'f' and k.conrelid::regclass::text = any(${liveTenantTables})
        and k.confrelid::regclass::text = any(${liveTenantTables})`;
    expect(fks.length).toBeGreaterThan(0);
    expect(fks.filter((f) => !f.has_tenant)).toEqual([]);
  });

  it('are all that the app role may write, and only with SELECT/INSERT/UPDATE/DELETE (audit_events: append-only)', async () => {
    const grants = await sql<{ table_name: string; privilege_type: string }[]>`
      select table_name, privilege_type from information_schema.role_table_grants
      where grantee = 'palisade_app' and table_schema = 'public' order by 1, 2`;
    expect(grants).toEqual(
      liveTenantTables.flatMap((table_name) =>
        (table_name === 'audit_events' ? ['INSERT', 'SELECT'] : ['DELETE', 'INSERT', 'SELECT', 'UPDATE']).map((privilege_type) => ({ table_name, privilege_type })),
      ),
    );
  });
});

describe('on Citus (when the extension is present)', () => {
  it('every tenant table is distributed by tenant_id, all in one colocation group; the platform tables are reference tables', async () => {
    if ((await detectEngine(sql)) !== 'citus') return;
    const placement = new Map((await distributionOf(sql)).map((d) => [d.table, d]));
    for (const table of declaredTenantTables) expect(placement.get(table), table).toMatchObject({ method: 'h', column: 'tenant_id' });
    expect(new Set(declaredTenantTables.map((t) => placement.get(t)?.colocation)).size).toBe(1);
    for (const table of PLATFORM_TABLES) expect(placement.get(table), table).toMatchObject({ method: 'n' });
  });
});

describe('paths around RLS', () => {
  it('the app role passes the startup check', async () => {
    expect(await findAppRoleProblems(sql)).toEqual([]);
  });

  it('no view lacks security_invoker', async () => {
    // Views an extension installs are its own (Citus puts citus_tables and citus_shards in public:
    // table names and sizes, no rows).
    const views = await sql`
      select c.relname from pg_class c where c.relkind in ('v', 'm') and c.relnamespace = 'public'::regnamespace
        and not coalesce('security_invoker=true' = any(c.reloptions), false)
        and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')`;
    expect(views).toEqual([]);
  });

  it('SECURITY DEFINER functions pin search_path and are not executable by PUBLIC', async () => {
    const fns = await sql<{ proname: string; config: string[] | null; public_exec: boolean; app_exec: boolean }[]>`
      select p.proname, p.proconfig as config,
        has_function_privilege('public', p.oid, 'EXECUTE') as public_exec,
        has_function_privilege('palisade_app', p.oid, 'EXECUTE') as app_exec
      from pg_proc p where p.prosecdef and p.pronamespace = 'public'::regnamespace order by 1`;
    expect(fns).toEqual(
      ['resolve_platform_admin_key', 'resolve_session', 'resolve_tenant_api_key', 'resolve_tenant_slug'].map((proname) => ({
        proname,
        config: ['search_path=""'],
        public_exec: false,
        app_exec: true,
      })),
    );
  });

  it('the app role can read neither tenants, platform admin keys nor the platform audit log directly', async () => {
    for (const table of ['tenants', 'platform_admin_keys', 'platform_audit_events']) {
      const error = await sql.unsafe(`select * from ${table}`).catch((e: { code?: string }) => e);
      expect((error as { code?: string }).code).toBe('42501');
    }
  });
});

describe('the platform role (admin path)', () => {
  it('passes the same startup check as the app role', async () => {
    const platform = platformPool(1);
    try {
      expect(await findAppRoleProblems(platform)).toEqual([]);
    } finally {
      await platform.end();
    }
  });

  it('cannot be reached from the app role: no membership either way', async () => {
    const [row] = await sql<{ app_in_platform: boolean; platform_in_app: boolean }[]>`
      select pg_has_role('palisade_app', 'palisade_platform', 'MEMBER') as app_in_platform,
             pg_has_role('palisade_platform', 'palisade_app', 'MEMBER') as platform_in_app`;
    expect(row).toEqual({ app_in_platform: false, platform_in_app: false });
    const error = await sql.unsafe('set role palisade_platform').catch((e: { code?: string }) => e);
    expect((error as { code?: string }).code).toBe('42501');
  });

  it('may work on every tenant table (export, import and purge cover them all), never TRUNCATE or REFERENCES', async () => {
    // has_table_privilege, not role_table_grants: that view hides grants to roles we are not.
    const grants = await sql<{ table_name: string; privilege_type: string }[]>`
      select c.relname as table_name, p.privilege_type
      from pg_class c cross join unnest(array['DELETE', 'INSERT', 'REFERENCES', 'SELECT', 'TRUNCATE', 'UPDATE']) as p(privilege_type)
      where c.relnamespace = 'public'::regnamespace and c.relname = any(${liveTenantTables})
        and has_table_privilege('palisade_platform', c.oid, p.privilege_type) order by 1, 2`;
    expect(grants).toEqual(
      liveTenantTables.flatMap((table_name) =>
        (table_name === 'audit_events' ? ['DELETE', 'INSERT', 'SELECT'] : ['DELETE', 'INSERT', 'SELECT', 'UPDATE']).map((privilege_type) => ({ table_name, privilege_type })),
      ),
    );
  });

  it('without naming a tenant sees no tenant rows', async () => {
    const platform = platformPool(1);
    try {
      for (const table of liveTenantTables) {
        const [row] = await platform.unsafe<{ n: number }[]>(`select count(*)::int as n from ${table}`);
        expect({ table, n: row?.n }).toEqual({ table, n: 0 });
      }
    } finally {
      await platform.end();
    }
  });
});
