/**
 * A comparable description of everything the migrations create: tables and their RLS flags,
 * columns, constraints, indexes, policies, grants, functions and the app role's attributes.
 * Two databases migrated by different tools must produce equal fingerprints.
 */
import type { Sql } from './client.js';

export async function schemaFingerprint(sql: Sql) {
  const q = (text: string) => sql.unsafe(text).then((rows) => rows.map((r) => ({ ...r })));
  return {
    tables: await q(`
      select c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) as owner,
        c.reloptions
      from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'S')
      order by 1`),
    columns: await q(`
      select table_name, column_name, ordinal_position, data_type, numeric_precision, numeric_scale,
        is_nullable, column_default, is_identity
      from information_schema.columns where table_schema = 'public' order by 1, 3`),
    constraints: await q(`
      select conrelid::regclass::text as tbl, conname, pg_get_constraintdef(oid) as def
      from pg_constraint where connamespace = 'public'::regnamespace order by 1, 2`),
    indexes: await q(`select tablename, indexname, indexdef from pg_indexes where schemaname = 'public' order by 1, 2`),
    policies: await q(`
      select tablename, policyname, permissive, roles, cmd, qual, with_check
      from pg_policies where schemaname = 'public' order by 1, 2`),
    grants: await q(`
      select table_name, grantee, privilege_type from information_schema.role_table_grants
      where table_schema = 'public' order by 1, 2, 3`),
    functions: await q(`
      select p.proname, pg_get_function_identity_arguments(p.oid) as args, p.prosecdef, p.provolatile,
        p.proconfig, pg_get_functiondef(p.oid) as def, p.proacl::text[] as acl
      from pg_proc p where p.pronamespace = 'public'::regnamespace order by 1, 2`),
    schemaAcl: await q(`select nspacl::text[] as acl from pg_namespace where nspname = 'public'`),
    appRole: await q(`
      select rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolinherit
      from pg_roles where rolname = 'palisade_app'`),
  };
}
