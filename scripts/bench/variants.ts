/**
 * The ways the DB layer runs the same two queries, side by side:
 *
 *   limit   explicit `WHERE tenant_id = $1` as a BYPASSRLS role, no transaction (postgres.js 4.1, prepared, one flight)
 *   runner  the production tenant reader as its hot paths call it (SQL text compiled once), as the
 *           app role, RLS supplying the tenant predicate: `select public.set_tenant($1)` and the
 *           statement in one `sql.batch` on a postgres.js pool (db/tenant-read.ts)
 *   naive   Drizzle's documented interactive transaction: await set_tenant, then the query
 *
 * The limit and the runner share the driver, so their ratio is what the setting and RLS cost.
 * `runAsTenant` is the one place the runner is called: switch it when the runner's API changes.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db, Sql } from '../../db/client.js';
import type { TenantReader } from '../../db/tenant-read.js';

export type VariantName = 'limit' | 'runner' | 'naive';
export const VARIANTS: readonly VariantName[] = ['limit', 'runner', 'naive'];

export type QueryName = 'point' | 'aggregate';
export const QUERIES: readonly QueryName[] = ['point', 'aggregate'];

export interface QueryInput {
  tenantId: string;
  /** The order id, for point lookups. */
  id?: string;
}

const COLUMNS = 'id, customer_id, region, amount, order_date, status, created_at';

/** The tenant's query without a tenant predicate (RLS adds it), as SQL text with $n. */
const TENANT_TEXT: Record<QueryName, string> = {
  point: `select ${COLUMNS} from orders where id = $1`,
  aggregate: 'select region, sum(amount) as revenue from orders group by region',
};

/** The limit's query: the tenant in the WHERE clause, $1. */
const LIMIT_TEXT: Record<QueryName, string> = {
  point: `select ${COLUMNS} from orders where tenant_id = $1 and id = $2`,
  aggregate: 'select region, sum(amount) as revenue from orders where tenant_id = $1 group by region',
};

/** The tenant's query as Drizzle SQL (the naive variant, EXPLAIN). */
export function tenantQuery(query: QueryName, input: QueryInput): SQL {
  return query === 'point' ? sql`select ${sql.raw(COLUMNS)} from orders where id = ${input.id}` : sql.raw(TENANT_TEXT.aggregate);
}

/**
 * The production runner for a one-statement read, as the hot paths call it: SQL text compiled once
 * (`orders.get` through compiledSelect, dataset queries through their compiled plan) on the reader.
 */
export function runAsTenant(reader: TenantReader, query: QueryName, input: QueryInput): Promise<unknown> {
  return reader.query(input.tenantId, TENANT_TEXT[query], query === 'point' ? [input.id] : []);
}

/** The limit: the same query with the tenant in the WHERE clause, on a role that ignores policies. */
export function runLimit(bypass: Sql, query: QueryName, input: QueryInput): Promise<unknown> {
  return bypass.unsafe(LIMIT_TEXT[query], limitParams(query, input), { prepare: true }).execute();
}

function limitParams(query: QueryName, input: QueryInput): string[] {
  return query === 'point' ? [input.tenantId, input.id!] : [input.tenantId];
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
  naive: Db;
}

/** One request of `variant` for `query` on `input`. */
export function runVariant(pools: VariantPools, variant: VariantName, query: QueryName, input: QueryInput): Promise<unknown> {
  switch (variant) {
    case 'limit':
      return runLimit(pools.bypass, query, input);
    case 'runner':
      return runAsTenant(pools.runner, query, input);
    case 'naive':
      return runNaive(pools.naive, input.tenantId, tenantQuery(query, input));
  }
}
