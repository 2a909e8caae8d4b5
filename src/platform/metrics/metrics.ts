/**
 * Prometheus metrics on prom-client, in a registry of their own (not prom-client's global one, so
 * several apps in one process, as in the tests, never clash), with prom-client's default process,
 * GC and event-loop metrics. Tenant labels are bounded: the first `maxTenantLabels` distinct slugs
 * get their own series, later ones share `tenant="other"`, so a platform with many tenants cannot
 * blow up the scraper's memory. Requests without a tenant (no or a bad credential, platform admins)
 * are `tenant="none"`.
 *
 * `observeRequest` runs on every request: the label children it needs (`.labels(...)`) are resolved
 * once per tenant label, transport and status class and kept, so a request costs a few map reads
 * and prom-client's own increment.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LATENCY_BUCKETS_MS } from '../../../db/schema/index.js';

export const OTHER_TENANTS = 'other';
export const NO_TENANT = 'none';

export type Transport = 'trpc' | 'rest' | 'odata';

export interface RequestObservation {
  /** The tenant's slug, or null when the request had no tenant. */
  tenant: string | null;
  transport: Transport;
  status: number;
  durationMs: number;
}

/** What /metrics shows of a read replica (db/replica-router.ts ReplicaStatus). */
export interface ReplicaMetrics {
  serving: boolean;
  lagMs: number | null;
  reads: { replica: number; primary: number; retried: number };
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

/** Escapes a label value: backslash, double quote and newline (as prom-client does). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Status classes by hundred; index 0 is a status outside 100–599. */
const STATUS_CLASSES = ['unknown', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

function statusClassIndex(status: number): number {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? Math.floor(status / 100) : 0;
}

interface CounterChild {
  inc(value?: number): void;
}

interface HistogramChild {
  observe(value: number): void;
}

/** One tenant label's resolved children, made on first use (a child adds no series until used). */
interface TenantSeries {
  label: string;
  /** Per transport, per status class index. */
  requests: Record<Transport, (CounterChild | undefined)[]>;
  duration: HistogramChild;
  cacheHit?: CounterChild;
  cacheMiss?: CounterChild;
  rateLimited?: CounterChild;
  tenantBusy?: CounterChild;
}

export interface MetricsOptions {
  /** Tenants with a label of their own; later ones are `other` (default 50). */
  maxTenantLabels?: number;
  /** prom-client's default process, GC and event-loop metrics (default true). */
  defaultMetrics?: boolean;
}

export class MetricsRegistry {
  /** The prom-client registry every series here lives in. */
  readonly registry = new Registry();
  private readonly maxTenantLabels: number;
  /** Slugs that have a label of their own. */
  private readonly tenantLabels = new Set<string>();
  /** Resolved children per tenant label (bounded like the labels: slugs, `other`, `none`). */
  private readonly series = new Map<string, TenantSeries>();
  private pool: () => PoolState = () => ({ inUse: 0, waiting: 0, max: 0 });
  private replicaStatus: (() => ReplicaMetrics) | undefined;

  private readonly requests: Counter<'tenant' | 'transport' | 'status_class'>;
  private readonly durations: Histogram<'tenant'>;
  private readonly cache: Counter<'tenant' | 'result'>;
  private readonly rateLimits: Counter<'tenant'>;
  private readonly tenantBusyRefusals: Counter<'tenant'>;

  constructor(options: MetricsOptions = {}) {
    this.maxTenantLabels = options.maxTenantLabels ?? 50;
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'palisade_http_requests_total',
      help: 'HTTP requests by tenant, transport and status class.',
      labelNames: ['tenant', 'transport', 'status_class'],
      registers,
    });
    this.durations = new Histogram({
      name: 'palisade_http_request_duration_seconds',
      help: 'HTTP request duration by tenant.',
      labelNames: ['tenant'],
      buckets: DURATION_BOUNDS_S,
      registers,
    });
    this.cache = new Counter({ name: 'palisade_query_cache_total', help: 'Dataset query cache lookups by tenant and result.', labelNames: ['tenant', 'result'], registers });
    this.rateLimits = new Counter({ name: 'palisade_rate_limited_total', help: 'Requests refused by a rate limit, by tenant.', labelNames: ['tenant'], registers });
    this.tenantBusyRefusals = new Counter({
      name: 'palisade_tenant_busy_total',
      help: 'Requests refused with 503 TENANT_BUSY (their tenant had TENANT_MAX_CONCURRENCY requests in flight on this instance), by tenant.',
      labelNames: ['tenant'],
      registers,
    });
    // The pool gauges are read from the pool-state function at every scrape.
    const connections: Gauge<'state'> = new Gauge({
      name: 'palisade_db_pool_connections',
      help: 'App-role pool: connections in use, tenant transactions waiting for one, and the pool size.',
      labelNames: ['state'],
      registers,
      collect: () => {
        const pool = this.pool();
        connections.set({ state: 'in_use' }, pool.inUse);
        connections.set({ state: 'waiting' }, pool.waiting ?? 0);
        connections.set({ state: 'max' }, pool.max);
        saturation.set(pool.max > 0 ? pool.inUse / pool.max : 0);
      },
    });
    // Registered after the connections gauge, whose collect sets it: a scrape renders in order.
    const saturation = new Gauge({ name: 'palisade_db_pool_saturation', help: 'Share of the app-role pool in use (0 to 1).', registers });
    if (options.defaultMetrics ?? true) {
      // process_resident_memory_bytes is among them.
      collectDefaultMetrics({ register: this.registry });
    } else {
      const rss: Gauge = new Gauge({
        name: 'process_resident_memory_bytes',
        help: 'Resident memory size in bytes.',
        registers,
        collect: () => {
          rss.set(process.memoryUsage.rss());
        },
      });
    }
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

  private tenantSeries(tenant: string | null): TenantSeries {
    const label = this.tenantLabel(tenant);
    let series = this.series.get(label);
    if (series === undefined) {
      series = { label, requests: { trpc: [], rest: [], odata: [] }, duration: this.durations.labels(label) };
      this.series.set(label, series);
    }
    return series;
  }

  observeRequest({ tenant, transport, status, durationMs }: RequestObservation): void {
    const series = this.tenantSeries(tenant);
    const byClass = series.requests[transport];
    const i = statusClassIndex(status);
    (byClass[i] ??= this.requests.labels(series.label, transport, STATUS_CLASSES[i]!)).inc();
    // prom-client refuses a value that is not finite; a clock never gives one.
    series.duration.observe(durationMs > 0 && Number.isFinite(durationMs) ? durationMs / 1000 : 0);
  }

  cacheResult(tenant: string | null, hit: boolean): void {
    const series = this.tenantSeries(tenant);
    if (hit) (series.cacheHit ??= this.cache.labels(series.label, 'hit')).inc();
    else (series.cacheMiss ??= this.cache.labels(series.label, 'miss')).inc();
  }

  rateLimited(tenant: string | null): void {
    const series = this.tenantSeries(tenant);
    (series.rateLimited ??= this.rateLimits.labels(series.label)).inc();
  }

  tenantBusy(tenant: string | null): void {
    const series = this.tenantSeries(tenant);
    (series.tenantBusy ??= this.tenantBusyRefusals.labels(series.label)).inc();
  }

  /** The app pool's state: a snapshot, or a function read at every render (always current). */
  setPoolState(state: PoolState | (() => PoolState)): void {
    if (typeof state === 'function') this.pool = state;
    else {
      const snapshot = { ...state };
      this.pool = () => snapshot;
    }
  }

  /**
   * With a read replica (READ_DATABASE_URL): its state, read at every scrape. The series exist only
   * on servers that have one.
   */
  setReplicaStatus(status: () => ReplicaMetrics): void {
    if (this.replicaStatus) {
      this.replicaStatus = status;
      return;
    }
    this.replicaStatus = status;
    const registers = [this.registry];
    const counted = { replica: 0, primary: 0, retried: 0 };
    const reads: Counter<'target'> = new Counter({
      name: 'palisade_read_replica_reads_total',
      help: 'One-statement tenant reads by where they went: replica, primary, or retried (failed on the replica, sent again to the primary).',
      labelNames: ['target'],
      registers,
      collect: () => {
        const now = this.replicaStatus!();
        for (const target of ['replica', 'primary', 'retried'] as const) {
          reads.inc({ target }, Math.max(0, now.reads[target] - counted[target]));
          counted[target] = now.reads[target];
        }
        serving.set(now.serving ? 1 : 0);
        lag.set(now.lagMs === null ? Number.NaN : now.lagMs / 1000);
      },
    });
    // Registered after the counter, whose collect sets them: a scrape renders in order.
    const serving = new Gauge({ name: 'palisade_read_replica_serving', help: 'Whether reads go to the read replica (1) or all to the primary (0).', registers });
    const lag = new Gauge({ name: 'palisade_read_replica_lag_seconds', help: 'How far the read replica’s replay is behind the primary; NaN while it is unreachable.', registers });
  }

  /** Every series in the text exposition format (0.0.4), one `# HELP`/`# TYPE` pair per metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The exposition format's content type, as the registry renders it. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
