/**
 * The one way to declare a tenant table. Every table built here gets the same isolation shape
 * (see ../shared/ISOLATION.md and the README's "Adding a tenant table"): `tenant_id uuid not null`
 * referencing tenants, a random uuid `id`, primary key `(tenant_id, id)`, the tenant policy, and the
 * restrictive policy of per-tenant database roles.
 * FORCE ROW LEVEL SECURITY and grants are not expressible in drizzle-kit, so each new tenant table
 * also needs a custom migration with `FORCE ROW LEVEL SECURITY` and its grants to palisade_app and
 * palisade_platform (README, "Adding a tenant table"); the catalog test fails when one is missing.
 */
import { sql } from 'drizzle-orm';
import {
  pgPolicy,
  pgRole,
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

/**
 * Per-tenant database roles (migration 0014, db/roles.ts createTenantRole): a login role named
 * `palisade_tenant_<tenant id, 32 hex>` and a member of palisade_app and palisade_pinned. A second,
 * restrictive policy holds only palisade_pinned's members: whatever app.tenant_id says, such a role
 * sees and writes only the tenant its name carries. The tenant is read from the name, not a table or
 * a setting, so nothing the role can change moves it, and a deleted tenant's slug reused by a new
 * tenant never inherits the role; a member whose name is not of that form sees nothing.
 */
export const PINNED_ROLE = 'palisade_pinned';
export const PINNED_POLICY = 'pinned_tenant';
export const TENANT_ROLE_PREFIX = 'palisade_tenant_';
const pinnedRole = pgRole(PINNED_ROLE).existing();
/** The tenant the current role is pinned to, or NULL (sees nothing) when its name is not of the pinned form. */
const roleTenantId = sql.raw(
  `CASE WHEN current_user ~ '^${TENANT_ROLE_PREFIX}[0-9a-f]{32}$' THEN substr(current_user, ${TENANT_ROLE_PREFIX.length + 1})::uuid END`,
);

function pinnedPolicy() {
  const predicate = sql`tenant_id = ${roleTenantId}`;
  return pgPolicy(PINNED_POLICY, {
    as: 'restrictive',
    for: 'all',
    to: pinnedRole,
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
    pinnedPolicy(),
    ...(extra?.(t) ?? []),
  ]);
  TENANT_TABLES.push(table);
  return table;
}
