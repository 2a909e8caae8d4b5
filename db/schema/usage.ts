import { sql } from 'drizzle-orm';
import { check, date, doublePrecision, integer, timestamp, unique } from 'drizzle-orm/pg-core';
import { tenantTable } from './tenancy.js';

/**
 * Upper bounds (ms, inclusive) of the latency histogram buckets; a last, unbounded bucket follows.
 * `usage_daily.latency_buckets[i]` counts requests in bucket i, so changing these bounds changes
 * the meaning of stored rows: only ever append a bound, never move one.
 */
export const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

/** Buckets per histogram: one per bound plus the unbounded one. */
export const LATENCY_BUCKET_COUNT = LATENCY_BUCKETS_MS.length + 1;

/**
 * A tenant's API usage per UTC day. The server accumulates requests in memory and adds them here
 * in batches (src/modules/usage/usage.ts), so there is never a write per request.
 */
export const usageDaily = tenantTable(
  'usage_daily',
  {
    day: date({ mode: 'string' }).notNull(),
    /** Every authenticated request of the tenant, rate-limited ones included. */
    requests: integer().notNull().default(0),
    datasetQueries: integer().notNull().default(0),
    /** Dataset queries answered from the cache. */
    cacheHits: integer().notNull().default(0),
    errors: integer().notNull().default(0),
    rateLimited: integer().notNull().default(0),
    /** Requests refused with 503 TENANT_BUSY (the tenant's bulkhead was full on an instance). */
    tenantBusy: integer().notNull().default(0),
    totalDurationMs: doublePrecision().notNull().default(0),
    /** Request counts per LATENCY_BUCKETS_MS bucket (not cumulative). */
    latencyBuckets: integer().array().notNull().default(sql`'{}'::integer[]`),
    lastActive: timestamp({ withTimezone: true }).notNull(),
  },
  (t) => [
    unique('usage_daily_tenant_id_day_key').on(t.tenantId, t.day),
    check(
      'usage_daily_counts_check',
      sql`${t.requests} >= 0 and ${t.datasetQueries} >= 0 and ${t.cacheHits} >= 0 and ${t.errors} >= 0 and ${t.rateLimited} >= 0 and ${t.tenantBusy} >= 0`,
    ),
  ],
);
