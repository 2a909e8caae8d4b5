/**
 * The three ways the DB layer runs the same two queries, side by side:
 *
 *   limit   explicit `WHERE tenant_id = $1` as a BYPASSRLS role, no transaction (prepared, one flight)
 *   runner  the production tenant runner as the app role, RLS supplying the tenant predicate
 *   naive   Drizzle's documented interactive transaction: await set_config, then the query
 *
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

/** The tenant's query without a tenant predicate: RLS adds it. */
export function tenantQuery(query: QueryName, input: QueryInput): SQL {
  return query === 'point'
    ? sql`select id, customer_id, region, amount, order_date, status, created_at from orders where id = ${input.id}`
    : sql`select region, sum(amount) as revenue from orders group by region`;
}

/** The production runner for a one-statement read, as the routers call it (ctx.readTenant). */
export function runAsTenant(reader: TenantReader, tenantId: string, query: SQL): Promise<unknown> {
  return reader.read(tenantId, (db) => db.execute(query));
}

/** The limit: the same query with the tenant in the WHERE clause, on a role that ignores policies. */
export function runLimit(bypass: Sql, query: QueryName, input: QueryInput): Promise<unknown> {
  return query === 'point'
    ? bypass`select id, customer_id, region, amount, order_date, status, created_at from orders where tenant_id = ${input.tenantId} and id = ${input.id!}`.execute()
    : bypass`select region, sum(amount) as revenue from orders where tenant_id = ${input.tenantId} group by region`.execute();
}

/** What Drizzle's docs show: an interactive transaction, the setting awaited before the query. */
export function runNaive(db: Db, tenantId: string, query: SQL): Promise<unknown> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('app.tenant_id', ${tenantId}, true)`);
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
      return runAsTenant(pools.runner, input.tenantId, tenantQuery(query, input));
    case 'naive':
      return runNaive(pools.naive, input.tenantId, tenantQuery(query, input));
  }
}
