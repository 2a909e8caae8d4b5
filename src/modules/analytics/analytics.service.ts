/**
 * Dataset queries as the API serves them: the cache in front of the engine, the audit event
 * behind it. The cache key holds the tenant, the role, the tenant's data version and the catalog's
 * fingerprint, so two tenants (or two roles) never share an entry, a write empties the tenant's
 * entries, and a changed catalog never serves results computed under the old one.
 */
import { createHash } from 'node:crypto';
import { drizzleOver, type Sql } from '../../../db/client.js';
import type { TenantReader } from '../../../db/tenant-read.js';
import { withTenant } from '../../../db/tenant-tx.js';
import { notFound } from '../../lib/errors.js';
import type { AuditBuffer } from '../audit-log/audit-buffer.js';
import { recordPlatformEvent, type Actor } from '../audit-log/audit.service.js';
import { findDataset, type Catalog } from './catalog.js';
import { cacheKey, type QueryCache } from '../../platform/query-cache/query-cache.js';
import { inputKey, readCount, readQuery, runQuery, runQueryAcrossTenants, type QueryInput } from './query.service.js';

export interface AnalyticsDeps {
  catalog: Catalog;
  cache: QueryCache;
  statementTimeoutMs: number;
  /** Used when the dataset sets no `cacheTtlSeconds` of its own; 0 turns caching off. */
  cacheTtlSeconds: number;
  /** Where tenants' `dataset.query` events wait for their batch (the caller flushes it). */
  audit: AuditBuffer;
}

export type QueryOutput = Awaited<ReturnType<typeof runQuery>> & {
  /** Rows in all, ignoring limit and offset: only when asked for (`count: true`). */
  totalCount?: number;
};
export interface QueryResponse extends QueryOutput {
  cached: boolean;
  durationMs: number;
}

const fingerprints = new WeakMap<Catalog, string>();

function catalogFingerprint(catalog: Catalog): string {
  let print = fingerprints.get(catalog);
  if (!print) {
    print = createHash('sha256').update(JSON.stringify(catalog.datasets)).digest('hex').slice(0, 16);
    fingerprints.set(catalog, print);
  }
  return print;
}

function ttlMs(deps: AnalyticsDeps, dataset: string): number {
  const ownTtl = findDataset(deps.catalog, dataset)?.cacheTtlSeconds;
  return (ownTtl ?? deps.cacheTtlSeconds) * 1000;
}

/** Which API a query came through, for the audit log. */
export type QueryTransport = 'trpc' | 'rest' | 'odata';

export interface QueryOptions {
  via?: QueryTransport;
  /** Also count the rows the query has in all (one more statement, cached with the page). */
  count?: boolean;
}

function auditDetails(input: QueryInput, output: QueryOutput, durationMs: number, cacheHit: boolean, via?: QueryTransport) {
  return {
    ...(via && { via }),
    dataset: input.dataset,
    dimensions: input.dimensions,
    metrics: input.metrics,
    filters: input.filters.length,
    timeGrain: input.timeGrain ?? null,
    rowCount: output.rowCount,
    durationMs: Math.round(durationMs),
    cacheHit,
  };
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

/**
 * A tenant's own query: cached per tenant and role; audited as `dataset.query`, hit or miss, in
 * the next audit batch (repeated hits of one entry by one caller counted in one event). A miss is
 * one read-only statement in one round trip (TenantReader), with the statement timeout set in the
 * same message.
 */
export async function queryDataset(
  reader: TenantReader,
  deps: AnalyticsDeps,
  caller: { tenantId: string; role: string; actor: Actor },
  input: QueryInput,
  options: QueryOptions = {},
): Promise<QueryResponse> {
  const started = performance.now();
  const ttl = ttlMs(deps, input.dataset);
  const text = inputKey(input);
  const { via, count = false } = options;
  const key =
    ttl > 0
      ? cacheKey({
          tenantId: caller.tenantId,
          role: caller.role,
          version: await deps.cache.tenantVersion(caller.tenantId),
          request: `${catalogFingerprint(deps.catalog)}:${count ? 'count:' : ''}${text}`,
        })
      : undefined;
  const hit = key ? await deps.cache.get(key) : undefined;
  const at = new Date();
  if (key && hit !== undefined) {
    const output = JSON.parse(hit) as QueryOutput;
    // The same caller reading the same entry again folds into one event per flush (audit-buffer.ts).
    deps.audit.recordRepeat(caller.tenantId, caller.actor, { action: 'dataset.query', targetType: 'dataset', details: auditDetails(input, output, elapsed(started), true, via) }, at, key);
    return { ...output, cached: true, durationMs: elapsed(started) };
  }
  const { statementTimeoutMs } = deps;
  const read = { statementTimeoutMs, inputKey: text };
  const [page, totalCount] = await Promise.all([
    readQuery(reader, caller.tenantId, deps.catalog, input, read),
    count ? readCount(reader, caller.tenantId, deps.catalog, input, read) : undefined,
  ]);
  const output: QueryOutput = totalCount === undefined ? page : { ...page, totalCount };
  deps.audit.record(caller.tenantId, caller.actor, { action: 'dataset.query', targetType: 'dataset', details: auditDetails(input, output, elapsed(started), false, via) }, at);
  if (key) await deps.cache.set(key, JSON.stringify(output), ttl);
  return { ...output, cached: false, durationMs: elapsed(started) };
}

/**
 * A platform admin's query of one named tenant: on the platform role's pool, under that tenant's
 * policies, never cached (admins' reads must not warm or read a tenant's entries), and audited in
 * the platform log in the same transaction.
 */
export async function queryTenantAsAdmin(
  platformPool: Sql,
  deps: AnalyticsDeps,
  tenantId: string,
  input: QueryInput,
  actor: Actor,
): Promise<QueryResponse> {
  const started = performance.now();
  const [tenant] = await platformPool<{ id: string }[]>`select id from tenants where id = ${tenantId}`;
  if (!tenant) throw notFound('Tenant');
  const output = await withTenant(platformPool, tenantId, async (tx) => {
    const result = await runQuery(tx, deps.catalog, input, { statementTimeoutMs: deps.statementTimeoutMs });
    await recordPlatformEvent(tx, actor, { action: 'dataset.query', targetType: 'dataset', tenantId, details: auditDetails(input, result, elapsed(started), false) });
    return result;
  });
  return { ...output, cached: false, durationMs: elapsed(started) };
}

/**
 * The same query over every tenant, with `tenant` (the slug) as an extra leading dimension. Each
 * tenant's part runs in its own transaction under its own policies; no statement ever sees two
 * tenants' rows. Audited once in the platform log.
 */
export async function queryAllTenantsAsAdmin(platformPool: Sql, deps: AnalyticsDeps, input: QueryInput, actor: Actor): Promise<QueryResponse> {
  const started = performance.now();
  const tenants = await platformPool<{ id: string; slug: string }[]>`select id, slug from tenants order by slug`;
  const output = await runQueryAcrossTenants(
    tenants,
    (tenantId, perTenant) => withTenant(platformPool, tenantId, (tx) => runQuery(tx, deps.catalog, perTenant, { statementTimeoutMs: deps.statementTimeoutMs })),
    input,
  );
  await recordPlatformEvent(drizzleOver(platformPool), actor, {
    action: 'dataset.query_all',
    targetType: 'dataset',
    details: { ...auditDetails(input, output, elapsed(started), false), tenants: tenants.length },
  });
  return { ...output, cached: false, durationMs: elapsed(started) };
}
