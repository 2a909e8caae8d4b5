/**
 * `GET /metrics` for Prometheus. The series name tenants (by slug) and show load, so on the API
 * port it needs a platform-admin key: `authorize` throws an AppError to refuse. A separate,
 * private metrics port may pass an `authorize` that lets every scrape through.
 */
import type { Handler } from 'hono';
import { AppError } from '../lib/errors.js';
import type { MetricsRegistry } from '../platform/metrics/metrics.js';
import { renderError } from './errors.js';
import type { RequestIdEnv } from './request-id.js';

/** prom-client's `Registry.PROMETHEUS_CONTENT_TYPE`: the text format 0.0.4. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsRouteDeps {
  registry: MetricsRegistry;
  /** Resolves when the request may read the metrics; throws an AppError (401/403) otherwise. */
  authorize: (headers: Headers) => Promise<void>;
}

export function metricsRoute({ registry, authorize }: MetricsRouteDeps): Handler<RequestIdEnv> {
  return async (c) => {
    try {
      await authorize(c.req.raw.headers);
    } catch (error) {
      if (error instanceof AppError) return renderError(c, error, c.get('requestId'));
      throw error;
    }
    return c.body(await registry.render(), 200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Cache-Control': 'no-store' });
  };
}
