/**
 * Builds the HTTP application; no business logic here. Order matters:
 * request id first (every response and log line carries it), then health probes (no auth),
 * then tRPC at /trpc (auth happens per procedure tier, see trpc/init.ts), then the REST 404/500
 * envelope. Everything the app needs arrives in `deps`, so tests build apps without touching env.
 */
import { getConnInfo } from '@hono/node-server/conninfo';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { Hono, type Context as HonoContext } from 'hono';
import type { Sql } from '../db/client.js';
import { renderError } from './http/errors.js';
import { requestId, type RequestIdEnv } from './http/request-id.js';
import { systemClock, type Clock } from './lib/clock.js';
import { AppError } from './lib/errors.js';
import { silentLogger, type Logger } from './lib/log.js';
import type { LastUsedRecorder } from './modules/last-used.js';
import { LoginThrottle } from './modules/login-throttle.js';
import { appRouter } from './trpc/app-router.js';

export interface AppDeps {
  /** Pool connected as the app role (never the owner). */
  pool: Sql;
  /** Pool connected as the platform role: platform-admin procedures only. */
  platformPool: Sql;
  /** Collects keys' and sessions' last use; the caller flushes it (timer, shutdown). */
  lastUsed: LastUsedRecorder;
  log?: Logger;
  clock?: Clock;
  sessionTtlMinutes?: number;
  /** Failed sign-in counters; one is created per app when not given. */
  loginThrottle?: LoginThrottle;
}

/** The peer address (no proxy header is trusted); absent for in-process requests. */
function sourceIp(c: HonoContext): string | null {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}

export function createApp({ pool, platformPool, lastUsed, log = silentLogger, clock = systemClock, sessionTtlMinutes = 720, loginThrottle = new LoginThrottle() }: AppDeps) {
  const app = new Hono<RequestIdEnv>();
  app.use(requestId);

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    try {
      await pool`select 1`;
      return c.json({ status: 'ready' });
    } catch (error) {
      log('warn', 'readiness check failed', { requestId: c.get('requestId'), error: String(error) });
      return renderError(c, new AppError('SERVICE_UNAVAILABLE', 'DATABASE_UNREACHABLE', 'The database is not reachable.'), c.get('requestId'));
    }
  });

  app.all('/trpc/*', (c) =>
    fetchRequestHandler({
      endpoint: '/trpc',
      req: c.req.raw,
      router: appRouter,
      createContext: () => ({
        requestId: c.get('requestId'),
        headers: c.req.raw.headers,
        sourceIp: sourceIp(c),
        pool,
        platformPool,
        clock,
        lastUsed,
        sessionTtlMinutes,
        loginThrottle,
      }),
      onError({ error, path }) {
        if (error.code === 'INTERNAL_SERVER_ERROR') {
          log('error', 'procedure failed', { requestId: c.get('requestId'), path, error: String(error.cause ?? error) });
        }
      },
    }),
  );

  app.notFound((c) => renderError(c, new AppError('NOT_FOUND', 'ROUTE_NOT_FOUND', `No route for ${c.req.method} ${c.req.path}.`), c.get('requestId')));
  app.onError((error, c) => {
    log('error', 'unhandled error', { requestId: c.get('requestId'), error: String(error) });
    return renderError(c, new AppError('INTERNAL_SERVER_ERROR', 'INTERNAL', 'Internal server error; quote the request id when reporting it.'), c.get('requestId'));
  });
  return app;
}
