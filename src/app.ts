/**
 * Builds the HTTP application; no business logic here. Order matters:
 * `Connection: close` while draining first (it must see every response, http/lifecycle.ts), then
 * request id (every response and log line carries it), then health probes (no auth), then
 * the request observer on the API mounts (usage, metrics, alerts), then tRPC at /trpc (auth per
 * procedure tier, see trpc/init.ts) and REST at /v1, then /metrics, then the dashboard's files
 * (http/web-assets.ts; never for API paths), then the REST 404/500 envelope. Requests refused
 * because of the database (503 DATABASE_*) are reported to the database health (http/
 * database-health.ts), which logs an outage once rather than per request. Everything the app
 * needs arrives in `deps`, built by the composition root (deps.ts), so tests build apps without
 * touching env.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import type { Engine } from '../db/citus.js';
import { assertServedHere, authenticateRequest } from './access/authenticate.js';
import type { DatabaseHealth } from './http/database-health.js';
import { renderError } from './http/errors.js';
import { closeConnectionsWhenDraining, type Lifecycle } from './http/lifecycle.js';
import { metricsRoute } from './http/metrics-route.js';
import { refreshPoolGauge } from './http/metrics-server.js';
import { requestId } from './http/request-id.js';
import { observeRequests, type RequestStatsEnv } from './http/request-stats.js';
import { sourceIp } from './http/source-ip.js';
import { trpcRoute } from './trpc/trpc-route.js';
import { odataRoutes } from './odata/odata-routes.js';
import { v1Routes } from './rest/v1-routes.js';
import { webAssets } from './http/web-assets.js';
import { databaseUnavailable, toAppError } from './lib/error-mapping.js';
import { AppError } from './lib/errors.js';
import type { Logger } from './lib/log.js';
import type { MetricsRegistry } from './platform/metrics/metrics.js';
import { appRouter } from './trpc/app-router.js';
import type { ServerDeps } from './trpc/context.js';

/** Everything the app needs, built by the composition root (deps.ts); nothing here has a default. */
export interface AppDeps extends ServerDeps {
  log: Logger;
  metrics: MetricsRegistry;
  /** The app pool's size, for the saturation gauge. */
  poolMax: number;
  /** False when /metrics is served on its own port instead (METRICS_PORT). */
  serveMetrics: boolean;
  /** The built dashboard; false: no dashboard at `/`. */
  webRoot: string | false;
  /** Plain Postgres or a Citus coordinator (db/citus.ts): shown by /readyz and the banner. */
  engine: Engine;
  /** Rows per OData response (odata/odata-routes.ts). */
  odataPageSize: number;
  /** `draining` from SIGTERM on (index.ts): /readyz says 503 and responses close their connections. */
  lifecycle: Lifecycle;
  /** The readiness probe and outage log (http/database-health.ts). */
  health: DatabaseHealth;
}

export function createApp(deps: AppDeps) {
  const { pool, log, clock, metrics, lifecycle, health } = deps;
  const observers = { usage: deps.usage, metrics, alerts: deps.alerts, clock };

  const app = new Hono<RequestStatsEnv>();
  app.use(closeConnectionsWhenDraining(lifecycle));
  app.use(requestId);

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // Answers within a second in every state: the probe has its own connection and a time limit.
  app.get('/readyz', async (c) => {
    const shuttingDown = () =>
      renderError(c, new AppError('SHUTTING_DOWN', 'The server is shutting down; send requests to another instance.'), c.get('requestId'));
    if (lifecycle.draining) return shuttingDown();
    const probe = await health.probe();
    // Asked again: a shutdown that began during the probe must not answer "ready" (and close the connection).
    if (lifecycle.draining) return shuttingDown();
    // The replica's state is a detail: reads fall back to the primary, so it never makes the server unready.
    const replica = deps.reader.replicaStatus();
    if (probe.ok) return c.json({ status: 'ready', engine: deps.engine, ...(replica && { replica }) });
    return renderError(c, databaseUnavailable(probe.error), c.get('requestId'));
  });

  app.use('/trpc/*', observeRequests('trpc', observers));
  app.use('/v1/*', observeRequests('rest', observers));
  app.use('/odata', observeRequests('odata', observers));
  app.use('/odata/*', observeRequests('odata', observers));
  // REST and OData errors reach Hono (tRPC's are reported in its onError below).
  const noteRefusals: MiddlewareHandler<RequestStatsEnv> = async (c, next) => {
    await next();
    const refused = c.error ? toAppError(c.error) : undefined;
    if (refused?.code === 'SERVICE_UNAVAILABLE') health.noteRefused(refused, c.get('requestId'));
  };
  app.use('/v1/*', noteRefusals);
  app.use('/odata', noteRefusals);
  app.use('/odata/*', noteRefusals);

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
        abortSignal: () => c.req.raw.signal,
        deps,
      }),
      onError(error, path, c) {
        if (error.code === 'SERVICE_UNAVAILABLE' && error.cause instanceof AppError) health.noteRefused(error.cause, c.get('requestId'));
        if (error.code === 'INTERNAL_SERVER_ERROR') {
          log('error', 'procedure failed', { requestId: c.get('requestId'), path, error: String(error.cause ?? error) });
        }
      },
    }),
  );

  app.route('/v1', v1Routes(deps));
  app.route('/', odataRoutes(deps));

  if (deps.serveMetrics !== false) {
    app.get('/metrics', refreshPoolGauge(metrics, pool, deps.poolMax), metricsRoute({ registry: metrics, authorize: (headers) => authorizeMetrics(deps, headers) }));
  }

  if (deps.webRoot !== false) app.use('*', webAssets(deps.webRoot));

  app.notFound((c) => renderError(c, new AppError('ROUTE_NOT_FOUND', `No route for ${c.req.method} ${c.req.path}.`), c.get('requestId')));
  app.onError((error, c) => {
    const known = toAppError(error);
    if (known) {
      if (known.code === 'SERVICE_UNAVAILABLE') health.noteRefused(known, c.get('requestId'));
      return renderError(c, known, c.get('requestId'));
    }
    log('error', 'unhandled error', { requestId: c.get('requestId'), error: String(error) });
    return renderError(c, new AppError('INTERNAL', 'Internal server error; quote the request id when reporting it.'), c.get('requestId'));
  });
  return app;
}

/** /metrics on the API port answers only to a platform-admin key: labels name tenants. */
async function authorizeMetrics(deps: AppDeps, headers: Headers): Promise<void> {
  const principal = await authenticateRequest(deps.pool, headers, deps.clock(), deps.credentialCache);
  assertServedHere(deps.servedTenant, principal);
  if (principal.kind !== 'platform') {
    throw new AppError('PLATFORM_ADMIN_REQUIRED', '/metrics needs a platform-admin key (pa_…), or serve it on its own port with METRICS_PORT.');
  }
}
