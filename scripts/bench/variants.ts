/**
 * The ways the DB layer runs the same two queries, side by side:
 *
 *   limit       explicit `WHERE tenant_id = $1` as a BYPASSRLS role, no transaction (postgres.js, prepared, one flight)
 *   wire limit  the same on the runner's own wire client (db/pg-wire.ts): prepared, Bind/Execute/Sync, no setting
 *   runner      the production tenant reader as its hot paths call it (SQL text compiled once), as the
 *               app role, RLS supplying the tenant predicate
 *   naive       Drizzle's documented interactive transaction: await set_config, then the query
 *
 * Two limits, because the runner no longer uses postgres.js for its reads: `limit` is the ceiling
 * of the stack's driver, `wire limit` the like-for-like one (same client, minus the setting and
 * RLS). The targets are held to the faster of the two.
 * `runAsTenant` is the one place the runner is called: switch it when the runner's API changes.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db, Sql } from '../../db/client.js';
import { bind, execute, MSG, parse, postgresError, readDataRow, sync, WireConnection, Writer } from '../../db/pg-wire.js';
import type { TenantReader } from '../../db/tenant-read.js';

export type VariantName = 'limit' | 'wire limit' | 'runner' | 'naive';
export const VARIANTS: readonly VariantName[] = ['limit', 'wire limit', 'runner', 'naive'];

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

/** The limits' query: the tenant in the WHERE clause, $1. */
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

/** The limit on the runner's wire client: connections of its own, both statements prepared on each. */
export class WireLimit {
  private readonly conns: { conn: WireConnection; generation: number; inflight: number }[];

  constructor(url: string, connections: number) {
    this.conns = Array.from({ length: connections }, () => ({ conn: new WireConnection(url, { applicationName: 'palisade-bench-wire-limit' }), generation: 0, inflight: 0 }));
  }

  /** The rows as text, undecoded: a ceiling, not a result anyone reads. */
  async run(query: QueryName, input: QueryInput): Promise<(string | null)[][]> {
    const slot = this.conns.reduce((a, b) => (b.inflight < a.inflight ? b : a));
    const w = new Writer();
    const generation = slot.conn.open();
    if (slot.generation !== generation) {
      for (const q of QUERIES) parse(w, `limit_${q}`, LIMIT_TEXT[q], []);
      slot.generation = generation;
    }
    execute(bind(w, `limit_${query}`, limitParams(query, input)));
    const rows: (string | null)[][] = [];
    let error: Error | undefined;
    slot.inflight++;
    try {
      await slot.conn.request(sync(w).bytes(), (type, body) => {
        if (type === MSG.dataRow) rows.push(readDataRow(body));
        if (type === MSG.error) error ??= postgresError(body);
      });
    } finally {
      slot.inflight--;
    }
    if (error) throw error;
    return rows;
  }

  async end(): Promise<void> {
    await Promise.all(this.conns.map((c) => c.conn.end()));
  }
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
  /** Only the DB layer runs the wire limit. */
  wire?: WireLimit;
  runner: TenantReader;
  naive: Db;
}

/** One request of `variant` for `query` on `input`. */
export function runVariant(pools: VariantPools, variant: VariantName, query: QueryName, input: QueryInput): Promise<unknown> {
  switch (variant) {
    case 'limit':
      return runLimit(pools.bypass, query, input);
    case 'wire limit':
      if (!pools.wire) throw new Error('no wire limit in these pools');
      return pools.wire.run(query, input);
    case 'runner':
      return runAsTenant(pools.runner, query, input);
    case 'naive':
      return runNaive(pools.naive, input.tenantId, tenantQuery(query, input));
  }
}
