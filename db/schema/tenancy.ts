/**
 * The one way to declare a tenant table. Every table built here gets the same isolation shape
 * (see ../shared/ISOLATION.md and the README's "Adding a tenant table"): `tenant_id uuid not null`
 * referencing tenants, a random uuid `id`, primary key `(tenant_id, id)`, and the single RLS policy.
 * FORCE ROW LEVEL SECURITY and grants are not expressible in drizzle-kit, so each new tenant table
 * also needs a custom migration with `FORCE ROW LEVEL SECURITY` and its grants to palisade_app and
 * palisade_platform (README, "Adding a tenant table"); the catalog test fails when one is missing.
 */
import { sql } from 'drizzle-orm';
import {
  pgPolicy,
  pgTable,
  primaryKey,
  uuid,
  type PgColumnBuilderBase,
  type PgTable,
  type PgTableExtraConfigValue,
} from 'drizzle-orm/pg-core';
import type { BuildExtraConfigColumns } from 'drizzle-orm';
import { tenants } from './tenants.js';

/**
 * The setting the policies read: the one place TypeScript names it. Only `set_tenant(uuid)`
 * (migration 0007, called through db/tenant-tx.ts setTenant) sets it.
 */
export const TENANT_SETTING = 'app.tenant_id';

/**
 * The tenant of the current transaction, or NULL when none is set.
 * `nullif(…, '')`: after a transaction that set the value ends, the connection reports '' rather
 * than NULL, and ''::uuid would raise instead of matching nothing. The setting is cast, never the
 * column, so the predicate stays an index condition on `tenant_id`.
 */
export const currentTenantId = sql.raw(`nullif(current_setting('${TENANT_SETTING}', true), '')::uuid`);

/** Name of the policy every tenant table carries; the catalog tests and the audit look for it. */
export const TENANT_POLICY = 'tenant_isolation';

function tenantPolicy() {
  const predicate = sql`tenant_id = ${currentTenantId}`;
  return pgPolicy(TENANT_POLICY, {
    as: 'permissive',
    for: 'all',
    to: 'public',
    using: predicate,
    withCheck: predicate,
  });
}

function tenantColumns() {
  return {
    // Defaults to the transaction's tenant, so domain code never names a tenant: with no context
    // the default is NULL and the insert fails.
    tenantId: uuid()
      .notNull()
      .default(currentTenantId)
      .references(() => tenants.id),
    id: uuid().notNull().defaultRandom(),
  };
}

type TenantColumns<T> = ReturnType<typeof tenantColumns> & T;

/**
 * Every table declared with tenantTable(), in declaration order. A table can only reference
 * tables declared before it, so this is parents-first: the order export/import insert in, and
 * purge deletes in reverse. A test checks it against the catalog's tables with a tenant_id column.
 */
export const TENANT_TABLES: PgTable[] = [];

export function tenantTable<
  TName extends string,
  TColumns extends Record<string, PgColumnBuilderBase>,
>(
  name: TName,
  columns: TColumns,
  extra?: (t: BuildExtraConfigColumns<TName, TenantColumns<TColumns>, 'pg'>) => PgTableExtraConfigValue[],
) {
  // Isolation columns last in the spread so a table cannot redefine them.
  const all: TenantColumns<TColumns> = { ...tenantColumns(), ...columns, ...tenantColumns() };
  const table = pgTable(name, all, (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    tenantPolicy(),
    ...(extra?.(t) ?? []),
  ]);
  TENANT_TABLES.push(table);
  return table;
}
