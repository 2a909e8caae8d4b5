/**
 * Per-tenant alerts on the same request events as usage (src/http/request-stats.ts), evaluated in
 * memory as each request ends. Each tenant keeps per-second counters for a sliding window (5 min by
 * default), so memory is bounded per tenant whatever its traffic:
 *
 * - `high_query_volume`: requests in the last minute > `highQueryVolumePerMinute`
 * - `rate_limit_hits`:   rate-limited requests in the last minute > `rateLimitHitsPerMinute`
 * - `error_rate`:        errors / requests over the window > `errorRate`, once the window holds at
 *                        least `errorRateMinRequests` requests (a few failures of a quiet tenant are noise)
 * - `slow_queries`:      requests slower than `slowQueryMs` in the window ≥ `slowQueryCount` (5 by
 *                        default: one slow request is a blip, a run of them is a problem; set 1 to
 *                        fire on the first)
 *
 * Per-minute figures use the last minute, not the window's average, so a burst shows at once.
 * A tenant fires each kind at most once per cooldown; firings go to a ring of the last 500 and to
 * one structured log line each. Per process: each server instance alerts on its own traffic.
 */
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../lib/clock.js';
import { silentLogger, type Logger } from '../../lib/log.js';

export const ALERT_KINDS = ['high_query_volume', 'error_rate', 'slow_queries', 'rate_limit_hits'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export interface AlertThresholds {
  highQueryVolumePerMinute: number;
  errorRate: number;
  errorRateMinRequests: number;
  slowQueryMs: number;
  slowQueryCount: number;
  rateLimitHitsPerMinute: number;
}

export const DEFAULT_THRESHOLDS: AlertThresholds = {
  highQueryVolumePerMinute: 1000,
  errorRate: 0.2,
  errorRateMinRequests: 20,
  slowQueryMs: 5000,
  slowQueryCount: 5,
  rateLimitHitsPerMinute: 60,
};

/** The request facts alerts look at (a subset of the usage event). */
export interface AlertEvent {
  at?: Date;
  durationMs: number;
  error?: boolean;
  rateLimited?: boolean;
}

export interface Alert {
  id: string;
  tenantId: string;
  /** The tenant's slug. */
  tenant: string;
  kind: AlertKind;
  /** What was measured: a count, or the error rate (0 to 1). */
  value: number;
  threshold: number;
  firedAt: string;
}

export const ALERT_HISTORY = 500;
const MINUTE_MS = 60_000;

interface Counts {
  requests: number;
  errors: number;
  slow: number;
  rateLimited: number;
}

interface Slot extends Counts {
  second: number;
}

const zero = (): Counts => ({ requests: 0, errors: 0, slow: 0, rateLimited: 0 });

function add(target: Counts, c: Counts, sign: 1 | -1): void {
  target.requests += sign * c.requests;
  target.errors += sign * c.errors;
  target.slow += sign * c.slow;
  target.rateLimited += sign * c.rateLimited;
}

/**
 * One tenant's per-second slots, oldest first, with running totals for the whole window and for
 * the last minute (slots from `minuteStart` on).
 */
class TenantWindow {
  slots: Slot[] = [];
  window = zero();
  minute = zero();
  private minuteStart = 0;

  constructor(
    private readonly windowSeconds: number,
    private readonly minuteSeconds: number,
  ) {}

  add(second: number, c: Counts): void {
    // Requests end slightly out of order; a late one counts in the newest slot.
    const last = this.slots[this.slots.length - 1];
    if (last && last.second >= second) add(last, c, 1);
    else this.slots.push({ second, ...c });
    add(this.window, c, 1);
    add(this.minute, c, 1);
    this.advance(Math.max(second, last?.second ?? second));
  }

  /** Drops slots that left the window (and the minute) as of `now` (seconds). */
  advance(now: number): void {
    while (this.minuteStart < this.slots.length && this.slots[this.minuteStart]!.second <= now - this.minuteSeconds) {
      add(this.minute, this.slots[this.minuteStart]!, -1);
      this.minuteStart++;
    }
    while (this.slots.length && this.slots[0]!.second <= now - this.windowSeconds) {
      add(this.window, this.slots.shift()!, -1);
      this.minuteStart = Math.max(0, this.minuteStart - 1);
    }
  }
}

export interface AlertMonitorOptions {
  thresholds?: Partial<AlertThresholds>;
  clock?: Clock;
  log?: Logger;
  windowMs?: number;
  cooldownMs?: number;
}

export class AlertMonitor {
  readonly thresholds: AlertThresholds;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly windowMs: number;
  private readonly cooldownMs: number;
  private readonly windows = new Map<string, TenantWindow>();
  /** Last firing per `tenantId kind`. */
  private readonly lastFired = new Map<string, number>();
  private readonly history: Alert[] = [];
  private lastSweep = 0;

  constructor(options: AlertMonitorOptions = {}) {
    this.thresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.windowMs = Math.max(options.windowMs ?? 5 * MINUTE_MS, MINUTE_MS);
    this.cooldownMs = options.cooldownMs ?? 15 * MINUTE_MS;
  }

  /** Counts one finished request of the tenant and fires whatever it pushed over a threshold. */
  observe(tenantId: string, slug: string, event: AlertEvent): Alert[] {
    const now = (event.at ?? this.clock()).getTime();
    this.sweep(now);
    let window = this.windows.get(tenantId);
    if (!window) this.windows.set(tenantId, (window = new TenantWindow(Math.ceil(this.windowMs / 1000), MINUTE_MS / 1000)));
    const t = this.thresholds;
    window.add(Math.floor(now / 1000), {
      requests: 1,
      errors: event.error ? 1 : 0,
      slow: event.durationMs > t.slowQueryMs ? 1 : 0,
      rateLimited: event.rateLimited ? 1 : 0,
    });
    const { window: w, minute: m } = window;
    const checks: [AlertKind, boolean, number, number][] = [
      ['high_query_volume', m.requests > t.highQueryVolumePerMinute, m.requests, t.highQueryVolumePerMinute],
      ['error_rate', w.requests >= t.errorRateMinRequests && w.errors / w.requests > t.errorRate, Math.round((w.errors / w.requests) * 10_000) / 10_000, t.errorRate],
      ['slow_queries', w.slow >= t.slowQueryCount, w.slow, t.slowQueryCount],
      ['rate_limit_hits', m.rateLimited > t.rateLimitHitsPerMinute, m.rateLimited, t.rateLimitHitsPerMinute],
    ];
    const fired: Alert[] = [];
    for (const [kind, over, value, threshold] of checks) {
      if (!over) continue;
      const key = `${tenantId} ${kind}`;
      const previous = this.lastFired.get(key);
      if (previous !== undefined && now - previous < this.cooldownMs) continue;
      this.lastFired.set(key, now);
      const alert: Alert = { id: randomUUID(), tenantId, tenant: slug, kind, value, threshold, firedAt: new Date(now).toISOString() };
      this.history.push(alert);
      if (this.history.length > ALERT_HISTORY) this.history.shift();
      this.log('warn', 'alert fired', { alert: alert.kind, alertId: alert.id, tenantId, tenant: slug, value, threshold, windowMs: kind === 'error_rate' || kind === 'slow_queries' ? this.windowMs : MINUTE_MS });
      fired.push(alert);
    }
    return fired;
  }

  /** Recent firings, newest first; `tenant` is a slug, `since` inclusive. */
  list(filter: { tenant?: string; since?: Date; limit?: number } = {}): Alert[] {
    const since = filter.since?.toISOString();
    const out: Alert[] = [];
    for (let i = this.history.length - 1; i >= 0 && out.length < (filter.limit ?? ALERT_HISTORY); i--) {
      const alert = this.history[i]!;
      if (filter.tenant !== undefined && alert.tenant !== filter.tenant) continue;
      if (since !== undefined && alert.firedAt < since) continue;
      out.push(alert);
    }
    return out;
  }

  /** Forgets idle tenants and expired cooldowns, at most once per window, so memory follows live tenants. */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.windowMs) return;
    this.lastSweep = now;
    for (const [tenantId, window] of this.windows) {
      window.advance(Math.floor(now / 1000));
      if (window.slots.length === 0) this.windows.delete(tenantId);
    }
    for (const [key, at] of this.lastFired) if (now - at >= this.cooldownMs) this.lastFired.delete(key);
  }
}
