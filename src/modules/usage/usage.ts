/**
 * Per-tenant usage without a write per request: `record` adds each request to in-memory counters
 * per tenant per UTC day, and `flush` adds those counters to `usage_daily` with one upsert per
 * tenant, under that tenant's setting (many tenants to a transaction, db/tenant-tx.ts
 * writeEachTenant). The server flushes on a timer and at shutdown, so what `getUsage` reports lags
 * by at most one flush interval (and a crash loses at most that).
 */
import { sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Sql } from '../../../db/client.js';
import { LATENCY_BUCKET_COUNT, LATENCY_BUCKETS_MS } from '../../../db/schema/index.js';
import { tenantOf, withTenant, writeEachTenant, type TenantDb } from '../../../db/tenant-tx.js';
import { DAY_MS, systemClock, type Clock } from '../../lib/clock.js';
import { silentLogger, type Logger } from '../../lib/log.js';
import { SQLSTATE, sqlState } from '../../lib/pg-errors.js';
import { BatchWriter } from '../../platform/batch-writer.js';

/** One request of a tenant, as the transport saw it. */
export interface UsageEvent {
  /** When it happened; defaults to the recorder's clock. */
  at?: Date;
  durationMs: number;
  /** A dataset query (the denominator of the cache hit rate). */
  datasetQuery?: boolean;
  cacheHit?: boolean;
  error?: boolean;
  rateLimited?: boolean;
  /** Refused with 503 TENANT_BUSY (the tenant's bulkhead was full); not an error. */
  tenantBusy?: boolean;
}

interface DayDelta {
  requests: number;
  datasetQueries: number;
  cacheHits: number;
  errors: number;
  rateLimited: number;
  tenantBusy: number;
  totalDurationMs: number;
  latencyBuckets: number[];
  lastActive: number;
}

/** The last day asked for and where it starts and ends: every request asks, and nearly always for today. */
let lastDay = { start: 0, end: 0, text: '' };

/** `YYYY-MM-DD` of the UTC day `at` falls in. */
export function utcDay(at: Date): string {
  const t = at.getTime();
  if (t >= lastDay.start && t < lastDay.end) return lastDay.text;
  const start = Math.floor(t / DAY_MS) * DAY_MS;
  const text = at.toISOString().slice(0, 10);
  if (Number.isFinite(start)) lastDay = { start, end: start + DAY_MS, text };
  return text;
}

/** Index into LATENCY_BUCKETS_MS (upper bounds inclusive); the last index is the unbounded bucket. */
export function latencyBucket(durationMs: number): number {
  const i = LATENCY_BUCKETS_MS.findIndex((bound) => durationMs <= bound);
  return i === -1 ? LATENCY_BUCKETS_MS.length : i;
}

/**
 * The `q` quantile (0 < q ≤ 1) of a latency histogram, as the upper bound of the bucket that holds
 * it: an estimate that errs high by at most one bucket. A quantile in the unbounded bucket reads as
 * the largest bound (10,000 ms: "at least 10 s"). Null for an empty histogram.
 */
export function percentileFromBuckets(buckets: readonly number[], q: number): number | null {
  const total = buckets.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i] ?? 0;
    if (seen >= rank) return LATENCY_BUCKETS_MS[Math.min(i, LATENCY_BUCKETS_MS.length - 1)]!;
  }
  return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]!;
}

function emptyDelta(): DayDelta {
  return {
    requests: 0,
    datasetQueries: 0,
    cacheHits: 0,
    errors: 0,
    rateLimited: 0,
    tenantBusy: 0,
    totalDurationMs: 0,
    latencyBuckets: new Array<number>(LATENCY_BUCKET_COUNT).fill(0),
    lastActive: 0,
  };
}

function addInto(target: DayDelta, d: DayDelta): void {
  target.requests += d.requests;
  target.datasetQueries += d.datasetQueries;
  target.cacheHits += d.cacheHits;
  target.errors += d.errors;
  target.rateLimited += d.rateLimited;
  target.tenantBusy += d.tenantBusy;
  target.totalDurationMs += d.totalDurationMs;
  d.latencyBuckets.forEach((n, i) => (target.latencyBuckets[i] = (target.latencyBuckets[i] ?? 0) + n));
  target.lastActive = Math.max(target.lastActive, d.lastActive);
}

type Pending = Map<string, Map<string, DayDelta>>;

export class UsageRecorder extends BatchWriter {
  private pending: Pending = new Map();
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(
    private readonly pool: Sql,
    options: { clock?: Clock; log?: Logger } = {},
  ) {
    super();
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
  }

  /** Counts one request of the tenant; memory only. */
  record(tenantId: string, event: UsageEvent): void {
    const at = event.at ?? this.clock();
    const durationMs = Number.isFinite(event.durationMs) && event.durationMs > 0 ? event.durationMs : 0;
    const delta = this.deltaFor(this.pending, tenantId, utcDay(at));
    delta.requests += 1;
    if (event.datasetQuery) delta.datasetQueries += 1;
    if (event.datasetQuery && event.cacheHit) delta.cacheHits += 1;
    if (event.error) delta.errors += 1;
    if (event.rateLimited) delta.rateLimited += 1;
    if (event.tenantBusy) delta.tenantBusy += 1;
    delta.totalDurationMs += durationMs;
    delta.latencyBuckets[latencyBucket(durationMs)]! += 1;
    delta.lastActive = Math.max(delta.lastActive, at.getTime());
  }

  /** Tenants with counts not yet written (for tests and shutdown logs). */
  pendingTenants(): string[] {
    return [...this.pending.keys()];
  }

  /**
   * Adds everything recorded so far to `usage_daily`: one upsert per tenant, many tenants to a
   * transaction; a group that fails is written again tenant by tenant. A tenant whose write fails
   * keeps its counts for the next flush (merged with newer ones), and the first failure is
   * rethrown once every tenant was tried. Counts of a tenant that no longer exists (purged) are
   * dropped.
   */
  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    const failures: unknown[] = [];
    await this.eachGroup(batch, {
      weight: (days) => days.size,
      groupFailed: (error, tenants) => this.log('warn', 'batched write failed; writing each tenant on its own', { tenants, error: String(error) }),
      group: (shares) => writeEachTenant(this.pool, new Map([...shares].map(([tenantId, days]) => [tenantId, [upsertDeltas(days)]]))),
      one: async (tenantId, days) => {
        try {
          await withTenant(this.pool, tenantId, (tx) => tx.execute(upsertDeltas(days)));
        } catch (error) {
          if (sqlState(error) === SQLSTATE.foreignKeyViolation) {
            this.log('warn', 'usage dropped for a tenant that no longer exists', { tenantId });
            return;
          }
          for (const [day, delta] of days) addInto(this.deltaFor(this.pending, tenantId, day), delta);
          failures.push(error);
        }
      },
    });
    if (failures.length) {
      this.log('warn', 'usage flush failed; counts kept for the next flush', { tenants: failures.length, error: String(failures[0]) });
      throw failures[0];
    }
  }


  private deltaFor(pending: Pending, tenantId: string, day: string): DayDelta {
    let days = pending.get(tenantId);
    if (!days) pending.set(tenantId, (days = new Map()));
    let delta = days.get(day);
    if (!delta) days.set(day, (delta = emptyDelta()));
    return delta;
  }
}

/**
 * One statement for all of a tenant's pending days. Additive, so two server instances (or a
 * restarted one) flushing the same tenant and day add up instead of overwriting each other.
 * The rows travel as one JSON parameter: Drizzle's pool serializers do not send JS arrays.
 */
function upsertDeltas(days: Map<string, DayDelta>): SQL {
  const rows = JSON.stringify(
    [...days].map(([day, d]) => ({
      day,
      requests: d.requests,
      dataset_queries: d.datasetQueries,
      cache_hits: d.cacheHits,
      errors: d.errors,
      rate_limited: d.rateLimited,
      tenant_busy: d.tenantBusy,
      total_duration_ms: d.totalDurationMs,
      latency_buckets: d.latencyBuckets,
      last_active: new Date(d.lastActive).toISOString(),
    })),
  );
  return sql`
    insert into usage_daily as u
      (day, requests, dataset_queries, cache_hits, errors, rate_limited, tenant_busy, total_duration_ms, latency_buckets, last_active)
    select r.day, r.requests, r.dataset_queries, r.cache_hits, r.errors, r.rate_limited, r.tenant_busy, r.total_duration_ms, r.latency_buckets, r.last_active
    from json_to_recordset(${rows}::json) as r(day date, requests int, dataset_queries int, cache_hits int, errors int,
      rate_limited int, tenant_busy int, total_duration_ms float8, latency_buckets int[], last_active timestamptz)
    on conflict (tenant_id, day) do update set
      requests = u.requests + excluded.requests,
      dataset_queries = u.dataset_queries + excluded.dataset_queries,
      cache_hits = u.cache_hits + excluded.cache_hits,
      errors = u.errors + excluded.errors,
      rate_limited = u.rate_limited + excluded.rate_limited,
      tenant_busy = u.tenant_busy + excluded.tenant_busy,
      total_duration_ms = u.total_duration_ms + excluded.total_duration_ms,
      -- element by element; unnest pads the shorter array with NULLs
      latency_buckets = array(
        select coalesce(a, 0) + coalesce(b, 0)
        from unnest(u.latency_buckets, excluded.latency_buckets) with ordinality as x(a, b, n) order by n),
      last_active = greatest(u.last_active, excluded.last_active)`;
}

export const getUsageInput = z
  .object({
    /** Days of history in `daily`, today included. */
    days: z.number().int().min(1, 'days must be at least 1').max(366, 'days can be at most 366').default(30),
  })
  .prefault({});

/** One UTC day of a tenant's usage. */
export interface UsageDay {
  day: string;
  requests: number;
  avg_response_time_ms: number | null;
  p95_response_time_ms: number | null;
  /** Cache hits per dataset query; null when there were no dataset queries. */
  cache_hit_rate: number | null;
  errors: number;
  rate_limited: number;
  /** Requests refused with 503 TENANT_BUSY (the tenant's bulkhead was full). */
  tenant_busy: number;
}

/** A tenant's usage; the `_today` figures and the three rates are for the current UTC day. */
export interface UsageSummary {
  /** Every authenticated API request today. */
  queries_today: number;
  avg_response_time_ms: number | null;
  /** Upper bound of the latency bucket holding the 95th percentile (see percentileFromBuckets). */
  p95_response_time_ms: number | null;
  cache_hit_rate: number | null;
  errors_today: number;
  rate_limited_today: number;
  /** Requests refused with 503 TENANT_BUSY today: more in flight at once than TENANT_MAX_CONCURRENCY allows. */
  tenant_busy_today: number;
  /** Last request ever recorded (not only in the window); null when none. */
  last_active: string | null;
}

export interface TenantUsage extends UsageSummary {
  /** Every day of the window, oldest first, days without requests as zeros. */
  daily: UsageDay[];
}

interface StoredDay {
  day: string;
  requests: number;
  dataset_queries: number;
  cache_hits: number;
  errors: number;
  rate_limited: number;
  tenant_busy: number;
  total_duration_ms: number;
  latency_buckets: number[];
}

const round = (value: number, places: number) => Math.round(value * 10 ** places) / 10 ** places;

function toUsageDay(day: string, row: StoredDay | undefined): UsageDay {
  if (!row) return { day, requests: 0, avg_response_time_ms: null, p95_response_time_ms: null, cache_hit_rate: null, errors: 0, rate_limited: 0, tenant_busy: 0 };
  return {
    day,
    requests: row.requests,
    avg_response_time_ms: row.requests > 0 ? round(row.total_duration_ms / row.requests, 2) : null,
    p95_response_time_ms: percentileFromBuckets(row.latency_buckets, 0.95),
    cache_hit_rate: row.dataset_queries > 0 ? round(row.cache_hits / row.dataset_queries, 4) : null,
    errors: row.errors,
    rate_limited: row.rate_limited,
    tenant_busy: row.tenant_busy,
  };
}

/**
 * The current tenant's usage for the `days` UTC days ending with `today`'s, from `usage_daily`
 * (so without what the recorder has not flushed yet). One statement.
 */
export async function getUsage(tx: TenantDb, input: { days?: number; today: Date }): Promise<TenantUsage> {
  const days = input.days ?? 30;
  const today = utcDay(input.today);
  const from = utcDay(new Date(Date.parse(today) - (days - 1) * DAY_MS));
  const tenant = tenantOf(tx);
  // Text, parsed here: Drizzle replaces the driver's JSON and date parsers on the pool.
  const [row] = (await tx.execute(sql`
    select
      (select to_json(max(last_active))#>>'{}' from usage_daily where tenant_id = ${tenant}::uuid) as last_active,
      (select coalesce(json_agg(json_build_object(
          'day', day::text, 'requests', requests, 'dataset_queries', dataset_queries, 'cache_hits', cache_hits,
          'errors', errors, 'rate_limited', rate_limited, 'tenant_busy', tenant_busy, 'total_duration_ms', total_duration_ms,
          'latency_buckets', latency_buckets) order by day), '[]')::text
        from usage_daily where tenant_id = ${tenant}::uuid and day between ${from}::date and ${today}::date) as days`)) as unknown as { last_active: string | null; days: string }[];
  const stored = new Map((JSON.parse(row!.days) as StoredDay[]).map((d) => [d.day, d]));
  const daily = Array.from({ length: days }, (_, i) => {
    const day = utcDay(new Date(Date.parse(from) + i * DAY_MS));
    return toUsageDay(day, stored.get(day));
  });
  const current = daily[daily.length - 1]!;
  return {
    queries_today: current.requests,
    avg_response_time_ms: current.avg_response_time_ms,
    p95_response_time_ms: current.p95_response_time_ms,
    cache_hit_rate: current.cache_hit_rate,
    errors_today: current.errors,
    rate_limited_today: current.rate_limited,
    tenant_busy_today: current.tenant_busy,
    last_active: row!.last_active === null ? null : new Date(row!.last_active).toISOString(),
    daily,
  };
}

function summaryOf(usage: TenantUsage): UsageSummary {
  const { queries_today, avg_response_time_ms, p95_response_time_ms, cache_hit_rate, errors_today, rate_limited_today, tenant_busy_today, last_active } = usage;
  return { queries_today, avg_response_time_ms, p95_response_time_ms, cache_hit_rate, errors_today, rate_limited_today, tenant_busy_today, last_active };
}

export interface TenantUsageRow extends UsageSummary {
  tenant: string;
  tenantId: string;
  name: string;
}

/**
 * Today's usage of each tenant, in the order given, for platform admins. Each tenant is read in
 * its own `withTenant(platformPool, id, …)` transaction (the admin path's only way to tenant
 * rows), two at a time so a long tenant list does not take the platform pool.
 */
export async function listAllUsage(
  platformPool: Sql,
  tenants: { id: string; slug: string; name: string }[],
  today: Date,
): Promise<TenantUsageRow[]> {
  const result: TenantUsageRow[] = new Array<TenantUsageRow>(tenants.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < tenants.length; i = next++) {
      const t = tenants[i]!;
      const usage = await withTenant(platformPool, t.id, (tx) => getUsage(tx, { days: 1, today }));
      result[i] = { tenant: t.slug, tenantId: t.id, name: t.name, ...summaryOf(usage) };
    }
  };
  await Promise.all([worker(), worker()]);
  return result;
}
