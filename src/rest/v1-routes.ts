/**
 * REST for BI tools and curl: the same credentials, rate limits, engine and cache as tRPC's
 * `datasets.*` and `query`, with the REST error envelope. `Accept: text/csv` (or `format=csv`, for
 * tools that cannot set headers) answers CSV with a header row.
 *
 *   GET  /v1/datasets
 *   GET  /v1/datasets/:name
 *   POST /v1/query                 JSON body, as tRPC's `query`
 *   GET  /v1/query?dataset=orders&dimensions=region&metrics=revenue[&filter=region:in:north,south]
 *        [&timeGrain=month][&orderBy=-revenue,region][&limit=100][&offset=0][&format=csv]
 */
import { Hono, type Context } from 'hono';
import { tenantAccess, type AccessDeps, type TenantAccess } from '../access/tiers.js';
import { toAppError } from '../lib/error-mapping.js';
import { AppError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { queryDataset, type AnalyticsDeps } from '../modules/analytics/analytics.service.js';
import { findDataset, type Catalog } from '../modules/analytics/catalog.js';
import { describeDataset, listDatasets, parseQueryInput } from '../modules/analytics/query.service.js';
import { toCsv } from './csv.js';
import { renderError } from '../http/errors.js';
import { requestHeaders } from '../http/request-headers.js';
import { sourceIp } from '../http/source-ip.js';
import type { RequestStatsEnv } from '../http/request-stats.js';

export interface V1Deps extends AccessDeps {
  analytics: AnalyticsDeps;
  log: Logger;
}

type V1Env = RequestStatsEnv & { Variables: { access: TenantAccess } };

function wantsCsv(c: Context): boolean {
  return c.req.query('format') === 'csv' || (requestHeaders(c).get('accept') ?? '').toLowerCase().includes('text/csv');
}

/** Comma-separated and/or repeated: `dimensions=region,status` or `dimensions=region&dimensions=status`. */
function list(c: Context, name: string): string[] {
  return (c.req.queries(name) ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

const LIST_OPS = new Set(['in', 'not_in', 'between']);
const NO_VALUE_OPS = new Set(['is_null', 'is_not_null']);

/** A URL value in the dimension's type, so `amount:gt:100` compares numbers; the engine checks the rest. */
function typed(catalog: Catalog, dataset: string, dimension: string, raw: string): unknown {
  const type = findDataset(catalog, dataset)?.dimensions.find((d) => d.name === dimension)?.type;
  if (type === 'number' && raw.trim() !== '' && !Number.isNaN(Number(raw))) return Number(raw);
  if (type === 'boolean' && (raw === 'true' || raw === 'false')) return raw === 'true';
  return raw;
}

/** `filter=<dimension>:<op>[:<value>[,<value>…]]`, repeatable; or `filters=<JSON array>`. */
function filtersFrom(c: Context, catalog: Catalog, dataset: string): unknown[] {
  const json = c.req.query('filters');
  let filters: unknown[] = [];
  if (json !== undefined) {
    try {
      const parsed: unknown = JSON.parse(json);
      filters = Array.isArray(parsed) ? parsed : [parsed];
    } catch {
      throw new AppError('INVALID_INPUT', 'filters: expected a JSON array of { dimension, op, value | values }.');
    }
  }
  for (const [index, text] of (c.req.queries('filter') ?? []).entries()) {
    const [dimension = '', op = '', ...rest] = text.split(':');
    const raw = rest.join(':');
    if (!dimension || !op) {
      throw new AppError('INVALID_FILTER', `filter[${index}]: expected <dimension>:<op>[:<value>], e.g. region:eq:north or amount:between:10,100.`);
    }
    if (NO_VALUE_OPS.has(op)) filters.push({ dimension, op });
    else if (LIST_OPS.has(op)) filters.push({ dimension, op, values: raw.split(',').map((v) => typed(catalog, dataset, dimension, v)) });
    else filters.push({ dimension, op, value: typed(catalog, dataset, dimension, raw) });
  }
  return filters;
}

/** `orderBy=-revenue,region`: a leading `-` sorts descending. */
function orderByFrom(c: Context): { field: string; direction: 'asc' | 'desc' }[] {
  return list(c, 'orderBy').map((f) => (f.startsWith('-') ? { field: f.slice(1), direction: 'desc' } : { field: f, direction: 'asc' }));
}

function number(c: Context, name: string): number | undefined {
  const raw = c.req.query(name);
  return raw === undefined || raw === '' ? undefined : Number(raw);
}

function queryFromUrl(c: Context, catalog: Catalog): unknown {
  const dataset = c.req.query('dataset') ?? '';
  return {
    dataset,
    dimensions: list(c, 'dimensions'),
    metrics: list(c, 'metrics'),
    filters: filtersFrom(c, catalog, dataset),
    timeGrain: c.req.query('timeGrain') || undefined,
    orderBy: orderByFrom(c),
    limit: number(c, 'limit'),
    offset: number(c, 'offset'),
  };
}

export function v1Routes(deps: V1Deps) {
  const v1 = new Hono<V1Env>();

  v1.onError((error, c) => {
    const known = toAppError(error);
    if (known) return renderError(c, known, c.get('requestId'));
    deps.log('error', 'request failed', { requestId: c.get('requestId'), path: c.req.path, error: String(error) });
    return renderError(c, new AppError('INTERNAL', 'Internal server error; quote the request id when reporting it.'), c.get('requestId'));
  });

  // The access layer's tenant tier, as tRPC's tenantProcedure: same checks, order and messages.
  v1.use('*', async (c, next) => {
    const access = await tenantAccess(deps, {
      requestId: c.get('requestId'),
      headers: requestHeaders(c),
      sourceIp: sourceIp(c),
      resHeaders: { set: (name, value) => c.header(name, value) },
      stats: c.get('stats'),
    }, 'viewer');
    c.set('access', access);
    await next();
  });

  v1.get('/datasets', (c) => c.json({ datasets: listDatasets(deps.analytics.catalog) }));
  v1.get('/datasets/:name', (c) => c.json(describeDataset(deps.analytics.catalog, c.req.param('name'))));

  const answer = async (c: Context<V1Env>, raw: unknown) => {
    const input = parseQueryInput(raw);
    const { principal, actor } = c.get('access');
    const result = await queryDataset(deps.reader, deps.analytics, { tenantId: principal.tenantId, role: principal.role, actor }, input);
    const stats = c.get('stats');
    stats.datasetQuery = true;
    stats.cacheHit = result.cached;
    c.header('X-Palisade-Cache', result.cached ? 'hit' : 'miss');
    c.header('X-Palisade-Truncated', String(result.truncated));
    if (!wantsCsv(c)) return c.json(result);
    c.header('Content-Disposition', `inline; filename="${input.dataset}.csv"`);
    return c.body(toCsv(result.columns, result.rows), 200, { 'Content-Type': 'text/csv; charset=utf-8' });
  };

  v1.get('/query', (c) => answer(c, queryFromUrl(c, deps.analytics.catalog)));
  v1.post('/query', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new AppError('INVALID_JSON', 'The request body must be JSON: { "dataset": …, "dimensions": […], "metrics": […] }.');
    }
    return answer(c, body);
  });

  return v1;
}
