/**
 * One record per API request, written when the response is ready: usage (Postgres, batched),
 * Prometheus series and alert windows all read the same figures. Layers below fill in what only
 * they know (which tenant, whether a dataset query hit the cache, whether it was rate limited).
 */
import type { MiddlewareHandler } from 'hono';
import type { RequestStats } from '../access/request.js';
import type { Clock } from '../lib/clock.js';
import type { AlertMonitor } from '../modules/usage/alerts.js';
import type { MetricsRegistry, Transport } from '../platform/metrics/metrics.js';
import type { UsageRecorder } from '../modules/usage/usage.js';
import type { RequestIdEnv } from './request-id.js';


export type RequestStatsEnv = RequestIdEnv & { Variables: { stats: RequestStats } };

export interface Observers {
  usage: UsageRecorder;
  metrics: MetricsRegistry;
  alerts: AlertMonitor;
  clock: Clock;
}

/**
 * Requests refused for load are counted as such, not as errors: rate-limited ones (429) and those
 * refused by their tenant's bulkhead (503 TENANT_BUSY). Other 4xx and 5xx are errors.
 */
function isError(status: number, stats: RequestStats): boolean {
  return status >= 400 && status !== 429 && stats.tenantBusy !== true;
}

export function observeRequests(transport: Transport, { usage, metrics, alerts, clock }: Observers): MiddlewareHandler<RequestStatsEnv> {
  return async (c, next) => {
    const stats: RequestStats = {};
    c.set('stats', stats);
    const started = performance.now();
    await next();
    const durationMs = performance.now() - started;
    const status = c.res.status;
    const tenant = stats.tenantSlug ?? null;
    metrics.observeRequest({ tenant, transport, status, durationMs });
    if (stats.datasetQuery) metrics.cacheResult(tenant, stats.cacheHit === true);
    if (stats.rateLimited) metrics.rateLimited(tenant);
    if (stats.tenantBusy) metrics.tenantBusy(tenant);
    if (!stats.tenantId) return;
    const event = {
      at: clock(),
      durationMs,
      datasetQuery: stats.datasetQuery === true,
      cacheHit: stats.cacheHit === true,
      error: isError(status, stats),
      rateLimited: stats.rateLimited === true,
      tenantBusy: stats.tenantBusy === true,
    };
    usage.record(stats.tenantId, event);
    alerts.observe(stats.tenantId, stats.tenantSlug ?? stats.tenantId, event);
  };
}
