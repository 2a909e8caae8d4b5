/**
 * Prometheus metrics, written by hand in the text exposition format (0.0.4): a few counters, one
 * histogram and some gauges do not justify a client library. Tenant labels are bounded: the first
 * `maxTenantLabels` distinct slugs get their own series, later ones share `tenant="other"`, so a
 * platform with many tenants cannot blow up the scraper's memory. Requests without a tenant
 * (no or a bad credential, platform admins) are `tenant="none"`.
 */
import { LATENCY_BUCKETS_MS } from '../../../db/schema/index.js';

export const OTHER_TENANTS = 'other';
export const NO_TENANT = 'none';

export type Transport = 'trpc' | 'rest';

export interface RequestObservation {
  /** The tenant's slug, or null when the request had no tenant. */
  tenant: string | null;
  transport: Transport;
  status: number;
  durationMs: number;
}

/** Histogram bounds in seconds: the usage table's latency buckets, so both tell the same story. */
const DURATION_BOUNDS_S = LATENCY_BUCKETS_MS.map((ms) => ms / 1000);

export interface PoolState {
  /** Connections held by tenant transactions now. */
  inUse: number;
  /** Tenant transactions waiting for a connection. */
  waiting?: number;
  /** The pool's size. */
  max: number;
}

interface Histogram {
  /** Per bound, not cumulative; the last slot is above every bound. */
  counts: number[];
  sum: number;
  count: number;
}

/** Escapes a label value: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(pairs: Record<string, string>): string {
  const body = Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
    .join(',');
  return body ? `{${body}}` : '';
}

/** A sample value as Prometheus reads it (Go float syntax for the specials). */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function statusClass(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? `${Math.floor(status / 100)}xx` : 'unknown';
}

export class MetricsRegistry {
  private readonly maxTenantLabels: number;
  private readonly tenantLabels = new Set<string>();
  /** Counters keyed by their rendered label set. */
  private readonly requests = new Map<string, number>();
  private readonly cache = new Map<string, number>();
  private readonly rateLimits = new Map<string, number>();
  private readonly durations = new Map<string, Histogram>();
  private pool: () => PoolState = () => ({ inUse: 0, waiting: 0, max: 0 });
  /** `tenant="…"` per tenant label, escaped once: the label set is bounded, and every request needs one. */
  private readonly tenantPairs = new Map<string, string>();

  constructor(options: { maxTenantLabels?: number } = {}) {
    this.maxTenantLabels = options.maxTenantLabels ?? 50;
  }

  /** The label a tenant's series carry: its slug while there is room, then `other`. */
  tenantLabel(tenant: string | null): string {
    if (tenant === null) return NO_TENANT;
    if (this.tenantLabels.has(tenant)) return tenant;
    if (this.tenantLabels.size < this.maxTenantLabels) {
      this.tenantLabels.add(tenant);
      return tenant;
    }
    return OTHER_TENANTS;
  }

  /** `tenant="…"` for the tenant's label. */
  private tenantPair(tenant: string | null): string {
    const label = this.tenantLabel(tenant);
    let pair = this.tenantPairs.get(label);
    if (pair === undefined) this.tenantPairs.set(label, (pair = `tenant="${escapeLabelValue(label)}"`));
    return pair;
  }

  observeRequest({ tenant, transport, status, durationMs }: RequestObservation): void {
    const pair = this.tenantPair(tenant);
    // transport and status class are fixed words: nothing to escape.
    increment(this.requests, `{${pair},transport="${transport}",status_class="${statusClass(status)}"}`);
    const key = `{${pair}}`;
    let histogram = this.durations.get(key);
    if (!histogram) this.durations.set(key, (histogram = { counts: new Array<number>(DURATION_BOUNDS_S.length + 1).fill(0), sum: 0, count: 0 }));
    const seconds = Math.max(0, durationMs) / 1000;
    const i = DURATION_BOUNDS_S.findIndex((bound) => seconds <= bound);
    histogram.counts[i === -1 ? DURATION_BOUNDS_S.length : i]! += 1;
    histogram.sum += seconds;
    histogram.count += 1;
  }

  cacheResult(tenant: string | null, hit: boolean): void {
    increment(this.cache, `{${this.tenantPair(tenant)},result="${hit ? 'hit' : 'miss'}"}`);
  }

  rateLimited(tenant: string | null): void {
    increment(this.rateLimits, `{${this.tenantPair(tenant)}}`);
  }

  /** The app pool's state: a snapshot, or a function read at every render (always current). */
  setPoolState(state: PoolState | (() => PoolState)): void {
    if (typeof state === 'function') this.pool = state;
    else {
      const snapshot = { ...state };
      this.pool = () => snapshot;
    }
  }

  /** Every series in the text exposition format, one `# HELP`/`# TYPE` pair per metric. */
  render(): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string, samples: [string, number][]) => {
      out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
      for (const [suffix, value] of samples) out.push(`${name}${suffix} ${formatValue(value)}`);
    };
    family('palisade_http_requests_total', 'counter', 'HTTP requests by tenant, transport and status class.', [...this.requests]);

    const histogramSamples: [string, number][] = [];
    for (const [key, h] of this.durations) {
      const tenant = key.slice(1, -1); // `tenant="…"`, already escaped
      let cumulative = 0;
      DURATION_BOUNDS_S.forEach((bound, i) => {
        cumulative += h.counts[i]!;
        histogramSamples.push([`_bucket{${tenant},le="${bound}"}`, cumulative]);
      });
      histogramSamples.push([`_bucket{${tenant},le="+Inf"}`, h.count], [`_sum${key}`, h.sum], [`_count${key}`, h.count]);
    }
    family('palisade_http_request_duration_seconds', 'histogram', 'HTTP request duration by tenant.', histogramSamples);

    family('palisade_query_cache_total', 'counter', 'Dataset query cache lookups by tenant and result.', [...this.cache]);
    family('palisade_rate_limited_total', 'counter', 'Requests refused by a rate limit, by tenant.', [...this.rateLimits]);
    const pool = this.pool();
    family('palisade_db_pool_connections', 'gauge', 'App-role pool: connections in use, tenant transactions waiting for one, and the pool size.', [
      [labels({ state: 'in_use' }), pool.inUse],
      [labels({ state: 'waiting' }), pool.waiting ?? 0],
      [labels({ state: 'max' }), pool.max],
    ]);
    family('palisade_db_pool_saturation', 'gauge', 'Share of the app-role pool in use (0 to 1).', [['', pool.max > 0 ? pool.inUse / pool.max : 0]]);
    family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [['', process.memoryUsage.rss()]]);
    return `${out.join('\n')}\n`;
  }
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
