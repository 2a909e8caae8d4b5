/**
 * API-level isolation over real HTTP with the typed tRPC client: every tenant procedure refuses
 * bad credentials the same way, and tenant B on tenant A's ids gets NOT_FOUND, exactly like a
 * nonexistent id, with A's data untouched afterwards.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../db/tenant-tx.js';
import { buildAuthCases, expectAuthFailures, randomId, type AuthCase } from './auth-cases.js';
import { makeTenantWithOrders, trpcError, type Fixture, type TestServer, useServer } from './harness.js';

const { owner, server } = useServer();
let a: Fixture;
let b: Fixture;
let authCases: AuthCase[];

beforeAll(async () => {
  [a, b] = await Promise.all([makeTenantWithOrders(owner, 4, 'A'), makeTenantWithOrders(owner, 2, 'B')]);
  authCases = await buildAuthCases(owner, a.tenant);
});

type Client = ReturnType<TestServer['client']>;
/** Every tenant procedure, called with ids that belong to `target`. */
const procedures: Record<string, (c: Client, target: Fixture) => Promise<unknown>> = {
  'orders.list': (c) => c.orders.list.query({}),
  'orders.get': (c, t) => c.orders.get.query({ id: t.orderIds[0]! }),
  'orders.create': (c, t) =>
    c.orders.create.mutate({ customerId: t.customerId, region: 'x', amount: 1, orderDate: '2026-03-01' }),
  'orders.update': (c, t) => c.orders.update.mutate({ id: t.orderIds[0]!, region: 'moved' }),
  'orders.delete': (c, t) => c.orders.delete.mutate({ id: t.orderIds[1]! }),
  'customers.list': (c) => c.customers.list.query({}),
  'customers.get': (c, t) => c.customers.get.query({ id: t.customerId }),
  'customers.create': (c) => c.customers.create.mutate({ name: 'New', email: `n-${randomId()}@x.example` }),
  'customers.update': (c, t) => c.customers.update.mutate({ id: t.customerId, name: 'renamed' }),
  'customers.delete': (c, t) => c.customers.delete.mutate({ id: t.customerId }),
  'datasets.list': (c) => c.datasets.list.query(),
  'datasets.describe': (c) => c.datasets.describe.query({ name: 'orders' }),
  query: (c) => c.query.query({ dataset: 'orders', dimensions: ['region'], metrics: ['revenue'] }),
  'usage.get': (c) => c.usage.get.query({}),
};
/** Procedures that take no row ids: nothing of another tenant's to name. */
const WITHOUT_IDS = new Set(['orders.list', 'customers.list', 'customers.create', 'datasets.list', 'datasets.describe', 'query', 'usage.get']);

describe('credentials', () => {
  it.each(Object.keys(procedures))('%s refuses every bad credential', async (name) => {
    await expectAuthFailures(server, authCases, (client) => procedures[name]!(client, a));
  });

  it('a matching X-Tenant-ID is accepted, in any case', async () => {
    const who = await server.client(a.tenant.apiKey, { 'x-tenant-id': a.tenant.id.toUpperCase() }).auth.whoami.query();
    expect(who).toMatchObject({ kind: 'tenant', tenantId: a.tenant.id, role: 'owner' });
  });

  it('answers over plain HTTP with status codes and a reason (no tRPC client)', async () => {
    const res = await fetch(`${server.url}/trpc/orders.list`, { headers: { authorization: 'Bearer pk_x_nope' } });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { data: { reason: string; requestId: string } } };
    expect(body.error.data.reason).toBe('KEY_MALFORMED');
    expect(body.error.data.requestId).toBe(res.headers.get('x-request-id'));
  });
});

describe("tenant B on tenant A's ids", () => {
  const byId = Object.entries(procedures).filter(([name]) => !WITHOUT_IDS.has(name));

  it.each(byId.map(([name]) => name))('%s answers NOT_FOUND, exactly like a nonexistent id', async (name) => {
    const call = procedures[name]!;
    const bClient = server.client(b.tenant.apiKey);
    const foreign = await trpcError(call(bClient, a));
    const ghost = { ...b, customerId: randomId(), orderIds: [randomId(), randomId()] };
    const missing = await trpcError(call(bClient, ghost));
    expect(foreign).toMatchObject({ code: 'NOT_FOUND', httpStatus: 404 });
    expect(foreign).toEqual(missing);
  });

  it("moving B's order onto A's customer is NOT_FOUND", async () => {
    const error = await trpcError(server.client(b.tenant.apiKey).orders.update.mutate({ id: b.orderIds[0]!, customerId: a.customerId }));
    expect(error).toMatchObject({ code: 'NOT_FOUND', message: 'customer not found' });
  });

  it("lists show only the caller's rows", async () => {
    const bClient = server.client(b.tenant.apiKey);
    const orders = await bClient.orders.list.query({ limit: 500 });
    expect(orders.items.map((o) => o.tenantId)).toEqual(orders.items.map(() => b.tenant.id));
    expect(orders.items.map((o) => o.id)).not.toContain(a.orderIds[0]);
    const customers = await bClient.customers.list.query({});
    expect(customers.items.every((c) => c.tenantId === b.tenant.id)).toBe(true);
  });

  it("leaves A's rows exactly as they were", async () => {
    const rows = await withTenant(owner, a.tenant.id, (tx) =>
      tx.$client<{ orders: number; moved: number; renamed: number }[]>`
        select (select count(*)::int from orders) as orders,
               (select count(*)::int from orders where region in ('moved', 'x')) as moved,
               (select count(*)::int from customers where name = 'renamed') as renamed`,
    );
    expect(rows[0]).toEqual({ orders: 4, moved: 0, renamed: 0 });
  });
});
