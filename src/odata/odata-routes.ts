/**
 * OData v4 (read-only, JSON) over the dataset catalog, for Power BI, Excel and Tableau:
 *
 *   GET /odata/                 service document (the tenant's entity sets)
 *   GET /odata/$metadata        CSDL XML: one entity type and set per dataset
 *   GET /odata/<set>            rows, with $select $filter $orderby $top $skip $count $apply
 *   GET /odata/<set>/$count     the number of rows, as text
 *
 * Every request, `$metadata` included, needs a tenant credential (credential.ts) and spends the
 * same rate budget as REST and tRPC; queries go through the same engine, cache and audit
 * (`dataset.query` with `via: odata`). Errors keep OData's shape with our reason codes.
 */
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { tenantAccess, type AccessDeps, type TenantAccess } from '../access/tiers.js';
import { toAppError } from '../lib/error-mapping.js';
import { AppError, HTTP_STATUS } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { queryDataset, type AnalyticsDeps } from '../modules/analytics/analytics.service.js';
import { requireDataset } from '../modules/analytics/query-sql.js';
import { accessRequestOf } from '../http/access-request.js';
import { requestHeaders } from '../http/request-headers.js';
import type { RequestStatsEnv } from '../http/request-stats.js';
import { odataCredential, redactedUrl } from './credential.js';
import { entities, entitySetRead, inODataTerms, nextLinkFor } from './entity-set.js';
import { metadataXml, serviceDocument } from './metadata.js';
import { parseODataQuery } from './query-options.js';

export interface ODataDeps extends AccessDeps {
  analytics: AnalyticsDeps;
  log: Logger;
  /** Rows per response at most; `@odata.nextLink` leads on. */
  odataPageSize: number;
}

type ODataEnv = RequestStatsEnv & { Variables: { access: TenantAccess } };

/** Where the service lives; every route below is under it. */
export const ROOT = '/odata';

const JSON_TYPE = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

/** The service root as the client addressed it, e.g. `http://localhost:3000/odata`. */
function serviceRoot(c: Context): string {
  const url = new URL(c.req.url);
  return `${url.origin}${ROOT}`;
}

function odataJson(c: Context, body: unknown) {
  return c.body(JSON.stringify(body), 200, { 'Content-Type': JSON_TYPE });
}

/** `{ error: { code, message } }`, code being our reason; the request id as an inner error. */
function renderODataError(c: Context<ODataEnv>, error: AppError) {
  if (error.retryAfterSeconds !== undefined) c.header('Retry-After', String(error.retryAfterSeconds));
  // Lets Excel and Power BI ask for the Basic credential instead of failing.
  if (error.code === 'UNAUTHORIZED') c.header('WWW-Authenticate', 'Basic realm="Palisade", charset="UTF-8"');
  const body = { error: { code: error.reason, message: error.message, innererror: { requestId: c.get('requestId') } } };
  return c.body(JSON.stringify(body), HTTP_STATUS[error.code] as ContentfulStatusCode, { 'Content-Type': JSON_TYPE });
}

function readOnly(): never {
  throw new AppError('METHOD_NOT_SUPPORTED', 'The OData service is read-only: GET the service document, $metadata or an entity set.');
}

export function odataRoutes(deps: ODataDeps) {
  const odata = new Hono<ODataEnv>();
  const { catalog } = deps.analytics;

  odata.onError((error, c) => {
    const known = toAppError(error);
    if (known) return renderODataError(c, inODataTerms(known));
    deps.log('error', 'request failed', { requestId: c.get('requestId'), url: redactedUrl(new URL(c.req.url)), error: String(error) });
    return renderODataError(c, new AppError('INTERNAL', 'Internal server error; quote the request id when reporting it.'));
  });

  // Mounted at the root with its own prefix: Hono joins a mount's `/` to `/odata`, and BI tools ask for `/odata/` too.
  odata.use(ROOT, guard);
  odata.use(`${ROOT}/*`, guard);
  async function guard(c: Context<ODataEnv>, next: () => Promise<void>) {
    c.header('OData-Version', '4.0');
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      if (c.req.path.endsWith('/$batch')) throw new AppError('UNSUPPORTED_OPTION', '$batch is not supported: send each request on its own.');
      readOnly();
    }
    // The handler runs inside, holding one of the tenant's permits until it returns or throws.
    await tenantAccess(
      deps,
      accessRequestOf(c, odataCredential(requestHeaders(c), new URL(c.req.url))),
      'viewer',
      async (access) => {
        c.set('access', access);
        await next();
      },
    );
  }

  const service = (c: Context<ODataEnv>) => odataJson(c, serviceDocument(catalog, serviceRoot(c)));
  odata.get(ROOT, service);
  odata.get(`${ROOT}/`, service);
  odata.get(`${ROOT}/$metadata`, (c) => c.body(metadataXml(catalog), 200, { 'Content-Type': 'application/xml;charset=utf-8' }));

  /** One page of a set, or its count (`$count` path segment: text, and no paging). */
  const read = async (c: Context<ODataEnv>, countOnly: boolean) => {
    const name = c.req.param('set') ?? '';
    if (name.includes('(')) throw new AppError('UNSUPPORTED_OPTION', `Addressing one entity (${name}) is not supported: filter the set with $filter instead.`);
    const dataset = requireDataset(catalog, name);
    const url = new URL(c.req.url);
    const options = parseODataQuery(url.searchParams, dataset);
    const { input, grain, empty } = entitySetRead(dataset, countOnly ? { ...options, top: 1, skip: 0, orderBy: [] } : options, deps.odataPageSize);
    const { principal, actor } = c.get('access');
    const result = await queryDataset(deps.reader, deps.analytics, { tenantId: principal.tenantId, role: principal.role, actor }, input, {
      via: 'odata',
      count: countOnly || options.count,
    });
    const stats = c.get('stats');
    stats.datasetQuery = true;
    stats.cacheHit = result.cached;
    c.header('X-Palisade-Cache', result.cached ? 'hit' : 'miss');
    if (countOnly) return c.text(String(result.totalCount ?? 0));
    const rows = empty ? [] : result.rows;
    const selected = options.select ?? (options.apply && [...options.apply.dimensions, ...options.apply.metrics]);
    return odataJson(c, {
      '@odata.context': `${serviceRoot(c)}/$metadata#${dataset.name}${selected ? `(${selected.join(',')})` : ''}`,
      ...(options.count && { '@odata.count': result.totalCount ?? 0 }),
      value: entities(rows, grain, options.select),
      ...(!empty && result.truncated && { '@odata.nextLink': nextLinkFor(url.href, options.skip, rows.length) }),
    });
  };
  odata.get(`${ROOT}/:set/$count`, (c) => read(c, true));
  odata.get(`${ROOT}/:set`, (c) => read(c, false));

  return odata;
}
