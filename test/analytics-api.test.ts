/**
 * The analytics API end to end over real HTTP: tRPC `datasets.*` and `query`, REST `/v1` (JSON and
 * CSV), the per-tenant cache and its invalidation, rate limits with their headers, the audit event,
 * the platform admin's queries, usage and /metrics. The engine's operators, grains and limits are
 * covered in query-engine.test.ts; here, what the transports and the shared parts add.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { apiKeys, auditEvents } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { RedisQueryCache } from '../src/platform/query-cache/query-cache.js';
import { RedisRateLimiter } from '../src/platform/rate-limit/rate-limiter.js';
import { UsageRecorder } from '../src/modules/usage/usage.js';
import { AuditBuffer } from '../src/modules/audit-log/audit-buffer.js';
import { openRedis } from '../src/platform/redis.js';
import { createPlatformAdminKey } from '../src/modules/tenants/tenants.service.js';
import { appPool, makeTenantWithOrders, ownerPool, startServer, trpcError, type TestServer } from './harness.js';
import { deletePrefixes, randomPrefix, testRedis } from './redis.js';

const redis = await testRedis();

let owner: Sql;
let app: Sql;
let server: TestServer;
let usage: UsageRecorder;
let auditBuffer: AuditBuffer;
let adminKey: string;

beforeAll(async () => {
  owner = ownerPool();
  app = appPool(4);
  usage = new UsageRecorder(app);
  auditBuffer = new AuditBuffer(app);
  server = await startServer(app, { deps: { usage, auditBuffer } });
  adminKey = await createPlatformAdminKey(owner, 'analytics test admin');
});
afterAll(async () => {
  await server.close();
  await Promise.all([owner.end(), app.end()]);
});

const revenueByRegion = { dataset: 'orders', dimensions: ['region'], metrics: ['revenue', 'order_count'], orderBy: [{ field: 'region', direction: 'asc' as const }] };

async function rest(path: string, key: string | undefined, init: RequestInit & { accept?: string } = {}) {
  const headers = new Headers(init.headers);
  if (key) headers.set('authorization', `Bearer ${key}`);
  if (init.accept) headers.set('accept', init.accept);
  return fetch(`${server.url}${path}`, { ...init, headers });
}

async function auditOf(tenantId: string, action: string) {
  return withTenant(owner, tenantId, (tx) => tx.select().from(auditEvents).where(eq(auditEvents.action, action)));
}

describe('tRPC datasets and query', () => {
  it('lists and describes the catalog, and answers 404 for an unknown dataset', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 2);
    const api = server.client(tenant.apiKey);
    const list = await api.datasets.list.query();
    expect(JSON.stringify(list)).toContain('orders');
    const described = await api.datasets.describe.query({ name: 'orders' });
    expect(JSON.stringify(described)).toContain('revenue');
    expect(await trpcError(api.datasets.describe.query({ name: 'nope' }))).toMatchObject({ httpStatus: 404, reason: 'UNKNOWN_DATASET' });
  });

  it('gives two tenants the same query with their own numbers, never the other one’s cache entry', async () => {
    const a = await makeTenantWithOrders(owner, 3); // north 10.50 + 12.50, south 11.50
    const b = await makeTenantWithOrders(owner, 4); // north 10.50 + 12.50, south 11.50 + 13.50
    const first = await server.client(a.tenant.apiKey).query.query(revenueByRegion);
    expect(first.cached).toBe(false);
    expect(first.rows).toEqual([
      { region: 'north', revenue: 23, order_count: 2 },
      { region: 'south', revenue: 11.5, order_count: 1 },
    ]);
    expect(first.columns.map((c) => c.name)).toEqual(['region', 'revenue', 'order_count']);
    const again = await server.client(a.tenant.apiKey).query.query(revenueByRegion);
    expect(again).toMatchObject({ cached: true, rows: first.rows });
    // The same query with its keys in another order is the same entry.
    const reordered = Object.fromEntries(Object.entries(revenueByRegion).reverse()) as typeof revenueByRegion;
    expect(Object.keys(reordered)).not.toEqual(Object.keys(revenueByRegion));
    expect(await server.client(a.tenant.apiKey).query.query(reordered)).toMatchObject({ cached: true, rows: first.rows });
    // Same query, other tenant: a miss and its own numbers.
    const other = await server.client(b.tenant.apiKey).query.query(revenueByRegion);
    expect(other.cached).toBe(false);
    expect(other.rows).toEqual([
      { region: 'north', revenue: 23, order_count: 2 },
      { region: 'south', revenue: 25, order_count: 2 },
    ]);
  });

  it('records dataset.query audit events for misses and hits', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 2);
    const api = server.client(tenant.apiKey);
    await api.query.query(revenueByRegion);
    await api.query.query(revenueByRegion);
    expect(await auditOf(tenant.id, 'dataset.query')).toHaveLength(0); // batched, not per request
    await auditBuffer.flush();
    const events = await auditOf(tenant.id, 'dataset.query');
    expect(events).toHaveLength(2);
    expect(events.map((e) => (e.details as { cacheHit: boolean }).cacheHit).sort()).toEqual([false, true]);
    expect(events[0]!.details).toMatchObject({ dataset: 'orders', dimensions: ['region'], metrics: ['revenue', 'order_count'], rowCount: 2 });
    expect(events[0]!.sourceIp).toBeTruthy();
  });

  it('folds one caller’s repeated hits of a result into one counted event per flush', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 2);
    const path = '/v1/query?dataset=orders&dimensions=region&metrics=revenue';
    const ids = ['fold-miss', 'fold-hit-1', 'fold-hit-2', 'fold-hit-3'];
    for (const id of ids) expect((await rest(path, tenant.apiKey, { headers: { 'x-request-id': id } })).status).toBe(200);
    await auditBuffer.flush();
    const events = await auditOf(tenant.id, 'dataset.query');
    expect(events).toHaveLength(2);
    const miss = events.find((e) => e.requestId === 'fold-miss')!;
    expect(miss.details).toMatchObject({ cacheHit: false, rowCount: 2 });
    expect(miss.details).not.toHaveProperty('count');
    const hits = events.find((e) => e.requestId === 'fold-hit-1')!;
    expect(hits.details).toMatchObject({ cacheHit: true, rowCount: 2, count: 3, lastRequestId: 'fold-hit-3', dataset: 'orders' });
    const { lastAt, maxDurationMs } = hits.details as { lastAt: string; maxDurationMs: number };
    expect(new Date(lastAt).getTime()).toBeGreaterThanOrEqual(hits.at.getTime());
    expect(maxDurationMs).toBeGreaterThanOrEqual(0);
  });

  it('writes every hit as its own event with AUDIT_CACHE_HITS=each, and folds only identical reads', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 1);
    const actor = (requestId: string, sourceIp = '10.0.0.1') => ({ type: 'api_key' as const, id: 'k1', requestId, sourceIp });
    const event = { action: 'dataset.query', targetType: 'dataset', details: { dataset: 'orders', cacheHit: true, durationMs: 1 } };
    const at = new Date();
    const each = new AuditBuffer(app, undefined, { foldRepeats: false });
    for (const id of ['each-1', 'each-2']) each.recordRepeat(tenant.id, actor(id), event, at, 'entry-a');
    const folding = new AuditBuffer(app);
    folding.recordRepeat(tenant.id, actor('fold-1'), event, at, 'entry-a');
    folding.recordRepeat(tenant.id, actor('fold-2'), event, at, 'entry-a');
    folding.recordRepeat(tenant.id, actor('fold-3', '10.0.0.2'), event, at, 'entry-a'); // another address
    folding.recordRepeat(tenant.id, actor('fold-4'), event, at, 'entry-b'); // another result
    await Promise.all([each.flush(), folding.flush()]);
    const rows = await auditOf(tenant.id, 'dataset.query');
    const count = (id: string) => (rows.find((r) => r.requestId === id)?.details as { count?: number } | undefined)?.count ?? (rows.some((r) => r.requestId === id) ? 1 : 0);
    expect(rows.map((r) => r.requestId).sort()).toEqual(['each-1', 'each-2', 'fold-1', 'fold-3', 'fold-4']);
    expect([count('fold-1'), count('fold-3'), count('fold-4')]).toEqual([2, 1, 1]);
  });

  it('forgets a tenant’s cached results when the tenant writes', async () => {
    const { tenant, customerId } = await makeTenantWithOrders(owner, 1);
    const api = server.client(tenant.apiKey);
    const query = { dataset: 'orders', metrics: ['revenue'] };
    expect((await api.query.query(query)).rows).toEqual([{ revenue: 10.5 }]);
    expect((await api.query.query(query)).cached).toBe(true);
    await api.orders.create.mutate({ customerId, region: 'north', amount: '5.00', orderDate: '2026-02-01' });
    const after = await api.query.query(query);
    expect(after).toMatchObject({ cached: false, rows: [{ revenue: 15.5 }] });
  });

  it('answers a bad query with a 400 naming the field', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 1);
    const api = server.client(tenant.apiKey);
    const unknown = await trpcError(api.query.query({ dataset: 'orders', metrics: ['profit'] }));
    expect(unknown).toMatchObject({ httpStatus: 400 });
    expect(unknown.message).toMatch(/profit/);
    const tooMany = await trpcError(api.query.query({ dataset: 'orders', metrics: ['revenue'], limit: 100_001 }));
    expect(tooMany).toMatchObject({ httpStatus: 400, reason: 'INVALID_INPUT' });
    expect(tooMany.message).toMatch(/limit/);
  });
});

describe('REST /v1', () => {
  it('answers the README’s curl with the tenant’s revenue by region as CSV', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 3);
    const response = await rest('/v1/query?dataset=orders&dimensions=region&metrics=revenue', tenant.apiKey, { accept: 'text/csv' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await response.text()).trim().split('\r\n');
    expect(lines[0]).toBe('region,revenue');
    expect(lines.slice(1).sort()).toEqual(['north,23', 'south,11.5']);
  });

  it('lists and describes datasets, and runs POST and GET queries as JSON', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 4);
    const list = (await (await rest('/v1/datasets', tenant.apiKey)).json()) as { datasets: { name: string }[] };
    expect(list.datasets.map((d) => d.name)).toContain('orders');
    expect((await rest('/v1/datasets/orders', tenant.apiKey)).status).toBe(200);
    const posted = await rest('/v1/query', tenant.apiKey, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...revenueByRegion, filters: [{ dimension: 'region', op: 'eq', value: 'south' }] }),
    });
    expect(posted.status).toBe(200);
    expect(((await posted.json()) as { rows: unknown[] }).rows).toEqual([{ region: 'south', revenue: 25, order_count: 2 }]);
    const got = await rest('/v1/query?dataset=orders&dimensions=region&metrics=order_count&filter=region:in:north,south&orderBy=-region&limit=1', tenant.apiKey);
    const body = (await got.json()) as { rows: unknown[]; truncated: boolean };
    expect(body).toMatchObject({ rows: [{ region: 'south', order_count: 2 }], truncated: true });
  });

  it('uses the REST error envelope for every failure', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 1);
    const noKey = await rest('/v1/datasets', undefined);
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ error: { code: 'UNAUTHORIZED', reason: 'KEY_MISSING' } });
    const unknown = await rest('/v1/query?dataset=orders&metrics=profit', tenant.apiKey);
    expect(unknown.status).toBe(400);
    const body = (await unknown.json()) as { error: { message: string; requestId: string } };
    expect(body.error.message).toMatch(/profit/);
    expect(body.error.requestId).toBeTruthy();
    const badJson = await rest('/v1/query', tenant.apiKey, { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } });
    expect(badJson.status).toBe(400);
    const badFilter = await rest('/v1/query?dataset=orders&metrics=revenue&filter=region', tenant.apiKey);
    expect(badFilter.status).toBe(400);
    expect(((await badFilter.json()) as { error: { message: string } }).error.message).toMatch(/filter\[0\]/);
    const missing = await rest('/v1/datasets/nope', tenant.apiKey);
    expect(missing.status).toBe(404);
  });

  it('refuses a platform-admin key and a tenant header naming another tenant', async () => {
    const a = await makeTenantWithOrders(owner, 1);
    const b = await makeTenantWithOrders(owner, 1);
    expect((await rest('/v1/datasets', adminKey)).status).toBe(403);
    const mismatch = await rest('/v1/query?dataset=orders&metrics=revenue', a.tenant.apiKey, { headers: { 'x-tenant-id': b.tenant.id } });
    expect(mismatch.status).toBe(403);
    expect(await mismatch.json()).toMatchObject({ error: { reason: 'TENANT_MISMATCH' } });
  });
});

describe('rate limits', () => {
  async function keyWithLimit(tenantId: string, rateLimit: string) {
    await withTenant(owner, tenantId, (tx) => tx.update(apiKeys).set({ rateLimit }));
  }

  it('enforces a key’s own limit on tRPC and REST alike, with Retry-After and RateLimit-* headers', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 1);
    await keyWithLimit(tenant.id, '3/minute');
    const first = await rest('/v1/datasets', tenant.apiKey);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-limit')).toBe('3');
    expect(first.headers.get('ratelimit-remaining')).toBe('2');
    await server.client(tenant.apiKey).datasets.list.query();
    expect((await rest('/v1/datasets', tenant.apiKey)).status).toBe(200);
    const refused = await rest('/v1/datasets', tenant.apiKey);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({ error: { code: 'TOO_MANY_REQUESTS', reason: 'TOO_MANY_REQUESTS' } });
    const viaTrpc = await fetch(`${server.url}/trpc/datasets.list`, { headers: { authorization: `Bearer ${tenant.apiKey}` } });
    expect(viaTrpc.status).toBe(429);
    expect(viaTrpc.headers.get('retry-after')).toBeTruthy();
    expect(viaTrpc.headers.get('ratelimit-limit')).toBe('3');
  });

  it('applies the tenant’s default budget to every key, and the tighter of the two wins', async () => {
    const limited = await startServer(app, { deps: { tenantRateLimit: '2/minute' } });
    try {
      const { tenant } = await makeTenantWithOrders(owner, 1);
      await keyWithLimit(tenant.id, '100/minute');
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(`${limited.url}/v1/datasets`, { headers: { authorization: `Bearer ${tenant.apiKey}` } })).status);
      expect(statuses).toEqual([200, 200, 429]);
      // Another tenant has its own budget.
      const other = await makeTenantWithOrders(owner, 1);
      expect((await fetch(`${limited.url}/v1/datasets`, { headers: { authorization: `Bearer ${other.tenant.apiKey}` } })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('platform admin queries', () => {
  it('queries one named tenant (audited) and all tenants with a tenant dimension', async () => {
    const a = await makeTenantWithOrders(owner, 3);
    const b = await makeTenantWithOrders(owner, 4);
    const admin = server.client(adminKey);
    const one = await admin.tenants.query.query({ tenantId: b.tenant.id, query: revenueByRegion });
    expect(one.rows).toEqual([
      { region: 'north', revenue: 23, order_count: 2 },
      { region: 'south', revenue: 25, order_count: 2 },
    ]);
    const [event] = await owner<{ action: string }[]>`select action from platform_audit_events where target_tenant_id = ${b.tenant.id} and action = 'dataset.query'`;
    expect(event).toBeDefined();
    const all = await admin.tenants.queryAll.query({ dataset: 'orders', metrics: ['order_count'], limit: 100_000 });
    expect(all.columns[0]!.name).toBe('tenant');
    const counts = Object.fromEntries(all.rows.map((r) => [r.tenant, r.order_count]));
    expect(counts[a.tenant.slug]).toBe(3);
    expect(counts[b.tenant.slug]).toBe(4);
    expect(await trpcError(server.client(a.tenant.apiKey).tenants.queryAll.query({ dataset: 'orders', metrics: ['order_count'] }))).toMatchObject({
      httpStatus: 403,
    });
  });
});

describe('usage and metrics', () => {
  it('counts each tenant’s requests, cache hits, errors and rate-limited calls', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 2);
    const api = server.client(tenant.apiKey);
    await api.query.query(revenueByRegion);
    await api.query.query(revenueByRegion);
    await trpcError(api.query.query({ dataset: 'orders', metrics: ['profit'] }));
    await usage.flush();
    const mine = await api.usage.get.query({});
    expect(mine).toMatchObject({ queries_today: 3, errors_today: 1, rate_limited_today: 0, cache_hit_rate: 0.5 });
    expect(mine.last_active).toBeTruthy();
    const all = await server.client(adminKey).usage.all.query({});
    expect(JSON.stringify(all)).toContain(tenant.slug);
  });

  it('serves Prometheus metrics to a platform-admin key only', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 1);
    await server.client(tenant.apiKey).query.query(revenueByRegion);
    expect((await rest('/metrics', undefined)).status).toBe(401);
    expect((await rest('/metrics', tenant.apiKey)).status).toBe(403);
    const response = await rest('/metrics', adminKey);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/^palisade_http_requests_total\{/m);
    expect(text).toMatch(/palisade_http_request_duration_seconds_bucket\{/);
    expect(text).toMatch(/palisade_db_pool_saturation /);
  });
});

describe.skipIf(!redis.url)(`two server instances sharing Redis${redis.skip ? ` (skipped: ${redis.skip})` : ''}`, () => {
  it('share one rate-limit budget, one cache, and one invalidation', async () => {
    const url = redis.url!;
    const prefix = randomPrefix();
    const instance = () =>
      startServer(app, {
        deps: {
          cache: new RedisQueryCache(openRedis(url), { prefix }),
          rateLimiter: new RedisRateLimiter(openRedis(url), { prefix }),
          tenantRateLimit: '4/minute',
        },
      });
    const [one, two] = [await instance(), await instance()];
    try {
      const { tenant, customerId } = await makeTenantWithOrders(owner, 2);
      const query = { dataset: 'orders', metrics: ['order_count'] };
      expect(await one.client(tenant.apiKey).query.query(query)).toMatchObject({ cached: false, rows: [{ order_count: 2 }] });
      expect(await two.client(tenant.apiKey).query.query(query)).toMatchObject({ cached: true, rows: [{ order_count: 2 }] });
      // A write through one instance invalidates the entry the other would serve.
      await one.client(tenant.apiKey).orders.create.mutate({ customerId, region: 'north', amount: '1.00', orderDate: '2026-02-02' });
      // That was the 3rd request of 4 across both instances; the 4th passes, the 5th is refused.
      expect(await two.client(tenant.apiKey).query.query(query)).toMatchObject({ cached: false, rows: [{ order_count: 3 }] });
      expect(await trpcError(one.client(tenant.apiKey).query.query(query))).toMatchObject({ httpStatus: 429, reason: 'TOO_MANY_REQUESTS' });
    } finally {
      await Promise.all([one.close(), two.close()]);
      await deletePrefixes(url, [prefix]);
    }
  });
});
