/** The usage recorder and reports against the real usage_daily table, as the app and platform roles. */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { LATENCY_BUCKET_COUNT } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import type { ProvisionedTenant } from '../src/modules/tenants/tenants.service.js';
import { getUsage, listAllUsage, UsageRecorder } from '../src/modules/usage/usage.js';
import { appPool, makeTenant, ownerPool, pg, platformPool } from './harness.js';

let owner: Sql;
let app: Sql;
let platform: Sql;
beforeAll(() => {
  owner = ownerPool();
  app = appPool(4);
  platform = platformPool(2);
});
afterAll(async () => {
  await Promise.all([owner.end(), app.end(), platform.end()]);
});

const NOON = new Date('2026-04-10T12:00:00.000Z');
const at = (iso: string) => new Date(iso);

interface StoredRow {
  day: string;
  requests: number;
  dataset_queries: number;
  cache_hits: number;
  errors: number;
  rate_limited: number;
  tenant_busy: number;
  total_duration_ms: number;
  latency_buckets: string;
  last_active: string;
}

/** The tenant's rows as stored, read as the owner (FORCE RLS: through the tenant's own context). */
function storedRows(tenantId: string): Promise<StoredRow[]> {
  return withTenant(owner, tenantId, (tx) =>
    tx.$client<StoredRow[]>`
      select day::text as day, requests, dataset_queries, cache_hits, errors, rate_limited, tenant_busy, total_duration_ms,
        latency_buckets::text as latency_buckets, to_json(last_active)#>>'{}' as last_active
      from usage_daily order by day`,
  );
}

const buckets = (counts: Record<number, number>) => `{${Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => counts[i] ?? 0).join(',')}}`;

describe('UsageRecorder', () => {
  let a: ProvisionedTenant;
  let b: ProvisionedTenant;
  beforeAll(async () => {
    [a, b] = await Promise.all([makeTenant(owner, 'Usage A'), makeTenant(owner, 'Usage B')]);
  });

  it('writes nothing until flushed, then one row per tenant per UTC day with the right counts', async () => {
    const recorder = new UsageRecorder(app);
    // Tenant A, 10 April: 100 requests; 20 dataset queries of which 5 cache hits; 3 errors; 2 rate limited; 4 refused TENANT_BUSY.
    for (let i = 0; i < 100; i++) {
      recorder.record(a.id, {
        at: at(`2026-04-10T0${i % 10}:00:00.000Z`),
        durationMs: i < 94 ? 4 : 80, // 94 in (0, 5], 6 in (50, 100]
        datasetQuery: i < 20,
        cacheHit: i < 5,
        error: i >= 97,
        rateLimited: i === 50 || i === 51,
        tenantBusy: i >= 60 && i < 64,
      });
    }
    recorder.record(a.id, { at: at('2026-04-09T23:59:59.000Z'), durationMs: 20_000 });
    recorder.record(b.id, { at: at('2026-04-10T10:00:00.000Z'), durationMs: 7 });
    expect(await storedRows(a.id)).toEqual([]);
    expect(recorder.pendingTenants().sort()).toEqual([a.id, b.id].sort());

    await recorder.flush();
    expect(recorder.pendingTenants()).toEqual([]);
    expect(await storedRows(a.id)).toEqual([
      { day: '2026-04-09', requests: 1, dataset_queries: 0, cache_hits: 0, errors: 0, rate_limited: 0, tenant_busy: 0, total_duration_ms: 20_000, latency_buckets: buckets({ 11: 1 }), last_active: '2026-04-09T23:59:59+00:00' },
      { day: '2026-04-10', requests: 100, dataset_queries: 20, cache_hits: 5, errors: 3, rate_limited: 2, tenant_busy: 4, total_duration_ms: 94 * 4 + 6 * 80, latency_buckets: buckets({ 0: 94, 4: 6 }), last_active: '2026-04-10T09:00:00+00:00' },
    ]);
    expect(await storedRows(b.id)).toHaveLength(1);

    const usage = await withTenant(app, a.id, (tx) => getUsage(tx, { days: 3, today: NOON }));
    expect(usage).toEqual({
      queries_today: 100,
      avg_response_time_ms: 8.56,
      p95_response_time_ms: 100,
      cache_hit_rate: 0.25,
      errors_today: 3,
      rate_limited_today: 2,
      tenant_busy_today: 4,
      last_active: '2026-04-10T09:00:00.000Z',
      daily: [
        { day: '2026-04-08', requests: 0, avg_response_time_ms: null, p95_response_time_ms: null, cache_hit_rate: null, errors: 0, rate_limited: 0, tenant_busy: 0 },
        { day: '2026-04-09', requests: 1, avg_response_time_ms: 20_000, p95_response_time_ms: 10_000, cache_hit_rate: null, errors: 0, rate_limited: 0, tenant_busy: 0 },
        { day: '2026-04-10', requests: 100, avg_response_time_ms: 8.56, p95_response_time_ms: 100, cache_hit_rate: 0.25, errors: 3, rate_limited: 2, tenant_busy: 4 },
      ],
    });
  });

  it('keeps tenants apart: as the app role, B sees none of A’s rows and only its own numbers', async () => {
    const seenByB = await withTenant(app, b.id, async (tx) => ({
      rows: await tx.$client<{ tenant_id: string }[]>`select tenant_id from usage_daily`,
      aRows: await tx.$client`select 1 from usage_daily where tenant_id = ${a.id}`,
      usage: await getUsage(tx, { days: 2, today: NOON }),
    }));
    expect(seenByB.rows.map((r) => r.tenant_id)).toEqual([b.id]);
    expect(seenByB.aRows).toHaveLength(0);
    expect(seenByB.usage.queries_today).toBe(1);
    expect(seenByB.usage.daily.map((d) => d.requests)).toEqual([0, 1]);
    expect(await app`select 1 from usage_daily`).toHaveLength(0); // no tenant, no rows
  });

  it('adds up across recorders flushing the same tenant and day (restart- and multi-instance-safe)', async () => {
    const t = await makeTenant(owner, 'Usage twice');
    const first = new UsageRecorder(app);
    const second = new UsageRecorder(app);
    first.record(t.id, { at: at('2026-04-10T08:00:00.000Z'), durationMs: 3, datasetQuery: true, cacheHit: true });
    first.record(t.id, { at: at('2026-04-10T08:00:01.000Z'), durationMs: 30, error: true });
    second.record(t.id, { at: at('2026-04-10T07:00:00.000Z'), durationMs: 300, datasetQuery: true });
    await first.flush();
    await second.flush();
    expect(await storedRows(t.id)).toEqual([
      { day: '2026-04-10', requests: 3, dataset_queries: 2, cache_hits: 1, errors: 1, rate_limited: 0, tenant_busy: 0, total_duration_ms: 333, latency_buckets: buckets({ 0: 1, 3: 1, 6: 1 }), last_active: '2026-04-10T08:00:01+00:00' },
    ]);
  });

  it('keeps the counts of a failed flush and writes them with the next one', async () => {
    const t = await makeTenant(owner, 'Usage retry');
    // A real failure: the owner holds a lock the upsert needs, and this pool gives up waiting quickly.
    const impatient = postgres(pg.appUrl, { max: 1, onnotice: () => undefined, connection: { lock_timeout: 200 } });
    const recorder = new UsageRecorder(impatient);
    const blocker = await owner.reserve();
    try {
      recorder.record(t.id, { at: at('2026-04-10T08:00:00.000Z'), durationMs: 1 });
      await blocker`begin`;
      await blocker`lock table usage_daily in share mode`;
      await expect(recorder.flush()).rejects.toMatchObject({ cause: { code: '55P03' } });
      expect(recorder.pendingTenants()).toEqual([t.id]);
      recorder.record(t.id, { at: at('2026-04-10T09:00:00.000Z'), durationMs: 2 });
      await blocker`rollback`;
      await recorder.flush();
      expect(recorder.pendingTenants()).toEqual([]);
      const [row] = await storedRows(t.id);
      expect(row).toMatchObject({ requests: 2, total_duration_ms: 3, latency_buckets: buckets({ 0: 2 }), last_active: '2026-04-10T09:00:00+00:00' });
    } finally {
      await blocker`rollback`.catch(() => undefined);
      blocker.release();
      await impatient.end();
    }
  });

  it('drops the counts of a tenant that no longer exists instead of retrying forever, and still writes the tenants flushed with it', async () => {
    const live = await makeTenant(owner, 'Usage beside a missing tenant');
    const logged: string[] = [];
    const recorder = new UsageRecorder(app, { log: (level, message) => void logged.push(`${level}: ${message}`) });
    recorder.record(live.id, { at: NOON, durationMs: 1 });
    recorder.record('00000000-0000-4000-8000-000000000000', { at: NOON, durationMs: 1 });
    // One group: its transaction fails on the missing tenant, then each tenant is written alone.
    await recorder.flush();
    expect(recorder.pendingTenants()).toEqual([]);
    expect(await storedRows(live.id)).toMatchObject([{ day: '2026-04-10', requests: 1 }]);
    expect(logged).toEqual(['warn: batched write failed; writing each tenant on its own', 'warn: usage dropped for a tenant that no longer exists']);
  });

  it('stop() flushes what is left', async () => {
    const t = await makeTenant(owner, 'Usage stop');
    const recorder = new UsageRecorder(app, { clock: () => NOON });
    recorder.start(60_000, () => undefined);
    recorder.record(t.id, { durationMs: 12 });
    await recorder.stop();
    expect(await storedRows(t.id)).toMatchObject([{ day: '2026-04-10', requests: 1, last_active: '2026-04-10T12:00:00+00:00' }]);
  });
});

describe('listAllUsage (platform role)', () => {
  it('reads each tenant under its own context, in the order given', async () => {
    const tenants = await Promise.all(['All 1', 'All 2', 'All 3'].map((name) => makeTenant(owner, name)));
    const recorder = new UsageRecorder(app);
    tenants.forEach((t, i) => {
      for (let n = 0; n <= i; n++) recorder.record(t.id, { at: NOON, durationMs: 10, datasetQuery: true, cacheHit: n === 0 });
    });
    await recorder.flush();
    const rows = await listAllUsage(platform, tenants.map((t) => ({ id: t.id, slug: t.slug, name: t.name })), NOON);
    expect(rows.map((r) => [r.tenant, r.tenantId, r.queries_today, r.cache_hit_rate])).toEqual([
      [tenants[0]!.slug, tenants[0]!.id, 1, 1],
      [tenants[1]!.slug, tenants[1]!.id, 2, 0.5],
      [tenants[2]!.slug, tenants[2]!.id, 3, 0.3333],
    ]);
    expect(rows[0]).toEqual({
      tenant: tenants[0]!.slug,
      tenantId: tenants[0]!.id,
      name: 'All 1',
      queries_today: 1,
      avg_response_time_ms: 10,
      p95_response_time_ms: 10,
      cache_hit_rate: 1,
      errors_today: 0,
      rate_limited_today: 0,
      tenant_busy_today: 0,
      last_active: NOON.toISOString(),
    });
  });
});
