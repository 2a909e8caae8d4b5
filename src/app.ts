/**
 * Builds the HTTP application; no business logic here. Order matters:
 * `Connection: close` while draining first (it must see every response, http/lifecycle.ts), then
 * request id (every response and log line carries it), then health probes (no auth), then
 * the request observer on the API mounts (usage, metrics, alerts), then tRPC at /trpc (auth per
 * procedure tier, see trpc/init.ts) and REST at /v1, then /metrics, then the dashboard's files
 * (http/web-assets.ts; never for API paths), then the REST 404/500 envelope. Requests refused
 * because of the database (503 DATABASE_*) are reported to the database health (http/
 * database-health.ts), which logs an outage once rather than per request. Everything the app
 * needs arrives in `deps`, so tests build apps without touching env; the analytics parts default
 * to in-process ones (memory cache and limits, the shipped catalog).
 */
import { Hono } from 'hono';
import type { Sql } from '../db/client.js';
import { fromPackageRoot } from '../db/package-root.js';
import type { TenantReader } from '../db/tenant-read.js';
import { authenticateRequest } from './access/authenticate.js';
import { DatabaseHealth } from './http/database-health.js';
import { renderError } from './http/errors.js';
import { closeConnectionsWhenDraining, type Lifecycle } from './http/lifecycle.js';
import { metricsRoute } from './http/metrics-route.js';
import { refreshPoolGauge } from './http/metrics-server.js';
import { requestId } from './http/request-id.js';
import { observeRequests, type RequestStatsEnv } from './http/request-stats.js';
import { sourceIp } from './http/source-ip.js';
import { trpcRoute } from './trpc/trpc-route.js';
import { v1Routes } from './rest/v1-routes.js';
import { webAssets } from './http/web-assets.js';
import { systemClock, type Clock } from './lib/clock.js';
import { databaseUnavailable, toAppError } from './lib/error-mapping.js';
import { AppError } from './lib/errors.js';
import { silentLogger, type Logger } from './lib/log.js';
import { AlertMonitor } from './modules/usage/alerts.js';
import { AuditBuffer } from './modules/audit-log/audit-buffer.js';
import { CredentialCache } from './modules/credentials/credential-cache.js';
import { loadCatalog, type Catalog } from './modules/analytics/catalog.js';
import type { LastUsedRecorder } from './modules/credentials/last-used.js';
import { LoginThrottle } from './modules/sessions/login-throttle.js';
import { MetricsRegistry } from './platform/metrics/metrics.js';
import { MemoryQueryCache, type QueryCache } from './platform/query-cache/query-cache.js';
import { MemoryRateLimiter, type RateLimiter } from './platform/rate-limit/rate-limiter.js';
import { UsageRecorder } from './modules/usage/usage.js';
import { appRouter } from './trpc/app-router.js';
import type { ServerDeps } from './trpc/context.js';

/** The catalog that ships with the server (the demo tables). */
export const DEFAULT_CATALOG_PATH = fromPackageRoot('catalog.yaml');

export interface AppDeps {
  /** Pool connected as the app role (never the owner). */
  pool: Sql;
  /** One-statement tenant reads on connections of its own, as the app role; the caller ends it. */
  reader: TenantReader;
  /** Pool connected as the platform role: platform-admin procedures only. */
  platformPool: Sql;
  /** Collects keys' and sessions' last use; the caller flushes it (timer, shutdown). */
  lastUsed: LastUsedRecorder;
  log?: Logger;
  clock?: Clock;
  /** Verified credentials reused for a few seconds (index.ts: CREDENTIAL_CACHE_TTL_MS); default: in process, 5 s. The caller closes it. */
  credentialCache?: CredentialCache;
  sessionTtlMinutes?: number;
  /** Failed sign-in counters; default: in this process (index.ts shares them through Redis when REDIS_URL is set). The caller closes it. */
  loginThrottle?: LoginThrottle;
  /** Validated and checked against the database by the caller (index.ts); default: the shipped one. */
  catalog?: Catalog;
  cache?: QueryCache;
  rateLimiter?: RateLimiter;
  /** Every tenant's request budget; default `600/minute`. */
  tenantRateLimit?: string;
  queryTimeoutMs?: number;
  /** Default cache lifetime of a query result; a dataset may set its own. 0: no caching. */
  cacheTtlSeconds?: number;
  /** Collects per-tenant usage; the caller flushes it (timer, shutdown). */
  usage?: UsageRecorder;
  /** Holds tenants' `dataset.query` audit events until the caller flushes it (timer, shutdown). */
  auditBuffer?: AuditBuffer;
  metrics?: MetricsRegistry;
  alerts?: AlertMonitor;
  /** The app pool's size, for the saturation gauge. */
  poolMax?: number;
  /** False when /metrics is served on its own port instead (index.ts, METRICS_PORT). */
  serveMetrics?: boolean;
  /** The built dashboard (default dist/web); false: no dashboard at `/`. */
  webRoot?: string | false;
  /** `draining` from SIGTERM on (index.ts): /readyz says 503 and responses close their connections. */
  lifecycle?: Lifecycle;
  /**
   * The readiness probe and outage log; index.ts gives one probing on a one-connection pool of its
   * own. Default: probing on the app pool. The caller closes it.
   */
  health?: DatabaseHealth;
}

export function createApp(deps: AppDeps) {
  const { pool, reader, platformPool, lastUsed, log = silentLogger, clock = systemClock, sessionTtlMinutes = 720, loginThrottle = new LoginThrottle() } = deps;
  const credentialCache = deps.credentialCache ?? new CredentialCache();
  const tenantRateLimit = deps.tenantRateLimit ?? '600/minute';
  const rateLimiter = deps.rateLimiter ?? new MemoryRateLimiter();
  const analytics = {
    catalog: deps.catalog ?? loadCatalog(DEFAULT_CATALOG_PATH),
    cache: deps.cache ?? new MemoryQueryCache(),
    statementTimeoutMs: deps.queryTimeoutMs ?? 10_000,
    cacheTtlSeconds: deps.cacheTtlSeconds ?? 60,
    audit: deps.auditBuffer ?? new AuditBuffer(pool, log),
  };
  const usage = deps.usage ?? new UsageRecorder(pool, { clock, log });
  const metrics = deps.metrics ?? new MetricsRegistry();
  const alerts = deps.alerts ?? new AlertMonitor({ clock, log });
  const observers = { usage, metrics, alerts, clock };

  const lifecycle = deps.lifecycle ?? { draining: false };
  const health = deps.health ?? new DatabaseHealth({ sql: pool, log });

  const app = new Hono<RequestStatsEnv>();
  app.use(closeConnectionsWhenDraining(lifecycle));
  app.use(requestId);

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // Answers within a second in every state: the probe has its own connection and a time limit.
  app.get('/readyz', async (c) => {
    const shuttingDown = () =>
      renderError(c, new AppError('SERVICE_UNAVAILABLE', 'SHUTTING_DOWN', 'The server is shutting down; send requests to another instance.'), c.get('requestId'));
    if (lifecycle.draining) return shuttingDown();
    const probe = await health.probe();
    // Asked again: a shutdown that began during the probe must not answer "ready" (and close the connection).
    if (lifecycle.draining) return shuttingDown();
    if (probe.ok) return c.json({ status: 'ready' });
    return renderError(c, databaseUnavailable(probe.error), c.get('requestId'));
  });

  app.use('/trpc/*', observeRequests('trpc', observers));
  app.use('/v1/*', observeRequests('rest', observers));
  // REST errors reach Hono (tRPC's are reported in its onError below).
  app.use('/v1/*', async (c, next) => {
    await next();
    const refused = c.error ? toAppError(c.error) : undefined;
    if (refused?.code === 'SERVICE_UNAVAILABLE') health.noteRefused(refused, c.get('requestId'));
  });

  const serverDeps: ServerDeps = {
    pool,
    reader,
    platformPool,
    clock,
    credentialCache,
    lastUsed,
    sessionTtlMinutes,
    loginThrottle,
    analytics,
    rateLimiter,
    tenantRateLimit,
    usage,
    alerts,
  };
  app.all(
    '/trpc/*',
    trpcRoute({
      router: appRouter,
      createContext: (c, resHeaders, headers) => ({
        requestId: c.get('requestId'),
        headers,
        sourceIp: sourceIp(c),
        resHeaders,
        stats: c.get('stats'),
        deps: serverDeps,
      }),
      onError(error, path, c) {
        if (error.code === 'SERVICE_UNAVAILABLE' && error.cause instanceof AppError) health.noteRefused(error.cause, c.get('requestId'));
        if (error.code === 'INTERNAL_SERVER_ERROR') {
          log('error', 'procedure failed', { requestId: c.get('requestId'), path, error: String(error.cause ?? error) });
        }
      },
    }),
  );

  app.route('/v1', v1Routes({ pool, reader, credentialCache, analytics, rateLimiter, tenantRateLimit, lastUsed, clock, log }));

  if (deps.serveMetrics !== false) {
    app.get('/metrics', refreshPoolGauge(metrics, pool, deps.poolMax ?? 10), metricsRoute({ registry: metrics, authorize: (headers) => authorizeMetrics(pool, headers, clock, credentialCache) }));
  }

  if (deps.webRoot !== false) app.use('*', webAssets(deps.webRoot));

  app.notFound((c) => renderError(c, new AppError('NOT_FOUND', 'ROUTE_NOT_FOUND', `No route for ${c.req.method} ${c.req.path}.`), c.get('requestId')));
  app.onError((error, c) => {
    const known = toAppError(error);
    if (known) {
      if (known.code === 'SERVICE_UNAVAILABLE') health.noteRefused(known, c.get('requestId'));
      return renderError(c, known, c.get('requestId'));
    }
    log('error', 'unhandled error', { requestId: c.get('requestId'), error: String(error) });
    return renderError(c, new AppError('INTERNAL_SERVER_ERROR', 'INTERNAL', 'Internal server error; quote the request id when reporting it.'), c.get('requestId'));
  });
  return app;
}

/** /metrics on the API port answers only to a platform-admin key: labels name tenants. */
async function authorizeMetrics(pool: Sql, headers: Headers, clock: Clock, credentialCache: CredentialCache): Promise<void> {
  const principal = await authenticateRequest(pool, headers, clock(), credentialCache);
  if (principal.kind !== 'platform') {
    throw new AppError('FORBIDDEN', 'PLATFORM_ADMIN_REQUIRED', '/metrics needs a platform-admin key (pa_…), or serve it on its own port with METRICS_PORT.');
  }
}
