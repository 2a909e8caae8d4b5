/** Alert thresholds, windows, cooldown and the log line; time is driven by the events' timestamps. */
import { describe, expect, it } from 'vitest';
import type { Logger } from '../src/lib/log.js';
import { ALERT_HISTORY, AlertMonitor, type AlertKind } from '../src/modules/usage/alerts.js';

const T0 = Date.parse('2026-04-10T12:00:00.000Z');
const TENANT = '11111111-1111-4111-8111-111111111111';
const OTHER = '22222222-2222-4222-8222-222222222222';

function monitor(options: ConstructorParameters<typeof AlertMonitor>[0] = {}) {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const log: Logger = (level, message, fields) => void lines.push({ level, message, ...(fields ? { fields } : {}) });
  const alerts = new AlertMonitor({ log, clock: () => new Date(T0), ...options });
  return { alerts, lines };
}

/** `n` requests of the tenant, spread evenly over `spanMs` starting at `from`. */
function feed(alerts: AlertMonitor, n: number, event: { durationMs?: number; error?: boolean; rateLimited?: boolean } = {}, from = T0, spanMs = 50_000, tenantId = TENANT, slug = 'acme') {
  const kinds: AlertKind[] = [];
  for (let i = 0; i < n; i++) {
    const at = new Date(from + Math.floor((i * spanMs) / Math.max(n, 1)));
    kinds.push(...alerts.observe(tenantId, slug, { at, durationMs: event.durationMs ?? 5, error: event.error ?? false, rateLimited: event.rateLimited ?? false }).map((a) => a.kind));
  }
  return kinds;
}

describe('AlertMonitor', () => {
  it('high query volume: fires above the per-minute threshold, not at it', () => {
    const { alerts } = monitor({ thresholds: { highQueryVolumePerMinute: 100 } });
    expect(feed(alerts, 100)).toEqual([]);
    expect(feed(alerts, 1, {}, T0 + 55_000)).toEqual(['high_query_volume']);
    expect(alerts.list()[0]).toMatchObject({ tenantId: TENANT, tenant: 'acme', kind: 'high_query_volume', value: 101, threshold: 100, firedAt: new Date(T0 + 55_000).toISOString() });
  });

  it('high query volume counts the last minute only', () => {
    const { alerts } = monitor({ thresholds: { highQueryVolumePerMinute: 100 } });
    expect(feed(alerts, 100)).toEqual([]);
    // A minute later the first burst no longer counts, though it is still in the 5-minute window.
    expect(feed(alerts, 100, {}, T0 + 110_000, 50_000)).toEqual([]);
  });

  it('error rate: fires above the rate once the window has enough requests', () => {
    const { alerts } = monitor({ thresholds: { errorRate: 0.2, errorRateMinRequests: 20 } });
    // 19 requests, all errors: below the minimum sample.
    expect(feed(alerts, 19, { error: true })).toEqual([]);
    const { alerts: steady } = monitor({ thresholds: { errorRate: 0.2, errorRateMinRequests: 20 } });
    expect(feed(steady, 16)).toEqual([]);
    expect(feed(steady, 4, { error: true }, T0 + 51_000, 1000)).toEqual([]); // 4/20 = 0.2: at, not above
    expect(feed(steady, 1, { error: true }, T0 + 53_000)).toEqual(['error_rate']); // 5/21
    expect(steady.list()[0]).toMatchObject({ kind: 'error_rate', value: 0.2381, threshold: 0.2 });
  });

  it('the twentieth request brings an all-error window to its minimum and fires', () => {
    const { alerts } = monitor();
    expect(feed(alerts, 20, { error: true })).toEqual(['error_rate']);
  });

  it('slow queries: fires at slowQueryCount requests slower than slowQueryMs in the window', () => {
    const { alerts } = monitor({ thresholds: { slowQueryMs: 5000, slowQueryCount: 5 } });
    expect(feed(alerts, 10, { durationMs: 5000 })).toEqual([]); // equal to the limit is not slower
    expect(feed(alerts, 4, { durationMs: 5001 }, T0 + 60_000)).toEqual([]);
    expect(feed(alerts, 1, { durationMs: 9000 }, T0 + 200_000)).toEqual(['slow_queries']);
    expect(alerts.list()[0]).toMatchObject({ kind: 'slow_queries', value: 5, threshold: 5 });
  });

  it('slow queries leave the window after windowMs', () => {
    const { alerts } = monitor({ thresholds: { slowQueryCount: 5 }, windowMs: 300_000 });
    expect(feed(alerts, 4, { durationMs: 6000 }, T0, 1000)).toEqual([]);
    expect(feed(alerts, 1, { durationMs: 6000 }, T0 + 301_000)).toEqual([]);
  });

  it('slowQueryCount 1 fires on the first slow request', () => {
    const { alerts } = monitor({ thresholds: { slowQueryCount: 1 } });
    expect(feed(alerts, 1, { durationMs: 5001 })).toEqual(['slow_queries']);
  });

  it('rate-limit hits: fires above the per-minute threshold, not at it', () => {
    const { alerts } = monitor({ thresholds: { rateLimitHitsPerMinute: 60 } });
    expect(feed(alerts, 60, { rateLimited: true })).toEqual([]);
    expect(feed(alerts, 1, { rateLimited: true }, T0 + 59_000)).toEqual(['rate_limit_hits']);
    expect(alerts.list()[0]).toMatchObject({ kind: 'rate_limit_hits', value: 61, threshold: 60 });
  });

  it('fires a tenant and kind once per cooldown, then again after it', () => {
    const { alerts, lines } = monitor({ thresholds: { slowQueryCount: 1 }, cooldownMs: 15 * 60_000 });
    expect(feed(alerts, 10, { durationMs: 6000 })).toEqual(['slow_queries']);
    expect(feed(alerts, 1, { durationMs: 6000 }, T0 + 14 * 60_000)).toEqual([]);
    // Another tenant has its own cooldown.
    expect(feed(alerts, 1, { durationMs: 6000 }, T0 + 14 * 60_000, 1, OTHER, 'globex')).toEqual(['slow_queries']);
    expect(feed(alerts, 1, { durationMs: 6000 }, T0 + 15 * 60_000)).toEqual(['slow_queries']);
    expect(alerts.list().map((a) => [a.tenant, a.firedAt])).toEqual([
      ['acme', new Date(T0 + 15 * 60_000).toISOString()],
      ['globex', new Date(T0 + 14 * 60_000).toISOString()],
      ['acme', new Date(T0).toISOString()],
    ]);
    expect(lines).toHaveLength(3);
  });

  it('writes one structured warn line per firing', () => {
    const { alerts, lines } = monitor({ thresholds: { rateLimitHitsPerMinute: 0 } });
    const [alert] = alerts.observe(TENANT, 'acme', { at: new Date(T0), durationMs: 1, rateLimited: true });
    expect(lines).toEqual([
      {
        level: 'warn',
        message: 'alert fired',
        fields: { alert: 'rate_limit_hits', alertId: alert!.id, tenantId: TENANT, tenant: 'acme', value: 1, threshold: 0, windowMs: 60_000 },
      },
    ]);
  });

  it('uses the clock when an event has no time, and the documented defaults', () => {
    const { alerts } = monitor();
    expect(alerts.thresholds).toEqual({ highQueryVolumePerMinute: 1000, errorRate: 0.2, errorRateMinRequests: 20, slowQueryMs: 5000, slowQueryCount: 5, rateLimitHitsPerMinute: 60 });
    for (let i = 0; i < 4; i++) alerts.observe(TENANT, 'acme', { durationMs: 6000 });
    expect(alerts.observe(TENANT, 'acme', { durationMs: 6000 })[0]).toMatchObject({ kind: 'slow_queries', firedAt: new Date(T0).toISOString() });
  });

  it('lists newest first, by tenant slug and since, and keeps the last 500', () => {
    const { alerts } = monitor({ thresholds: { slowQueryCount: 1 }, cooldownMs: 1000 });
    for (let i = 0; i < ALERT_HISTORY + 20; i++) {
      const tenant = i % 2 === 0 ? [TENANT, 'acme'] : [OTHER, 'globex'];
      alerts.observe(tenant[0]!, tenant[1]!, { at: new Date(T0 + i * 1000), durationMs: 6000 });
    }
    const all = alerts.list();
    expect(all).toHaveLength(ALERT_HISTORY);
    expect(all[0]!.firedAt).toBe(new Date(T0 + (ALERT_HISTORY + 19) * 1000).toISOString());
    expect(all[ALERT_HISTORY - 1]!.firedAt).toBe(new Date(T0 + 20 * 1000).toISOString());
    expect(alerts.list({ tenant: 'globex' }).every((a) => a.tenant === 'globex')).toBe(true);
    const since = new Date(T0 + (ALERT_HISTORY + 10) * 1000);
    expect(alerts.list({ since }).map((a) => a.firedAt)).toEqual(
      Array.from({ length: 10 }, (_, i) => new Date(T0 + (ALERT_HISTORY + 19 - i) * 1000).toISOString()),
    );
    expect(alerts.list({ tenant: 'acme', limit: 3 })).toHaveLength(3);
  });
});
