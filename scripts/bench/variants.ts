/**
 * The ways the DB layer runs the same two queries, side by side:
 *
 *   limit     explicit `WHERE tenant_id = $1` as a BYPASSRLS role, no transaction (postgres.js 4.1, prepared, one flight)
 *   runner    the production tenant reader as its hot paths call it (SQL text compiled once), as the
 *             app role, sending what production sends (productionForm): the point read with the
 *             tenant bound, `tenant_id = $1` (a compiled select); the aggregate (a dataset query)
 *             bound on Citus and `tenant_id = <the setting>` on plain Postgres; RLS in force as
 *             well. `select public.set_tenant($1)` and the statement in one `sql.batch` on a
 *             postgres.js pool; on Citus `BEGIN · set_tenant · statement · COMMIT` in one flight
 *             (db/tenant-read.ts)
 *   bound     plain Postgres only: the runner with the tenant bound in both statements, what the
 *             aggregate would send if it were bound there too (prepared aggregates then re-plan per
 *             execution; this variant is why they are not)
 *   rls-only  the runner with the text it sent before issue 21: no tenant predicate, RLS alone
 *             supplying it
 *   naive     Drizzle's documented interactive transaction: await set_tenant, then the runner's statement
 *
 * The limit and the runner share the driver, so their ratio is what the setting and RLS cost; the
 * runner and rls-only differ only in the tenant predicate, so their ratio is what naming the tenant
 * costs (plain Postgres) or saves (Citus, where only a bound tenant routes to one shard).
 * `runAsTenant` is the one place the runner is called: switch it when the runner's API changes.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db, Sql } from '../../db/client.js';
import type { Engine } from '../../db/citus.js';
import type { TenantReader } from '../../db/tenant-read.js';

export type VariantName = 'limit' | 'runner' | 'bound' | 'rls-only' | 'naive';
export const VARIANTS: readonly VariantName[] = ['limit', 'runner', 'bound', 'rls-only', 'naive'];

export type QueryName = 'point' | 'aggregate';
export const QUERIES: readonly QueryName[] = ['point', 'aggregate'];

/**
 * How a statement names its tenant: `explicit` (`tenant_id = $1`), `setting` (`tenant_id =` the
 * transaction's setting, as the policy does), or `rls-only` (not at all); RLS too for the app role.
 */
export type QueryForm = 'explicit' | 'setting' | 'rls-only';

/** The form production sends for `query` on `engine` (compiled selects, dataset queries: src/modules/analytics/query-sql.ts). */
export function productionForm(engine: Engine, query: QueryName): QueryForm {
  return engine === 'citus' || query === 'point' ? 'explicit' : 'setting';
}

export interface QueryInput {
  tenantId: string;
  /** The order id, for point lookups. */
  id?: string;
}

const COLUMNS = 'id, customer_id, region, amount, order_date, status, created_at';

/**
 * The statement as production sends it (compiled selects, dataset queries): the tenant bound as
 * $1 in the WHERE clause. The limit, the runner and naive all send it.
 */
const EXPLICIT_TEXT: Record<QueryName, string> = {
  point: `select ${COLUMNS} from orders where tenant_id = $1 and id = $2`,
  aggregate: 'select region, sum(amount) as revenue from orders where tenant_id = $1 group by region',
};

const SETTING = "nullif(current_setting('app.tenant_id', true), '')::uuid";

/** The statement naming the tenant by the transaction's setting, as dataset queries do on plain Postgres. */
const SETTING_TEXT: Record<QueryName, string> = {
  point: `select ${COLUMNS} from orders where tenant_id = ${SETTING} and id = $1`,
  aggregate: `select region, sum(amount) as revenue from orders where tenant_id = ${SETTING} group by region`,
};

/** The statement without a tenant predicate (RLS adds it), as the runner sent it before issue 21. */
const RLS_ONLY_TEXT: Record<QueryName, string> = {
  point: `select ${COLUMNS} from orders where id = $1`,
  aggregate: 'select region, sum(amount) as revenue from orders group by region',
};

const TEXT: Record<QueryForm, Record<QueryName, string>> = { explicit: EXPLICIT_TEXT, setting: SETTING_TEXT, 'rls-only': RLS_ONLY_TEXT };

function params(form: QueryForm, query: QueryName, input: QueryInput): string[] {
  const own = query === 'point' ? [input.id!] : [];
  return form === 'explicit' ? [input.tenantId, ...own] : own;
}

/** The tenant's statement in `form` as Drizzle SQL (naive, EXPLAIN): the same text, the same parameters. */
export function tenantQuery(form: QueryForm, query: QueryName, input: QueryInput): SQL {
  const text = TEXT[form][query];
  const values = params(form, query, input);
  const parts = text.split(/\$(\d+)/);
  // Even parts are text, odd parts the $n they were split on: each becomes its bound value.
  return sql.join(
    parts.map((part, i) => (i % 2 === 0 ? sql.raw(part) : sql`${values[Number(part) - 1]}`)),
    sql.raw(''),
  );
}

/**
 * The production runner for a one-statement read, as the hot paths call it: SQL text compiled once
 * (`orders.get` through compiledSelect, dataset queries through their compiled plan) on the reader.
 */
export function runAsTenant(reader: TenantReader, form: QueryForm, query: QueryName, input: QueryInput): Promise<unknown> {
  return reader.query(input.tenantId, TEXT[form][query], params(form, query, input));
}

/** The limit: the statement with the tenant bound, on a role that ignores policies, outside any transaction. */
export function runLimit(bypass: Sql, query: QueryName, input: QueryInput): Promise<unknown> {
  return bypass.unsafe(EXPLICIT_TEXT[query], params('explicit', query, input), { prepare: true }).execute();
}

/**
 * What Drizzle's docs show: an interactive transaction, the tenant set (the project's setter,
 * `public.set_tenant`, migration 0007) and awaited before the query.
 */
export function runNaive(db: Db, tenantId: string, query: SQL): Promise<unknown> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select public.set_tenant(${tenantId})`);
    return tx.execute(query);
  });
}

export interface VariantPools {
  bypass: Sql;
  runner: TenantReader;
  /** Readers of their own, each on a pool of its own. */
  bound: TenantReader;
  rlsOnly: TenantReader;
  naive: Db;
  /** What the pools talk to: which form production sends. */
  engine: Engine;
}

/** One request of `variant` for `query` on `input`. */
export function runVariant(pools: VariantPools, variant: VariantName, query: QueryName, input: QueryInput): Promise<unknown> {
  switch (variant) {
    case 'limit':
      return runLimit(pools.bypass, query, input);
    case 'runner':
      return runAsTenant(pools.runner, productionForm(pools.engine, query), query, input);
    case 'bound':
      return runAsTenant(pools.bound, 'explicit', query, input);
    case 'rls-only':
      return runAsTenant(pools.rlsOnly, 'rls-only', query, input);
    case 'naive':
      return runNaive(pools.naive, input.tenantId, tenantQuery(productionForm(pools.engine, query), query, input));
  }
}
