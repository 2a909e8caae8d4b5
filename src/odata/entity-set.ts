/**
 * An entity set read as a query of the engine. The rows are the dataset at a grain: the
 * dimensions named by `$apply=groupby(…)` or `$select`, else every dimension (one row per distinct
 * combination), each with the metrics asked for (all by default). Paging is by offset over the
 * engine's stable order (requested order, then every dimension), so pages neither overlap nor
 * skip while the data stands still.
 */
import { createHash } from 'node:crypto';
import type { Dataset } from '../modules/analytics/catalog.js';
import type { QueryResult } from '../modules/analytics/query.service.js';
import { QUERY_LIMITS, parseQueryInput, type QueryInput } from '../modules/analytics/query-input.js';
import { AppError } from '../lib/errors.js';
import { KEY_PROPERTY } from './metadata.js';
import type { ODataQuery } from './query-options.js';

export interface EntitySetRead {
  input: QueryInput;
  /** The dimensions that identify a row (its key is made of their values). */
  grain: string[];
  /** `$top=0`: the caller wants no rows (perhaps only `$count`). */
  empty: boolean;
}

/** The grain and metrics the options ask for: `$apply`'s, else `$select`'s (which then only hides properties). */
function fieldsOf(dataset: Dataset, query: ODataQuery): { dimensions: string[]; metrics: string[] } {
  const named = query.apply ? [...query.apply.dimensions, ...query.apply.metrics] : query.select;
  if (!named) return { dimensions: dataset.dimensions.map((d) => d.name), metrics: dataset.metrics.map((m) => m.name) };
  const isDimension = new Set(dataset.dimensions.map((d) => d.name));
  return { dimensions: named.filter((n) => isDimension.has(n)), metrics: named.filter((n) => !isDimension.has(n)) };
}

/**
 * The engine's query for one page. `$top` caps the rows of this response (at most the page size);
 * `@odata.nextLink` continues after them (nextLinkFor).
 */
export function entitySetRead(dataset: Dataset, query: ODataQuery, pageSize: number): EntitySetRead {
  if (query.skip > QUERY_LIMITS.maxOffset) {
    throw new AppError('INVALID_QUERY', `$skip: at most ${QUERY_LIMITS.maxOffset} rows can be skipped; narrow the set with $filter (for example on a date) and page within it`);
  }
  const { dimensions, metrics } = fieldsOf(dataset, query);
  const empty = query.top === 0;
  const input = parseQueryInput({
    dataset: dataset.name,
    dimensions,
    metrics,
    filters: query.filter ? [query.filter] : [],
    orderBy: query.orderBy,
    limit: empty ? 1 : Math.min(query.top ?? pageSize, pageSize),
    offset: query.skip,
  });
  return { input, grain: dimensions, empty };
}

/** A row's key: a short digest of its grain's values, so it is the same on every refresh. */
export function rowKey(row: QueryResult['rows'][number], grain: string[]): string {
  if (grain.length === 0) return 'all';
  return createHash('sha256')
    .update(JSON.stringify(grain.map((name) => row[name] ?? null)))
    .digest('base64url')
    .slice(0, 22);
}

/** Rows as entities: the key first, then the properties (only `select`'s, when given). */
export function entities(rows: QueryResult['rows'], grain: string[], select?: string[]): Record<string, unknown>[] {
  return rows.map((row) => {
    const entity: Record<string, unknown> = { [KEY_PROPERTY]: rowKey(row, grain) };
    for (const name of select ?? Object.keys(row)) entity[name] = row[name];
    return entity;
  });
}

/** The request's URL with `$skip` moved past the rows just returned; every other option kept. */
export function nextLinkFor(requestUrl: string, skip: number, returned: number): string {
  const url = new URL(requestUrl);
  // Option names may come in any case ($SKIP); none of the old ones may stay beside the new one.
  for (const name of [...url.searchParams.keys()]) if (/^\$(skip|skiptoken)$/i.test(name)) url.searchParams.delete(name);
  url.searchParams.set('$skip', String(skip + returned));
  // URLSearchParams writes spaces as '+', which OData reads as a plus; '%20' means a space to everyone.
  return `${url.origin}${url.pathname}?${url.searchParams.toString().replaceAll('+', '%20').replaceAll('%24', '$').replaceAll('%2C', ',')}`;
}

/** Engine messages name its input fields; an OData caller wrote query options. */
export function inODataTerms(error: AppError): AppError {
  const message = error.message
    .replace(/^filters\[0\]/, '$filter')
    .replace(/^filters:/, '$filter:')
    .replace(/^orderBy\[\d+\]\.field/, '$orderby')
    .replace(/^limit:/, '$top:')
    .replace(/^offset:/, '$skip:')
    .replace(/^(dimensions|metrics)\[\d+\]/, '$select');
  return message === error.message ? error : new AppError(error.reason, message, { cause: error, ...(error.retryAfterSeconds !== undefined && { retryAfterSeconds: error.retryAfterSeconds }) });
}
