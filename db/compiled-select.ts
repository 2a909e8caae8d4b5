/**
 * A select of one table's columns compiled once, for the hottest one-statement reads (`orders.get`).
 * Drizzle builds the SQL text and its columns decode the rows, so nothing here is hand-written
 * SQL or a second idea of a column's type; what is skipped is Drizzle's work per execution
 * (a scoped handle, tracing spans, cache checks, the prepared-query wrapper), ~35 µs of server
 * CPU per tRPC `orders.get` (README, performance). The statement still runs as every tenant read
 * does: TenantReader, one flight, the tenant's setting in it, RLS. The WHERE clause also names the
 * tenant, bound (on Citus that routes the read to one shard; elsewhere it is defence in depth).
 */
import { and, eq, fillPlaceholders, getTableColumns, sql, type Column, type SQL } from 'drizzle-orm';
import { QueryBuilder, type AnyPgColumn, type PgTable } from 'drizzle-orm/pg-core';
import { DRIZZLE_CASING } from './client.js';
import type { TenantReader } from './tenant-read.js';

export interface CompiledSelect<Row> {
  /** The statement, as Drizzle writes it (tests and EXPLAIN read it). */
  readonly text: string;
  /** `tenantId`'s rows for the placeholders' `values`, decoded as Drizzle decodes them. */
  run(reader: TenantReader, tenantId: string, values: Record<string, unknown>): Promise<Row[]>;
}

/** A tenant's compiled reads, as resolvers get them (`ctx.readCompiled`): the tenant is already bound. */
export type CompiledRead = <Row>(statement: CompiledSelect<Row>, values: Record<string, unknown>) => Promise<Row[]>;

/** Filled with the read's tenant; a caller's placeholders may not use the name. */
const TENANT = 'tenantId';

/**
 * `select <every column of table> from table where tenant_id = <the tenant> and <where>`; `where`
 * may hold `sql.placeholder(…)`s.
 */
export function compiledSelect<T extends PgTable & { tenantId: AnyPgColumn }>(table: T, where: SQL): CompiledSelect<T['$inferSelect']> {
  const { sql: text, params } = new QueryBuilder({ casing: DRIZZLE_CASING })
    .select()
    .from(table as PgTable)
    .where(and(eq(table.tenantId, sql.placeholder(TENANT)), where))
    .toSQL();
  // `select()` lists the table's columns in this order, so a row's value j decodes with column j.
  const columns = Object.entries(getTableColumns(table) as Record<string, Column>);
  return {
    text,
    async run(reader, tenantId, values) {
      const rows = await reader.values(tenantId, text, fillPlaceholders(params, { ...values, [TENANT]: tenantId }));
      return rows.map((row) => {
        const decoded: Record<string, unknown> = {};
        columns.forEach(([key, column], i) => {
          const value = row[i];
          decoded[key] = value === null ? null : column.mapFromDriverValue(value);
        });
        return decoded as T['$inferSelect'];
      });
    },
  };
}
