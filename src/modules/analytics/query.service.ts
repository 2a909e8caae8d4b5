/**
 * The query engine: metrics by dimensions over one dataset of the catalog, inside the caller's
 * tenant transaction (RLS decides which rows exist). The input's shape and limits live in
 * query-input.ts, SQL building in query-sql.ts.
 */
import { fillPlaceholders, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { LRUCache } from 'lru-cache';
import type { Engine } from '../../../db/citus.js';
import type { TenantReader } from '../../../db/tenant-read.js';
import { tenantOf, type TenantDb } from '../../../db/tenant-tx.js';
import { AppError } from '../../lib/errors.js';
import { isDataException, SQLSTATE, sqlState } from '../../lib/pg-errors.js';
import { findDataset, type Catalog } from './catalog.js';
import { FILTER_OPS, QUERY_LIMITS, TIME_GRAINS, type QueryInput } from './query-input.js';
import { planQuery, TENANT_BOUND, TENANT_BY_SETTING, TENANT_PLACEHOLDER, type QueryColumn, type QueryPlan } from './query-sql.js';

export { parseQueryInput, queryInput, type QueryInput } from './query-input.js';

export interface QueryResult {
  columns: QueryColumn[];
  rows: Record<string, string | number | boolean | null>[];
  rowCount: number;
  /** More rows matched than `limit` returned. */
  truncated: boolean;
}

/** Postgres errors a query can cause by its input, as the 400s that say what to change. */
function queryError(error: unknown, statementTimeoutMs: number): unknown {
  if (sqlState(error) === SQLSTATE.queryCanceled) {
    return new AppError('QUERY_TIMEOUT', `the query ran longer than the ${statementTimeoutMs} ms limit and was cancelled; narrow it with filters, fewer dimensions or a coarser timeGrain`);
  }
  if (isDataException(error)) return new AppError('INVALID_FILTER', 'filters: a value is out of the range Postgres can compare (for example year 0 or a number too large)');
  return error;
}

/** The page the caller asked for, each value typed as its column says. */
function resultOf(plan: QueryPlan, input: QueryInput, rows: readonly Record<string, unknown>[]): QueryResult {
  const truncated = rows.length > input.limit;
  const page = rows.slice(0, input.limit).map((row) => {
    const out: QueryResult['rows'][number] = {};
    for (const column of plan.columns) {
      const value = row[column.name];
      out[column.name] = value === null || value === undefined ? null : column.type === 'number' ? Number(value) : (value as string | boolean);
    }
    return out;
  });
  return { columns: plan.columns, rows: page, rowCount: page.length, truncated };
}

/**
 * Runs one query in the caller's tenant transaction.
 * The statement timeout is set transaction-locally (pipelined with the query, so no extra round
 * trip); it stays in force for the rest of the transaction, which only bounds each later
 * statement by the same limit. A timeout is a 400 QUERY_TIMEOUT telling the caller to narrow the
 * query.
 */
export async function runQuery(tx: TenantDb, catalog: Catalog, input: QueryInput, options: { statementTimeoutMs: number }): Promise<QueryResult> {
  const plan = planQuery(catalog, input, sql`${tenantOf(tx)}::uuid`);
  const timeout = String(Math.max(1, Math.floor(options.statementTimeoutMs)));
  try {
    // Both are sent before either answer arrives; the connection runs them in order.
    const [, rows] = await Promise.all([
      tx.execute(sql`SELECT set_config('statement_timeout', ${timeout}, true)`),
      tx.execute<Record<string, unknown>>(plan.query),
    ]);
    return resultOf(plan, input, rows);
  } catch (error) {
    throw queryError(error, options.statementTimeoutMs);
  }
}

const dialect = new PgDialect({ casing: 'snake_case' });

interface Compiled {
  plan: QueryPlan;
  text: string;
  params: unknown[];
  count: { text: string; params: unknown[] };
}

/** Compiled queries per catalog, an LRU each: dashboards repeat the same few. */
const compiledQueries = new WeakMap<Catalog, LRUCache<string, Compiled>>();
const MAX_COMPILED = 500;

/**
 * A query's identity as text: zod's output lists keys in schema order whatever order the caller
 * sent them in, so equal queries give equal text (the compiled-query and result caches key on it).
 */
export function inputKey(input: QueryInput): string {
  return JSON.stringify(input);
}

/**
 * The plan and its SQL text for `input`, built once per catalog, engine and distinct input. The
 * tenant is bound on Citus (it routes the query) and read from the setting elsewhere (planQuery).
 */
function compile(catalog: Catalog, input: QueryInput, key: string, engine: Engine): Compiled {
  let cache = compiledQueries.get(catalog);
  if (!cache) compiledQueries.set(catalog, (cache = new LRUCache({ max: MAX_COMPILED })));
  const cacheKey = `${engine} ${key}`;
  let compiled = cache.get(cacheKey);
  if (!compiled) {
    const plan = planQuery(catalog, input, engine === 'citus' ? TENANT_BOUND : TENANT_BY_SETTING);
    const { sql: text, params } = dialect.sqlToQuery(plan.query);
    const count = dialect.sqlToQuery(plan.count);
    compiled = { plan, text, params, count: { text: count.sql, params: count.params } };
    cache.set(cacheKey, compiled);
  }
  return compiled;
}

/**
 * A tenant's own query on the reader (db/tenant-read.ts): the setting, the timeout and the
 * statement in one flight. The SQL goes as text, not through a Drizzle session: this is the
 * hot path of every uncached dataset query.
 */
export async function readQuery(
  reader: TenantReader,
  tenantId: string,
  catalog: Catalog,
  input: QueryInput,
  options: { statementTimeoutMs: number; inputKey?: string },
): Promise<QueryResult> {
  const { plan, text, params } = compile(catalog, input, options.inputKey ?? inputKey(input), reader.engine);
  try {
    return resultOf(plan, input, await reader.query(tenantId, text, fillPlaceholders(params, { [TENANT_PLACEHOLDER]: tenantId }), { statementTimeoutMs: options.statementTimeoutMs }));
  } catch (error) {
    throw queryError(error, options.statementTimeoutMs);
  }
}

/** How many rows `input` has in all, ignoring its limit and offset: one statement, as readQuery. */
export async function readCount(
  reader: TenantReader,
  tenantId: string,
  catalog: Catalog,
  input: QueryInput,
  options: { statementTimeoutMs: number; inputKey?: string },
): Promise<number> {
  const { count } = compile(catalog, input, options.inputKey ?? inputKey(input), reader.engine);
  try {
    const [row] = await reader.query(tenantId, count.text, fillPlaceholders(count.params, { [TENANT_PLACEHOLDER]: tenantId }), { statementTimeoutMs: options.statementTimeoutMs });
    return Number(row?.['count'] ?? 0);
  } catch (error) {
    throw queryError(error, options.statementTimeoutMs);
  }
}

export interface DatasetSummary {
  name: string;
  description: string;
  dimensions: string[];
  metrics: string[];
  defaultTimeDimension: string | null;
}

export function listDatasets(catalog: Catalog): DatasetSummary[] {
  return catalog.datasets.map((d) => ({
    name: d.name,
    description: d.description,
    dimensions: d.dimensions.map((x) => x.name),
    metrics: d.metrics.map((x) => x.name),
    defaultTimeDimension: d.defaultTimeDimension ?? null,
  }));
}

/**
 * Everything a client needs to write a query against one dataset, with a ready example.
 * The table is included: it is the tenant's own schema, and the catalog holds no secrets.
 */
export function describeDataset(catalog: Catalog, name: string) {
  const dataset = findDataset(catalog, name);
  if (!dataset) {
    throw new AppError('UNKNOWN_DATASET', `dataset "${name}" not found; datasets: ${catalog.datasets.map((d) => d.name).join(', ')}`);
  }
  const time = dataset.defaultTimeDimension;
  const firstDimension = time ?? dataset.dimensions[0]?.name;
  const exampleQuery = {
    dataset: dataset.name,
    dimensions: firstDimension ? [firstDimension] : [],
    metrics: dataset.metrics.slice(0, 2).map((m) => m.name),
    filters: [],
    ...(time && { timeGrain: 'month' as const }),
    orderBy: firstDimension ? [{ field: firstDimension, direction: 'asc' as const }] : [],
    limit: 100,
    offset: 0,
  };
  return {
    name: dataset.name,
    table: dataset.table,
    description: dataset.description,
    defaultTimeDimension: time ?? null,
    cacheTtlSeconds: dataset.cacheTtlSeconds ?? null,
    dimensions: dataset.dimensions.map((d) => ({
      name: d.name,
      label: d.label,
      type: d.type,
      description: d.description ?? null,
      ...(d.column !== undefined ? { column: d.column } : { expression: d.expression ?? null }),
    })),
    metrics: dataset.metrics.map((m) => ({
      name: m.name,
      label: m.label,
      type: 'number' as const,
      aggregation: m.aggregation,
      format: m.format,
      description: m.description ?? null,
      column: m.column ?? null,
      ...(m.expression !== undefined && { expression: m.expression }),
      filter: m.filter ?? null,
    })),
    filterOps: FILTER_OPS,
    timeGrains: TIME_GRAINS,
    limits: QUERY_LIMITS,
    exampleQuery,
  };
}

type Row = QueryResult['rows'][number];

/** Postgres's default order: NULLs last ascending, first descending. Strings by code point. */
function compareValues(a: Row[string] | undefined, b: Row[string] | undefined): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The platform all-tenants query: `input` run for each tenant (at most two at a time, each by
 * `run` in that tenant's own transaction), merged with a leading `tenant` column (the slug).
 * Each tenant is asked for its first offset + limit + 1 rows in the requested order, which always
 * contain the global page; `input.orderBy` (which may name `tenant`) is then applied to the merged
 * rows, ties keep tenant-slug order, and offset/limit are applied once. String order across tenants
 * is by code point, which can differ from the database collation for non-ASCII text.
 */
export async function runQueryAcrossTenants(
  tenants: { id: string; slug: string }[],
  run: (tenantId: string, input: QueryInput) => Promise<QueryResult>,
  input: QueryInput,
): Promise<QueryResult> {
  const perTenant: QueryInput = {
    ...input,
    dimensions: input.dimensions.filter((d) => d !== 'tenant'),
    orderBy: input.orderBy.filter((o) => o.field !== 'tenant'),
    limit: input.offset + input.limit,
    offset: 0,
  };
  const ordered = [...tenants].sort((a, b) => compareValues(a.slug, b.slug));
  const results: (QueryResult | undefined)[] = new Array(ordered.length);
  let next = 0;
  const worker = async () => {
    while (next < ordered.length) {
      const i = next++;
      results[i] = await run(ordered[i]!.id, perTenant);
    }
  };
  await Promise.all([worker(), worker()]);

  let columns: QueryColumn[] | undefined;
  const merged: Row[] = [];
  let anyTruncated = false;
  results.forEach((result, i) => {
    if (!result) return;
    columns ??= result.columns;
    anyTruncated ||= result.truncated;
    for (const row of result.rows) merged.push({ tenant: ordered[i]!.slug, ...row });
  });
  // With no tenants there is nothing to run; the columns still come from the plan.
  columns ??= planColumns(input);
  const keys = input.orderBy;
  if (keys.length > 0) {
    // Array.prototype.sort is stable: rows equal on every key keep tenant order, then their own.
    merged.sort((a, b) => {
      for (const key of keys) {
        const c = compareValues(a[key.field], b[key.field]);
        if (c !== 0) return key.direction === 'desc' ? -c : c;
      }
      return 0;
    });
  }
  const rows = merged.slice(input.offset, input.offset + input.limit);
  return {
    columns: [{ name: 'tenant', type: 'string', label: 'Tenant' }, ...columns],
    rows,
    rowCount: rows.length,
    truncated: anyTruncated || merged.length > input.offset + input.limit,
  };
}

function planColumns(input: QueryInput): QueryColumn[] {
  return [
    ...input.dimensions.filter((d) => d !== 'tenant').map((name) => ({ name, type: 'string' as const, label: name })),
    ...input.metrics.map((name) => ({ name, type: 'number' as const, label: name })),
  ];
}
