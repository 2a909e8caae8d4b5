/**
 * /metrics on its own port (METRICS_PORT): for a scraper on a private network, with no
 * credential. Keep that port off the public interface; its series name tenants.
 */
import { serve, type ServerType } from '@hono/node-server';
import { Hono, type MiddlewareHandler } from 'hono';
import type { Sql } from '../../db/client.js';
import { poolUsage } from '../../db/tenant-tx.js';
import type { MetricsRegistry } from '../platform/metrics/metrics.js';
import { metricsRoute } from './metrics-route.js';
import { requestId } from './request-id.js';

/** Reads the pool's tenant transactions into the gauge just before a scrape. */
export function refreshPoolGauge(metrics: MetricsRegistry, pool: Sql, poolMax: number): MiddlewareHandler {
  return async (_c, next) => {
    metrics.setPoolState({ inUse: poolUsage(pool).reserved, max: poolMax });
    await next();
  };
}

export async function metricsServer(options: { metrics: MetricsRegistry; pool: Sql; poolMax: number; port: number; host: string }): Promise<ServerType> {
  const app = new Hono();
  app.use(requestId);
  app.get('/metrics', refreshPoolGauge(options.metrics, options.pool, options.poolMax), metricsRoute({ registry: options.metrics, authorize: async () => undefined }));
  const server = serve({ fetch: app.fetch, port: options.port, hostname: options.host });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return server;
}

