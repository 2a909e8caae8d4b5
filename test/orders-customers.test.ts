/**
 * The demo procedures' behaviour over real HTTP: paging and filters, the JSON shapes, and that bad
 * input is a 400 naming the field with nothing written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { withTenant } from '../db/tenant-tx.js';
import { appPool, makeTenant, makeTenantWithOrders, ownerPool, startServer, trpcError, type Fixture, type TestServer } from './harness.js';

let owner: Sql;
let app: Sql;
let server: TestServer;
let f: Fixture;
type Client = ReturnType<TestServer['client']>;
let api: Client;

beforeAll(async () => {
  owner = ownerPool();
  app = appPool(4);
  server = await startServer(app);
  f = await makeTenantWithOrders(owner, 7);
  api = server.client(f.tenant.apiKey);
});
afterAll(async () => {
  await server.close();
  await Promise.all([owner.end(), app.end()]);
});

const countOrders = (tenantId: string) =>
  withTenant(owner, tenantId, async (tx) => (await tx.$client<{ n: number }[]>`select count(*)::int as n from orders`)[0]!.n);

describe('orders.list', () => {
  it('pages with nextOffset, newest first, without repeats', async () => {
    const seen: string[] = [];
    const offsets: (number | null)[] = [];
    for (let offset: number | null = 0; offset !== null; ) {
      const page: Awaited<ReturnType<Client['orders']['list']['query']>> = await api.orders.list.query({ limit: 3, offset });
      seen.push(...page.items.map((o) => o.id));
      offsets.push(page.nextOffset);
      const dates = page.items.map((o) => o.orderDate);
      expect(dates).toEqual([...dates].sort().reverse());
      offset = page.nextOffset;
    }
    expect(offsets).toEqual([3, 6, null]);
    expect(new Set(seen)).toEqual(new Set(f.orderIds));
    expect((await api.orders.list.query()).items).toHaveLength(7);
  });

  it('filters by region, customer and an inclusive date range', async () => {
    const north = await api.orders.list.query({ region: 'north' });
    expect(north.items.length).toBe(4);
    expect(north.items.every((o) => o.region === 'north')).toBe(true);
    const ranged = await api.orders.list.query({ from: '2026-01-02', to: '2026-01-04' });
    expect(ranged.items.map((o) => o.orderDate).sort()).toEqual(['2026-01-02', '2026-01-03', '2026-01-04']);
    expect((await api.orders.list.query({ customerId: f.customerId })).items).toHaveLength(7);
    expect((await api.orders.list.query({ status: 'shipped' })).items).toHaveLength(0);
  });

  it('answers 400 naming the field for bad paging or ranges', async () => {
    expect(await trpcError(api.orders.list.query({ from: '2026-02-01', to: '2026-01-01' }))).toMatchObject({
      httpStatus: 400,
      reason: 'INVALID_INPUT',
      message: 'from: "from" must not be after "to"',
    });
    expect((await trpcError(api.orders.list.query({ limit: 501 }))).message).toMatch(/^limit: /);
    expect((await trpcError(api.orders.list.query({ limit: 0 }))).httpStatus).toBe(400);
  });
});

describe('orders.create / update / delete', () => {
  it('creates with decimal amounts as strings, ISO dates and the caller as tenant', async () => {
    const created = await api.orders.create.mutate({ customerId: f.customerId, region: 'west', amount: 12.5, orderDate: '2026-05-01' });
    expect(created).toMatchObject({ tenantId: f.tenant.id, amount: '12.50', orderDate: '2026-05-01', status: 'pending' });
    expect(new Date(created.createdAt).toISOString()).toBe(created.createdAt);
    const fromString = await api.orders.create.mutate({ customerId: f.customerId, region: 'west', amount: '7', orderDate: '2026-05-02', status: 'paid' });
    expect(fromString.amount).toBe('7.00');
    await api.orders.delete.mutate({ id: created.id });
    await api.orders.delete.mutate({ id: fromString.id });
  });

  it('ignores a tenantId in the input: the tenant comes from the key', async () => {
    const other = await makeTenant(owner);
    const created = await api.orders.create.mutate({
      customerId: f.customerId, region: 'west', amount: 1, orderDate: '2026-05-03', tenantId: other.id,
    } as never);
    expect(created.tenantId).toBe(f.tenant.id);
    expect(await countOrders(other.id)).toBe(0);
    await api.orders.delete.mutate({ id: created.id });
  });

  it.each([
    ['amount', { amount: -1 }],
    ['amount', { amount: '1.234' }],
    ['amount', { amount: 'abc' }],
    ['status', { status: 'lost' }],
    ['orderDate', { orderDate: '2026-02-30' }],
    ['orderDate', { orderDate: 'yesterday' }],
    ['customerId', { customerId: 'not-a-uuid' }],
  ])('rejects a bad %s with a 400 and writes nothing (%j)', async (field, patch) => {
    const before = await countOrders(f.tenant.id);
    const input = { customerId: f.customerId, region: 'west', amount: 1, orderDate: '2026-05-01', ...patch };
    const error = await trpcError(api.orders.create.mutate(input as never));
    expect(error).toMatchObject({ httpStatus: 400, reason: 'INVALID_INPUT' });
    expect(error.message.startsWith(`${field}: `)).toBe(true);
    expect(await countOrders(f.tenant.id)).toBe(before);
  });

  it('answers 404 for an unknown customer, and 400 for an empty update', async () => {
    const missing = await trpcError(
      api.orders.create.mutate({ customerId: '00000000-0000-4000-8000-000000000000', region: 'x', amount: 1, orderDate: '2026-05-01' }),
    );
    expect(missing).toMatchObject({ httpStatus: 404, message: 'customer not found' });
    expect((await trpcError(api.orders.update.mutate({ id: f.orderIds[0]! }))).message).toContain('nothing to update');
  });

  it('updates only the given fields and deletes once', async () => {
    const id = f.orderIds[6]!;
    const before = await api.orders.get.query({ id });
    const after = await api.orders.update.mutate({ id, status: 'cancelled' });
    expect(after).toEqual({ ...before, status: 'cancelled' });
    expect(await api.orders.delete.mutate({ id })).toEqual({ id });
    expect((await trpcError(api.orders.get.query({ id }))).httpStatus).toBe(404);
    expect((await trpcError(api.orders.delete.mutate({ id }))).httpStatus).toBe(404);
  });
});

describe('customers', () => {
  it('lowercases emails, keeps them unique per tenant only, and says so on conflict', async () => {
    const ann = await api.customers.create.mutate({ name: 'Ann', email: 'Ann@Example.COM' });
    expect(ann.email).toBe('ann@example.com');
    expect(await trpcError(api.customers.create.mutate({ name: 'Ann 2', email: 'ann@example.com' }))).toMatchObject({
      httpStatus: 409,
      reason: 'EMAIL_TAKEN',
    });
    const other = await makeTenant(owner);
    const elsewhere = await server.client(other.apiKey).customers.create.mutate({ name: 'Ann', email: 'ann@example.com' });
    expect(elsewhere.tenantId).toBe(other.id);
    await api.customers.delete.mutate({ id: ann.id });
  });

  it('searches name and email, treating % and _ literally', async () => {
    const zed = await api.customers.create.mutate({ name: 'Zed_Search', email: 'zed@find.example' });
    expect((await api.customers.list.query({ search: 'zed_s' })).items.map((c) => c.id)).toEqual([zed.id]);
    expect((await api.customers.list.query({ search: 'FIND.EXAMPLE' })).items.map((c) => c.id)).toEqual([zed.id]);
    expect((await api.customers.list.query({ search: '%' })).items).toEqual([]);
    expect((await api.customers.list.query({ search: 'zed%s' })).items).toEqual([]);
    const renamed = await api.customers.update.mutate({ id: zed.id, name: 'Zed' });
    expect(renamed).toMatchObject({ name: 'Zed', email: 'zed@find.example' });
    await api.customers.delete.mutate({ id: zed.id });
  });

  it('refuses to delete a customer with orders, and keeps it', async () => {
    expect(await trpcError(api.customers.delete.mutate({ id: f.customerId }))).toMatchObject({
      httpStatus: 409,
      reason: 'CUSTOMER_HAS_ORDERS',
    });
    expect((await api.customers.get.query({ id: f.customerId })).id).toBe(f.customerId);
  });
});

describe('malformed requests', () => {
  it('a wrong input type or broken JSON is a 400, never a 500', async () => {
    expect((await trpcError(api.orders.get.query({ id: 42 } as never))).httpStatus).toBe(400);
    const res = await fetch(`${server.url}/trpc/customers.create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${f.tenant.apiKey}`, 'content-type': 'application/json' },
      body: '{"name": ',
    });
    expect(res.status).toBe(400);
  });
});
