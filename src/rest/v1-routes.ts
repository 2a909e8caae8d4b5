/**
 * REST for BI tools and curl: the same credentials, rate limits, engine and cache as tRPC's
 * `datasets.*` and `query`, with the REST error envelope. `Accept: text/csv` (or `format=csv`, for
 * tools that cannot set headers) answers CSV with a header row.
 *
 *   GET  /v1/openapi.json          this API as OpenAPI 3.1 (openapi.ts), public
 *   GET  /v1/datasets
 *   GET  /v1/datasets/:name
 *   POST /v1/query                 JSON body, as tRPC's `query`
 *   GET  /v1/query?dataset=orders&dimensions=region&metrics=revenue[&filter=region:in:north,south]
 *        [&timeGrain=month][&orderBy=-revenue,region][&limit=100][&offset=0][&format=csv]
 *
 * URL parameters are read through their zod schemas in schemas.ts, which the document is built
 * from too; test/openapi.test.ts holds the document to the routes registered here.
 */
import { Hono, type Context } from 'hono';
import type { z } from 'zod';
import { tenantAccess, type AccessDeps, type TenantAccess } from '../access/tiers.js';
import { toAppError } from '../lib/error-mapping.js';
import { AppError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { queryDataset, type AnalyticsDeps } from '../modules/analytics/analytics.service.js';
import { findDataset, type Catalog } from '../modules/analytics/catalog.js';
import { describeDataset, listDatasets, parseQueryInput } from '../modules/analytics/query.service.js';
import { toCsv } from './csv.js';
import { openApiDocument } from './openapi.js';
import {
  queryFormatParams,
  queryUrlParams,
  urlParameters,
  type DatasetDescription,
  type DatasetList,
  type QueryFormat,
  type QueryResultBody,
  type UrlParameter,
} from './schemas.js';
import { renderError } from '../http/errors.js';
import { accessRequestOf } from '../http/access-request.js';
import { requestHeaders } from '../http/request-headers.js';
import type { RequestStatsEnv } from '../http/request-stats.js';

export interface V1Deps extends AccessDeps {
  analytics: AnalyticsDeps;
  log: Logger;
}

type V1Env = RequestStatsEnv & { Variables: { access: TenantAccess } };

/** `format` when given (for tools that cannot set headers), else `Accept: text/csv`. */
function wantsCsv(c: Context, format: QueryFormat | undefined): boolean {
  return format ? format === 'csv' : (requestHeaders(c).get('accept') ?? '').toLowerCase().includes('text/csv');
}

/**
 * The URL parameters `schema` declares, parsed by it: every value of a list (they repeat), the
 * first of the others; empty values count as absent. Others in the URL are ignored.
 */
function readUrl<S extends z.ZodObject>(c: Context, schema: S, declared: readonly UrlParameter[]): z.output<S> {
  const raw: Record<string, string | string[]> = {};
  for (const { name, repeated } of declared) {
    const values = (c.req.queries(name) ?? []).filter((v) => v !== '');
    if (values.length > 0) raw[name] = repeated ? values : values[0]!;
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw new AppError('INVALID_QUERY', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
}

const QUERY_URL = urlParameters(queryUrlParams);
const FORMAT_URL = urlParameters(queryFormatParams);

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
function filtersFrom(params: z.output<typeof queryUrlParams>, catalog: Catalog): unknown[] {
  let filters: unknown[] = [];
  if (params.filters !== undefined) {
    try {
      const parsed: unknown = JSON.parse(params.filters);
      filters = Array.isArray(parsed) ? parsed : [parsed];
    } catch {
      throw new AppError('INVALID_INPUT', 'filters: expected a JSON array of filters: { dimension | metric, op, value | values } or { and | or: [...] } or { not: {...} }.');
    }
  }
  for (const [index, text] of (params.filter ?? []).entries()) {
    const [dimension = '', op = '', ...rest] = text.split(':');
    const raw = rest.join(':');
    if (!dimension || !op) {
      throw new AppError('INVALID_FILTER', `filter[${index}]: expected <dimension>:<op>[:<value>], e.g. region:eq:north or amount:between:10,100.`);
    }
    if (NO_VALUE_OPS.has(op)) filters.push({ dimension, op });
    else if (LIST_OPS.has(op)) filters.push({ dimension, op, values: raw.split(',').map((v) => typed(catalog, params.dataset, dimension, v)) });
    else filters.push({ dimension, op, value: typed(catalog, params.dataset, dimension, raw) });
  }
  return filters;
}

/** The URL's query for the engine to validate (parseQueryInput), and the answer's format. */
function queryFromUrl(c: Context, catalog: Catalog): { raw: unknown; format: QueryFormat | undefined } {
  const params = readUrl(c, queryUrlParams, QUERY_URL);
  const { dataset, dimensions, metrics, timeGrain, orderBy, limit, offset, format } = params;
  return { raw: { dataset, dimensions, metrics, filters: filtersFrom(params, catalog), timeGrain, orderBy, limit, offset }, format };
}

export function v1Routes(deps: V1Deps) {
  const v1 = new Hono<V1Env>();

  v1.onError((error, c) => {
    const known = toAppError(error);
    if (known) return renderError(c, known, c.get('requestId'));
    deps.log('error', 'request failed', { requestId: c.get('requestId'), path: c.req.path, error: String(error) });
    return renderError(c, new AppError('INTERNAL', 'Internal server error; quote the request id when reporting it.'), c.get('requestId'));
  });

  // Public, like PostgREST's root: registered before the tenant tier, so it needs no key and spends
  // no rate-limit budget. Built on first request, once per server (it holds the server's catalog).
  let openapi: string | undefined;
  v1.get('/openapi.json', (c) => {
    openapi ??= JSON.stringify(openApiDocument(deps.analytics.catalog));
    return c.body(openapi, 200, { 'Content-Type': 'application/json; charset=utf-8' });
  });

  // The access layer's tenant tier, as tRPC's tenantProcedure: same checks, order and messages.
  // The handler runs inside, holding one of the tenant's permits until it returns or throws.
  v1.use('*', (c, next) =>
    tenantAccess(
      deps,
      accessRequestOf(c),
      'viewer',
      async (access) => {
        c.set('access', access);
        await next();
      },
    ),
  );

  // `satisfies`: the answers keep to the response schemas the document is built from.
  v1.get('/datasets', (c) => c.json({ datasets: listDatasets(deps.analytics.catalog) } satisfies DatasetList));
  v1.get('/datasets/:name', (c) => c.json(describeDataset(deps.analytics.catalog, c.req.param('name')) satisfies DatasetDescription));

  const answer = async (c: Context<V1Env>, raw: unknown, format: QueryFormat | undefined) => {
    const input = parseQueryInput(raw);
    const { principal, actor } = c.get('access');
    const result = await queryDataset(deps.reader, deps.analytics, { tenantId: principal.tenantId, role: principal.role, actor }, input, { via: 'rest' });
    const stats = c.get('stats');
    stats.datasetQuery = true;
    stats.cacheHit = result.cached;
    c.header('X-Palisade-Cache', result.cached ? 'hit' : 'miss');
    c.header('X-Palisade-Truncated', String(result.truncated));
    if (!wantsCsv(c, format)) return c.json(result satisfies QueryResultBody);
    c.header('Content-Disposition', `inline; filename="${input.dataset}.csv"`);
    return c.body(toCsv(result.columns, result.rows), 200, { 'Content-Type': 'text/csv; charset=utf-8' });
  };

  v1.get('/query', (c) => {
    const { raw, format } = queryFromUrl(c, deps.analytics.catalog);
    return answer(c, raw, format);
  });
  v1.post('/query', async (c) => {
    const { format } = readUrl(c, queryFormatParams, FORMAT_URL);
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new AppError('INVALID_JSON', 'The request body must be JSON: { "dataset": …, "dimensions": […], "metrics": […] }.');
    }
    return answer(c, body, format);
  });

  return v1;
}
