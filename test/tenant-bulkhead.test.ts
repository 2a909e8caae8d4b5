/**
 * Per-tenant bulkheads over real HTTP, as the app role: one tenant's requests are held open by a
 * row lock (the owner locks one of its customers; `customers.update` on it waits in Postgres), so
 * the tenant's permits are taken for exactly as long as the test says. Its excess requests on
 * every transport get 503 TENANT_BUSY with Retry-After after the bounded wait, another tenant is
 * served meanwhile, permits come back after errors and after clients went away, and the refusals
 * show in /metrics and in the tenant's usage (not as errors).
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { customers } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { TenantBulkhead } from '../src/platform/bulkhead/tenant-bulkhead.js';
import { MetricsRegistry } from '../src/platform/metrics/metrics.js';
import { createPlatformAdminKey } from '../src/modules/tenants/tenants.service.js';
import { UsageRecorder } from '../src/modules/usage/usage.js';
import { appPool, makeTenantWithOrders, ownerPool, startServer, trpcError, type Fixture, type TestServer } from './harness.js';

const PERMITS = 2;
const WAIT_MS = 300;

let owner: Sql;
let app: Sql;
let busy: Fixture;
let quiet: Fixture;
let adminKey: string;

beforeAll(async () => {
  owner = ownerPool();
  // Two connections for the held requests, the rest for everyone else.
  app = appPool(6);
  [busy, quiet] = await Promise.all([makeTenantWithOrders(owner, 4, 'Busy'), makeTenantWithOrders(owner, 4, 'Quiet')]);
  adminKey = await createPlatformAdminKey(owner, 'bulkhead test');
});

afterAll(async () => {
  await Promise.all([owner?.end(), app?.end()]);
});

/** A customer of `tenant` without orders (so the owner may delete it). */
async function lonelyCustomer(tenant: Fixture): Promise<string> {
  const [row] = await withTenant(owner, tenant.tenant.id, (tx) =>
    tx.insert(customers).values({ name: 'Locked', email: `locked-${Math.random().toString(36).slice(2)}@example.com` }).returning({ id: customers.id }),
  );
  return row!.id;
}

/**
 * The owner holds a row lock on the customer until `release`: every update of it waits in
 * Postgres meanwhile. `release('delete')` deletes the row first, so the waiting updates then find
 * nothing (NOT_FOUND).
 */
async function lockCustomer(tenantId: string, customerId: string) {
  let open!: (then: 'commit' | 'delete') => void;
  const gate = new Promise<'commit' | 'delete'>((resolve) => (open = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const done = withTenant(owner, tenantId, async (tx) => {
    await tx.select({ id: customers.id }).from(customers).where(eq(customers.id, customerId)).for('update');
    locked();
    if ((await gate) === 'delete') await tx.delete(customers).where(eq(customers.id, customerId));
  });
  await isLocked;
  return {
    release: async (then: 'commit' | 'delete' = 'commit') => {
      open(then);
      await done;
    },
  };
}

async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `customers.update` over tRPC with a plain fetch (so it can be aborted): status and reason. */
async function renameOverTrpc(server: TestServer, key: string, id: string, name: string, signal?: AbortSignal) {
  const res = await fetch(`${server.url}/trpc/customers.update`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, name }),
    signal,
  });
  const body = (await res.json()) as { error?: { data?: { reason?: string } } };
  return { status: res.status, reason: body.error?.data?.reason };
}

interface Refusal {
  status: number;
  retryAfter: string | null;
  reason: string | undefined;
  elapsedMs: number;
}

/** A GET answered with an error on any transport: status, Retry-After, the reason wherever the body carries it. */
async function refusal(server: TestServer, path: string, key: string): Promise<Refusal> {
  const started = performance.now();
  const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  const body = (await res.json()) as { error?: { reason?: string; code?: string; data?: { reason?: string } } };
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    // REST: error.reason; OData: error.code is the reason; tRPC: error.data.reason.
    reason: body.error?.reason ?? body.error?.data?.reason ?? body.error?.code,
    elapsedMs: performance.now() - started,
  };
}

const BUSY = { status: 503, retryAfter: '1', reason: 'TENANT_BUSY' };

describe('per-tenant bulkheads', () => {
  const bulkhead = new TenantBulkhead({ maxConcurrent: PERMITS, waitMs: WAIT_MS });
  const metrics = new MetricsRegistry({ defaultMetrics: false });
  let usage: UsageRecorder;
  let server: TestServer;

  beforeAll(async () => {
    usage = new UsageRecorder(app);
    server = await startServer(app, { deps: { bulkhead, metrics, usage } });
  });
  afterAll(() => server?.close());

  it('refuses a saturated tenant’s excess requests on every transport after the wait, serves another tenant meanwhile, and takes permits back after errors', async () => {
    const key = busy.tenant.apiKey;
    const customerId = await lonelyCustomer(busy);
    const lock = await lockCustomer(busy.tenant.id, customerId);
    // Two updates wait on the lock, each holding one of the tenant's two permits.
    const held = [1, 2].map((n) => renameOverTrpc(server, key, customerId, `held ${n}`));
    try {
      await until('both permits are held', () => bulkhead.inUse(busy.tenant.id) === PERMITS);

      const refusing = Promise.all([
        refusal(server, '/trpc/orders.list', key),
        refusal(server, '/v1/query?dataset=orders&metrics=order_count', key),
        refusal(server, '/odata/orders/$count', key),
      ]);
      // The other tenant is served on every transport while the busy one's requests wait.
      const page = await server.client(quiet.tenant.apiKey).orders.list.query({});
      expect(page.items).toHaveLength(4);
      for (const path of ['/v1/query?dataset=orders&metrics=order_count', '/odata/orders/$count']) {
        const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${quiet.tenant.apiKey}` } });
        expect(res.status).toBe(200);
      }
      const refusals = await refusing;
      for (const r of refusals) {
        expect(r).toMatchObject(BUSY);
        // After the bounded wait, not at once and not much later (generous: two loaded cores).
        expect(r.elapsedMs).toBeGreaterThanOrEqual(WAIT_MS - 20);
        expect(r.elapsedMs).toBeLessThan(WAIT_MS + 5_000);
      }
      // Nothing was waiting on the permits except those three, and they have left.
      expect(bulkhead.waiting(busy.tenant.id)).toBe(0);
      expect(bulkhead.inUse(busy.tenant.id)).toBe(PERMITS);
    } finally {
      // The row goes: both held updates end in NOT_FOUND, an error inside the procedure.
      await lock.release('delete');
    }
    expect(await Promise.all(held)).toEqual([
      { status: 404, reason: 'NOT_FOUND' },
      { status: 404, reason: 'NOT_FOUND' },
    ]);
    await until('the permits are back', () => bulkhead.inUse(busy.tenant.id) === 0);

    // Errors on each transport, in procedures and handlers, as many at once as there are permits
    // (never more: a wait could end in TENANT_BUSY on a slow machine), four times the permits in all.
    const failing: (() => Promise<{ httpStatus: number } | { status: number }>)[] = [
      () => trpcError(server.client(key).customers.update.mutate({ id: customerId, name: 'gone' })),
      () => trpcError(server.client(key).orders.get.query({ id: 'not-a-uuid' })),
      () => refusal(server, '/v1/query?dataset=no_such_dataset&metrics=x', key),
      () => refusal(server, '/odata/no_such_set', key),
    ];
    const statuses: number[] = [];
    for (const fail of failing) {
      const answers = await Promise.all(Array.from({ length: PERMITS }, fail));
      statuses.push(...answers.map((f) => ('httpStatus' in f ? f.httpStatus : f.status)));
    }
    expect(statuses).toEqual([404, 404, 400, 400, 404, 404, 404, 404]);
    expect(bulkhead.inUse(busy.tenant.id)).toBe(0);
    expect(bulkhead.activeTenants).toBe(0);

    // And the tenant is served again, with both permits: two held at once.
    const again = await lonelyCustomer(busy);
    const second = await lockCustomer(busy.tenant.id, again);
    const twoMore = [1, 2].map((n) => renameOverTrpc(server, key, again, `again ${n}`));
    await until('both permits are held again', () => bulkhead.inUse(busy.tenant.id) === PERMITS);
    await second.release();
    expect((await Promise.all(twoMore)).map((r) => r.status)).toEqual([200, 200]);
    await until('the permits are back again', () => bulkhead.inUse(busy.tenant.id) === 0);
  });

  it('counts the refusals in /metrics by tenant and in the tenant’s usage, not as errors', async () => {
    const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain(`palisade_tenant_busy_total{tenant="${busy.tenant.slug}"} 3`);
    expect(text).not.toContain(`palisade_tenant_busy_total{tenant="${quiet.tenant.slug}"}`);

    await usage.flush();
    const report = await server.client(busy.tenant.apiKey).usage.get.query({ days: 1 });
    expect(report).toMatchObject({ tenant: busy.tenant.slug, tenant_busy_today: 3, rate_limited_today: 0 });
    // The held updates' two NOT_FOUNDs and the eight failures after them; the three refusals are not errors.
    expect(report.errors_today).toBe(10);
    const quietReport = await server.client(quiet.tenant.apiKey).usage.get.query({ days: 1 });
    expect(quietReport).toMatchObject({ tenant_busy_today: 0, errors_today: 0 });
  });
});

describe('per-tenant bulkheads, clients that go away', () => {
  // A long wait: a waiter that left must leave the queue because its client went, not by timing out.
  const bulkhead = new TenantBulkhead({ maxConcurrent: PERMITS, waitMs: 20_000 });
  let server: TestServer;
  let tenant: Fixture;

  beforeAll(async () => {
    tenant = await makeTenantWithOrders(owner, 1, 'Leaving');
    server = await startServer(app, { deps: { bulkhead } });
  });
  afterAll(() => server?.close());

  it('drops a waiting request whose client went away, and releases a held one’s permit when its work ends', async () => {
    const { id: tenantId, apiKey: key } = tenant.tenant;
    const customerId = await lonelyCustomer(tenant);
    const lock = await lockCustomer(tenantId, customerId);
    const holding = new AbortController();
    const held = [
      renameOverTrpc(server, key, customerId, 'held', holding.signal).catch((error: unknown) => error),
      renameOverTrpc(server, key, customerId, 'held'),
    ];
    const waitingClient = new AbortController();
    let waiter: Promise<unknown> | undefined;
    try {
      await until('both permits are held', () => bulkhead.inUse(tenantId) === PERMITS);
      waiter = renameOverTrpc(server, key, customerId, 'from a client that left', waitingClient.signal).catch((error: unknown) => error);
      await until('the third request waits', () => bulkhead.waiting(tenantId) === 1);
      waitingClient.abort();
      holding.abort();
      // Long before the 20 s wait would end.
      await until('the waiter has left the queue', () => bulkhead.waiting(tenantId) === 0);
      expect(bulkhead.inUse(tenantId)).toBe(PERMITS);
    } finally {
      await lock.release();
    }
    expect(await waiter).toMatchObject({ name: 'AbortError' });
    expect(await held[0]).toMatchObject({ name: 'AbortError' });
    expect(await held[1]).toEqual({ status: 200, reason: undefined });
    // The aborted holder's update still ran to its end server-side, then gave its permit back.
    await until('every permit is back', () => bulkhead.inUse(tenantId) === 0);
    expect(bulkhead.activeTenants).toBe(0);
    // The request whose client left while it waited never ran.
    const [row] = await withTenant(owner, tenantId, (tx) => tx.select({ name: customers.name }).from(customers).where(eq(customers.id, customerId)));
    expect(row!.name).toBe('held');
  });
});
