/**
 * The demo procedures (orders.*, customers.*) over real HTTP with the typed client: paging and
 * filters, the JSON shapes, validation, conflicts, and what each call leaves in the database.
 * Every test provisions its own tenants, so nothing here depends on test order.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { customers, orders } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { makeTenant, makeTenantWithOrders, trpcError, type TestServer, useServer } from './harness.js';

const { owner, server } = useServer();

type Client = ReturnType<TestServer['client']>;
type NewOrder = typeof orders.$inferInsert;

async function insertCustomer(tenantId: string, name: string, email = `${randomUUID()}@fixture.example`) {
  const [row] = await withTenant(owner, tenantId, (tx) => tx.insert(customers).values({ name, email }).returning());
  return row!;
}

async function insertOrders(tenantId: string, rows: Omit<NewOrder, 'tenantId' | 'id'>[]) {
  return withTenant(owner, tenantId, (tx) => tx.insert(orders).values(rows).returning());
}

/** A fresh tenant with one customer and `count` orders (see makeTenantWithOrders), plus its client. */
async function seeded(count = 3) {
  const fixture = await makeTenantWithOrders(owner, count);
  return { ...fixture, api: server.client(fixture.tenant.apiKey) };
}

async function emptyTenant() {
  const tenant = await makeTenant(owner);
  return { tenant, api: server.client(tenant.apiKey) };
}

/** A fresh tenant with one customer and no orders, plus its client. */
async function withCustomer() {
  const { tenant, api } = await emptyTenant();
  return { tenant, api, customerId: (await insertCustomer(tenant.id, 'Only customer')).id };
}

const orderRows = (tenantId: string) => withTenant(owner, tenantId, (tx) => tx.select().from(orders));
const orderRow = (tenantId: string, id: string) =>
  withTenant(owner, tenantId, async (tx) => (await tx.select().from(orders).where(eq(orders.id, id)))[0]);
const customerRows = (tenantId: string) => withTenant(owner, tenantId, (tx) => tx.select().from(customers));
const customerRow = (tenantId: string, id: string) =>
  withTenant(owner, tenantId, async (tx) => (await tx.select().from(customers).where(eq(customers.id, id)))[0]);

const validOrder = (customerId: string) => ({ customerId, region: 'west', amount: 1, orderDate: '2026-05-01' });

/** All pages of orders.list, following nextOffset. */
async function allPages(api: Client, limit: number) {
  const pages: { ids: string[]; nextOffset: number | null }[] = [];
  for (let offset: number | null = 0; offset !== null; ) {
    const page: { items: { id: string }[]; nextOffset: number | null } = await api.orders.list.query({ limit, offset });
    pages.push({ ids: page.items.map((o) => o.id), nextOffset: page.nextOffset });
    offset = page.nextOffset;
    if (pages.length > 20) throw new Error('paging does not terminate');
  }
  return pages;
}

describe('orders.list', () => {
  it('returns 50 items by default and the offset of the next page', async () => {
    const { api, orderIds } = await seeded(52);
    const first = await api.orders.list.query();
    expect(first.items).toHaveLength(50);
    expect(first.nextOffset).toBe(50);
    const rest = await api.orders.list.query({ offset: 50 });
    expect(rest.items).toHaveLength(2);
    expect(rest.nextOffset).toBeNull();
    expect(new Set([...first.items, ...rest.items].map((o) => o.id))).toEqual(new Set(orderIds));
  });

  it('pages through 7 orders 3 at a time: 3, 3, 1 items, each order exactly once, in list order', async () => {
    const { api, orderIds } = await seeded(7);
    const pages = await allPages(api, 3);
    expect(pages.map((p) => p.ids.length)).toEqual([3, 3, 1]);
    expect(pages.map((p) => p.nextOffset)).toEqual([3, 6, null]);
    const paged = pages.flatMap((p) => p.ids);
    expect(new Set(paged).size).toBe(7);
    expect(new Set(paged)).toEqual(new Set(orderIds));
    expect(paged).toEqual((await api.orders.list.query({ limit: 500 })).items.map((o) => o.id));
  });

  it('an exactly full last page has no next page', async () => {
    const { api } = await seeded(6);
    expect((await allPages(api, 3)).map((p) => p.nextOffset)).toEqual([3, null]);
  });

  it('orders by orderDate, newest first, whatever the insertion order', async () => {
    const { tenant, api } = await emptyTenant();
    const customer = await insertCustomer(tenant.id, 'Dates');
    const dates = ['2026-03-05', '2025-12-31', '2026-12-01', '2026-01-10', '2026-06-15'];
    await insertOrders(tenant.id, dates.map((orderDate) => ({ customerId: customer.id, region: 'r', amount: '1', orderDate })));
    const listed = await api.orders.list.query();
    expect(listed.items.map((o) => o.orderDate)).toEqual(['2026-12-01', '2026-06-15', '2026-03-05', '2026-01-10', '2025-12-31']);
  });

  describe('filters', () => {
    /** Two customers; orders differ by region, status and date so each filter selects a known subset. */
    async function filterFixture() {
      const { tenant, api } = await emptyTenant();
      const ann = await insertCustomer(tenant.id, 'Ann');
      const bob = await insertCustomer(tenant.id, 'Bob');
      await insertOrders(tenant.id, [
        { customerId: ann.id, region: 'north', amount: '1', orderDate: '2026-01-01', status: 'pending' },
        { customerId: ann.id, region: 'south', amount: '2', orderDate: '2026-01-02', status: 'paid' },
        { customerId: bob.id, region: 'north', amount: '3', orderDate: '2026-01-03', status: 'shipped' },
        { customerId: bob.id, region: 'north', amount: '4', orderDate: '2026-01-04', status: 'paid' },
        { customerId: ann.id, region: 'east', amount: '5', orderDate: '2026-01-05', status: 'cancelled' },
      ]);
      const amounts = async (input: Parameters<Client['orders']['list']['query']>[0]) =>
        (await api.orders.list.query(input)).items.map((o) => o.amount);
      return { ann, bob, amounts };
    }

    it('by region', async () => {
      const { amounts } = await filterFixture();
      expect(await amounts({ region: 'north' })).toEqual(['4.00', '3.00', '1.00']);
      expect(await amounts({ region: 'east' })).toEqual(['5.00']);
      expect(await amounts({ region: 'nowhere' })).toEqual([]);
    });

    it('by status', async () => {
      const { amounts } = await filterFixture();
      expect(await amounts({ status: 'paid' })).toEqual(['4.00', '2.00']);
      expect(await amounts({ status: 'pending' })).toEqual(['1.00']);
    });

    it('by customerId', async () => {
      const { amounts, ann, bob } = await filterFixture();
      expect(await amounts({ customerId: bob.id })).toEqual(['4.00', '3.00']);
      expect(await amounts({ customerId: ann.id })).toEqual(['5.00', '2.00', '1.00']);
      expect(await amounts({ customerId: randomUUID() })).toEqual([]);
    });

    it('by an inclusive date range, or one bound alone', async () => {
      const { amounts } = await filterFixture();
      expect(await amounts({ from: '2026-01-02', to: '2026-01-04' })).toEqual(['4.00', '3.00', '2.00']);
      expect(await amounts({ from: '2026-01-03', to: '2026-01-03' })).toEqual(['3.00']);
      expect(await amounts({ from: '2026-01-04' })).toEqual(['5.00', '4.00']);
      expect(await amounts({ to: '2026-01-01' })).toEqual(['1.00']);
    });

    it('combined, as an AND', async () => {
      const { amounts, bob } = await filterFixture();
      expect(await amounts({ region: 'north', status: 'paid' })).toEqual(['4.00']);
      expect(await amounts({ customerId: bob.id, to: '2026-01-03' })).toEqual(['3.00']);
      expect(await amounts({ region: 'south', status: 'shipped' })).toEqual([]);
    });
  });

  it('answers 400 naming `from` when from is after to', async () => {
    const { api } = await seeded(1);
    expect(await trpcError(api.orders.list.query({ from: '2026-02-01', to: '2026-01-31' }))).toMatchObject({
      code: 'BAD_REQUEST',
      httpStatus: 400,
      reason: 'INVALID_INPUT',
      message: expect.stringMatching(/^from: /),
    });
  });

  it.each([0, 501, -1, 2.5])('answers 400 naming `limit` for limit %s', async (limit) => {
    const { api } = await seeded(1);
    expect(await trpcError(api.orders.list.query({ limit }))).toMatchObject({
      code: 'BAD_REQUEST',
      httpStatus: 400,
      reason: 'INVALID_INPUT',
      message: expect.stringMatching(/^limit: /),
    });
  });

  it('accepts the limit bounds 1 and 500', async () => {
    const { api } = await seeded(2);
    expect(await api.orders.list.query({ limit: 1 })).toMatchObject({ items: [expect.anything()], nextOffset: 1 });
    expect((await api.orders.list.query({ limit: 500 })).items).toHaveLength(2);
  });
});

describe('orders.get', () => {
  it('returns the amount with 2 decimals as a string, a plain date and an ISO createdAt', async () => {
    const { tenant, api, customerId } = await withCustomer();
    const [row] = await insertOrders(tenant.id, [{ customerId, region: 'north', amount: '12.5', orderDate: '2026-02-28', status: 'paid' }]);
    const order = await api.orders.get.query({ id: row!.id });
    expect(order).toEqual({
      tenantId: tenant.id,
      id: row!.id,
      customerId,
      region: 'north',
      amount: '12.50',
      orderDate: '2026-02-28',
      status: 'paid',
      createdAt: row!.createdAt.toISOString(),
    });
    expect(order.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('answers 404 for an unknown id', async () => {
    const { api } = await seeded(1);
    expect(await trpcError(api.orders.get.query({ id: randomUUID() }))).toMatchObject({
      code: 'NOT_FOUND',
      httpStatus: 404,
      message: 'order not found',
    });
  });
});

describe('orders.create', () => {
  it('takes the amount as a number or a string and defaults status to pending', async () => {
    const { tenant, api, customerId } = await withCustomer();
    const fromNumber = await api.orders.create.mutate({ ...validOrder(customerId), amount: 12.5 });
    const fromString = await api.orders.create.mutate({ ...validOrder(customerId), amount: '7', status: 'paid' });
    expect(fromNumber).toMatchObject({ tenantId: tenant.id, customerId, amount: '12.50', status: 'pending', orderDate: '2026-05-01' });
    expect(fromString).toMatchObject({ tenantId: tenant.id, amount: '7.00', status: 'paid' });
    expect(new Date(fromNumber.createdAt).toISOString()).toBe(fromNumber.createdAt);

    expect(await orderRow(tenant.id, fromNumber.id)).toMatchObject({ tenantId: tenant.id, amount: '12.50', status: 'pending' });
    expect(await orderRow(tenant.id, fromString.id)).toMatchObject({ tenantId: tenant.id, amount: '7.00', status: 'paid' });
  });

  it.each([
    ['0', '0.00'],
    [' 3.1 ', '3.10'],
    [0.1, '0.10'],
    ['9999999999.99', '9999999999.99'],
  ])('accepts the amount %j as %s', async (amount, stored) => {
    const { tenant, api, customerId } = await withCustomer();
    const created = await api.orders.create.mutate({ ...validOrder(customerId), amount });
    expect(created.amount).toBe(stored);
    expect((await orderRow(tenant.id, created.id))?.amount).toBe(stored);
  });

  it('takes the tenant from the key: a tenantId in the input is ignored', async () => {
    const mine = await withCustomer();
    const other = await seeded(1);
    const created = await mine.api.orders.create.mutate({ ...validOrder(mine.customerId), tenantId: other.tenant.id } as never);
    expect(created.tenantId).toBe(mine.tenant.id);
    expect(await orderRow(mine.tenant.id, created.id)).toMatchObject({ tenantId: mine.tenant.id });
    expect((await orderRows(other.tenant.id)).map((o) => o.id)).toEqual(other.orderIds);
  });

  it('ignores an id in the input: the database picks it', async () => {
    const { tenant, api, customerId } = await withCustomer();
    const wanted = randomUUID();
    const created = await api.orders.create.mutate({ ...validOrder(customerId), id: wanted } as never);
    expect(created.id).not.toBe(wanted);
    expect(await orderRow(tenant.id, wanted)).toBeUndefined();
  });

  it.each<[string, Record<string, unknown>]>([
    ['amount', { amount: -1 }],
    ['amount', { amount: '-1' }],
    ['amount', { amount: '1.234' }],
    ['amount', { amount: 1.005 }],
    ['amount', { amount: 'abc' }],
    ['amount', { amount: '' }],
    ['amount', { amount: '12345678901' }],
    ['status', { status: 'lost' }],
    ['orderDate', { orderDate: '2026-02-30' }],
    ['orderDate', { orderDate: 'yesterday' }],
    ['region', { region: '   ' }],
    ['customerId', { customerId: 'not-a-uuid' }],
  ])('rejects a bad %s with 400 INVALID_INPUT and inserts nothing: %j', async (field, patch) => {
    const { tenant, api, customerId } = await seeded(2);
    const error = await trpcError(api.orders.create.mutate({ ...validOrder(customerId), ...patch } as never));
    expect(error).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400, reason: 'INVALID_INPUT' });
    expect(error.message).toMatch(new RegExp(`^${field}: `));
    expect(await orderRows(tenant.id)).toHaveLength(2);
  });

  it('answers 404 "customer not found" for an unknown customer and inserts nothing', async () => {
    const { tenant, api } = await seeded(2);
    expect(await trpcError(api.orders.create.mutate(validOrder(randomUUID())))).toMatchObject({
      code: 'NOT_FOUND',
      httpStatus: 404,
      message: 'customer not found',
    });
    expect(await orderRows(tenant.id)).toHaveLength(2);
  });
});

describe('orders.update', () => {
  it('changes only the given fields', async () => {
    const { tenant, api, orderIds } = await seeded(2);
    const [id, untouchedId] = orderIds as [string, string];
    const before = (await orderRow(tenant.id, id))!;
    const untouched = await orderRow(tenant.id, untouchedId);

    // Status first, so the next update would visibly reset it if omitted fields fell back to defaults.
    await api.orders.update.mutate({ id, status: 'shipped' });
    expect(await orderRow(tenant.id, id)).toEqual({ ...before, status: 'shipped' });

    const updated = await api.orders.update.mutate({ id, region: 'moved', amount: '99.9' });
    const expected = { ...before, status: 'shipped', region: 'moved', amount: '99.90' };
    expect(updated).toEqual({ ...expected, createdAt: before.createdAt.toISOString() });
    expect(await orderRow(tenant.id, id)).toEqual(expected);
    expect(await orderRow(tenant.id, untouchedId)).toEqual(untouched);
  });

  it("moves an order to another of the tenant's customers", async () => {
    const { tenant, api, orderIds } = await seeded(1);
    const other = await insertCustomer(tenant.id, 'Other');
    await api.orders.update.mutate({ id: orderIds[0]!, customerId: other.id });
    expect((await orderRow(tenant.id, orderIds[0]!))?.customerId).toBe(other.id);
  });

  it('answers 400 "nothing to update" for an id alone, and changes nothing', async () => {
    const { tenant, api, orderIds } = await seeded(1);
    const before = await orderRows(tenant.id);
    expect(await trpcError(api.orders.update.mutate({ id: orderIds[0]! }))).toMatchObject({
      code: 'BAD_REQUEST',
      httpStatus: 400,
      reason: 'INVALID_INPUT',
      message: expect.stringContaining('nothing to update'),
    });
    expect(await orderRows(tenant.id)).toEqual(before);
  });

  it('answers 400 for a bad field, and changes nothing', async () => {
    const { tenant, api, orderIds } = await seeded(1);
    const before = await orderRows(tenant.id);
    const error = await trpcError(api.orders.update.mutate({ id: orderIds[0]!, region: 'ok', amount: '-5' }));
    expect(error).toMatchObject({ httpStatus: 400, reason: 'INVALID_INPUT', message: expect.stringMatching(/^amount: /) });
    expect(await orderRows(tenant.id)).toEqual(before);
  });

  it('answers 404 for an unknown order', async () => {
    const { api } = await seeded(1);
    expect(await trpcError(api.orders.update.mutate({ id: randomUUID(), region: 'x' }))).toMatchObject({
      code: 'NOT_FOUND',
      httpStatus: 404,
      message: 'order not found',
    });
  });
});

describe('orders.delete', () => {
  it('returns { id }, removes only that row, and a second delete is 404', async () => {
    const { tenant, api, orderIds } = await seeded(3);
    const [gone, ...kept] = orderIds as [string, ...string[]];
    expect(await api.orders.delete.mutate({ id: gone })).toEqual({ id: gone });
    expect(await orderRow(tenant.id, gone)).toBeUndefined();
    expect((await orderRows(tenant.id)).map((o) => o.id).sort()).toEqual([...kept].sort());
    expect(await trpcError(api.orders.delete.mutate({ id: gone }))).toMatchObject({ code: 'NOT_FOUND', httpStatus: 404 });
  });
});

describe('customers', () => {
  it('create lowercases the email, in the response and in the database', async () => {
    const { tenant, api } = await emptyTenant();
    const ann = await api.customers.create.mutate({ name: 'Ann', email: 'Ann@Example.COM' });
    expect(ann).toMatchObject({ tenantId: tenant.id, name: 'Ann', email: 'ann@example.com' });
    expect(new Date(ann.createdAt).toISOString()).toBe(ann.createdAt);
    expect(await customerRow(tenant.id, ann.id)).toMatchObject({ tenantId: tenant.id, email: 'ann@example.com' });
  });

  it('a duplicate email in the same tenant, in any case, is 409 EMAIL_TAKEN and inserts nothing', async () => {
    const { tenant, api } = await emptyTenant();
    await api.customers.create.mutate({ name: 'Ann', email: 'ann@example.com' });
    for (const email of ['ann@example.com', 'ANN@example.com']) {
      expect(await trpcError(api.customers.create.mutate({ name: 'Ann again', email }))).toMatchObject({
        code: 'CONFLICT',
        httpStatus: 409,
        reason: 'EMAIL_TAKEN',
      });
    }
    expect((await customerRows(tenant.id)).map((c) => c.name)).toEqual(['Ann']);
  });

  it('the same email in another tenant is fine: uniqueness is per tenant', async () => {
    const a = await emptyTenant();
    const b = await emptyTenant();
    await a.api.customers.create.mutate({ name: 'Ann', email: 'ann@example.com' });
    const inB = await b.api.customers.create.mutate({ name: 'Ann', email: 'Ann@example.com' });
    expect(inB).toMatchObject({ tenantId: b.tenant.id, email: 'ann@example.com' });
    expect(await customerRow(b.tenant.id, inB.id)).toMatchObject({ tenantId: b.tenant.id, email: 'ann@example.com' });
    expect((await customerRows(a.tenant.id)).map((c) => c.email)).toEqual(['ann@example.com']);
  });

  it('rejects an invalid email or an empty name with 400 and inserts nothing', async () => {
    const { tenant, api } = await emptyTenant();
    expect(await trpcError(api.customers.create.mutate({ name: 'X', email: 'not-an-email' }))).toMatchObject({
      httpStatus: 400,
      reason: 'INVALID_INPUT',
      message: expect.stringMatching(/^email: /),
    });
    expect(await trpcError(api.customers.create.mutate({ name: '  ', email: 'x@example.com' }))).toMatchObject({
      httpStatus: 400,
      message: expect.stringMatching(/^name: /),
    });
    expect(await customerRows(tenant.id)).toEqual([]);
  });

  it('ignores a tenantId in the input', async () => {
    const mine = await emptyTenant();
    const other = await emptyTenant();
    const created = await mine.api.customers.create.mutate({ name: 'Mine', email: 'mine@example.com', tenantId: other.tenant.id } as never);
    expect(created.tenantId).toBe(mine.tenant.id);
    expect(await customerRow(mine.tenant.id, created.id)).toBeDefined();
    expect(await customerRows(other.tenant.id)).toEqual([]);
  });

  describe('list with search', () => {
    async function searchFixture() {
      const { api } = await emptyTenant();
      const make = (name: string, email: string) => api.customers.create.mutate({ name, email });
      const ids = {
        zedUnderscore: (await make('Zed_Search', 'zed@find.example')).id,
        zedPlain: (await make('ZedXSearch', 'zx@other.example')).id,
        percent: (await make('100% Cotton', 'cotton@other.example')).id,
        hundred: (await make('1000 Cotton', 'thousand@other.example')).id,
      };
      const search = async (term: string) => (await api.customers.list.query({ search: term })).items.map((c) => c.id).sort();
      return { ids, search };
    }

    it('matches the name or the email, case-insensitively', async () => {
      const { ids, search } = await searchFixture();
      expect(await search('zed')).toEqual([ids.zedUnderscore, ids.zedPlain].sort());
      expect(await search('FIND.EXAMPLE')).toEqual([ids.zedUnderscore]);
      expect(await search('cOtToN')).toEqual([ids.percent, ids.hundred].sort());
      expect(await search('no such thing')).toEqual([]);
    });

    it('treats _ and % literally', async () => {
      const { ids, search } = await searchFixture();
      expect(await search('zed_s')).toEqual([ids.zedUnderscore]);
      expect(await search('%')).toEqual([ids.percent]);
      expect(await search('100%')).toEqual([ids.percent]);
      expect(await search('zed%search')).toEqual([]);
    });

    it('searching "%" matches nothing when no name or email contains %', async () => {
      const { api } = await emptyTenant();
      await api.customers.create.mutate({ name: 'Plain', email: 'plain@example.com' });
      expect((await api.customers.list.query({ search: '%' })).items).toEqual([]);
      expect((await api.customers.list.query({ search: '_' })).items).toEqual([]);
      expect((await api.customers.list.query({})).items).toHaveLength(1);
    });
  });

  it('update changes the given fields, lowercasing the email', async () => {
    const { tenant, api } = await emptyTenant();
    const ann = await api.customers.create.mutate({ name: 'Ann', email: 'ann@example.com' });
    expect(await api.customers.update.mutate({ id: ann.id, name: 'Annie' })).toMatchObject({ name: 'Annie', email: 'ann@example.com' });
    expect(await api.customers.update.mutate({ id: ann.id, email: 'Annie@Example.com' })).toMatchObject({
      name: 'Annie',
      email: 'annie@example.com',
    });
    expect(await customerRow(tenant.id, ann.id)).toMatchObject({ name: 'Annie', email: 'annie@example.com' });
  });

  it("update to another customer's email is 409 EMAIL_TAKEN and changes nothing", async () => {
    const { tenant, api } = await emptyTenant();
    await api.customers.create.mutate({ name: 'Ann', email: 'ann@example.com' });
    const bob = await api.customers.create.mutate({ name: 'Bob', email: 'bob@example.com' });
    expect(await trpcError(api.customers.update.mutate({ id: bob.id, email: 'ANN@example.com' }))).toMatchObject({
      code: 'CONFLICT',
      httpStatus: 409,
      reason: 'EMAIL_TAKEN',
    });
    expect((await customerRow(tenant.id, bob.id))?.email).toBe('bob@example.com');
  });

  it('update with nothing to change is 400; an unknown id is 404', async () => {
    const { api, customerId } = await withCustomer();
    expect(await trpcError(api.customers.update.mutate({ id: customerId }))).toMatchObject({
      httpStatus: 400,
      message: expect.stringContaining('nothing to update'),
    });
    expect(await trpcError(api.customers.update.mutate({ id: randomUUID(), name: 'x' }))).toMatchObject({
      code: 'NOT_FOUND',
      httpStatus: 404,
      message: 'customer not found',
    });
  });

  it('deleting a customer with orders is 409 CUSTOMER_HAS_ORDERS; customer and orders stay', async () => {
    const { tenant, api, customerId, orderIds } = await seeded(2);
    expect(await trpcError(api.customers.delete.mutate({ id: customerId }))).toMatchObject({
      code: 'CONFLICT',
      httpStatus: 409,
      reason: 'CUSTOMER_HAS_ORDERS',
    });
    expect(await customerRow(tenant.id, customerId)).toBeDefined();
    expect((await orderRows(tenant.id)).map((o) => o.id).sort()).toEqual([...orderIds].sort());
  });

  it('deleting a customer without orders returns { id } and removes the row; again is 404', async () => {
    const { tenant, api, customerId } = await seeded(1);
    const lonely = await api.customers.create.mutate({ name: 'Lonely', email: 'lonely@example.com' });
    expect(await api.customers.delete.mutate({ id: lonely.id })).toEqual({ id: lonely.id });
    expect(await customerRow(tenant.id, lonely.id)).toBeUndefined();
    expect((await customerRows(tenant.id)).map((c) => c.id)).toEqual([customerId]);
    expect(await trpcError(api.customers.delete.mutate({ id: lonely.id }))).toMatchObject({ code: 'NOT_FOUND', httpStatus: 404 });
  });
});

describe('malformed requests are 400, never 500', () => {
  it.each<[string, (api: Client) => Promise<unknown>]>([
    ['orders.get with a numeric id', (api) => api.orders.get.query({ id: 42 } as never)],
    ['orders.get with no input', (api) => api.orders.get.query(undefined as never)],
    ['orders.list with a string limit', (api) => api.orders.list.query({ limit: '10' } as never)],
    ['orders.create with an array as input', (api) => api.orders.create.mutate([] as never)],
    ['customers.create with a null email', (api) => api.customers.create.mutate({ name: 'x', email: null } as never)],
  ])('%s', async (_name, call) => {
    const { api } = await seeded(1);
    expect(await trpcError(call(api))).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400, reason: 'INVALID_INPUT' });
  });

  // These pass the zod schemas but Postgres refuses them: year 0 (SQLSTATE 22008), NUL in text (22021).
  it.each<[string, (f: Awaited<ReturnType<typeof seeded>>) => Promise<unknown>]>([
    ['orders.create on the year-0 date 0000-01-01', (f) => f.api.orders.create.mutate({ ...validOrder(f.customerId), orderDate: '0000-01-01' })],
    ['orders.update to the year-0 date 0000-01-01', (f) => f.api.orders.update.mutate({ id: f.orderIds[0]!, orderDate: '0000-01-01' })],
    ['orders.list from the year-0 date 0000-01-01', (f) => f.api.orders.list.query({ from: '0000-01-01' })],
    ['orders.create with a NUL in region', (f) => f.api.orders.create.mutate({ ...validOrder(f.customerId), region: 'a\u0000b' })],
    ['customers.create with a NUL in name', (f) => f.api.customers.create.mutate({ name: 'a\u0000b', email: 'nul@example.com' })],
    ['customers.list searching for a NUL', (f) => f.api.customers.list.query({ search: 'a\u0000' })],
  ])('%s', async (_name, call) => {
    const f = await seeded(1);
    const before = { orders: await orderRows(f.tenant.id), customers: await customerRows(f.tenant.id) };
    expect(await trpcError(call(f))).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400 });
    expect({ orders: await orderRows(f.tenant.id), customers: await customerRows(f.tenant.id) }).toEqual(before);
  });

  /** Raw HTTP: the typed client cannot send broken JSON. */
  async function raw(path: string, init: RequestInit, apiKey: string) {
    const res = await fetch(`${server.url}/trpc/${path}`, {
      ...init,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    });
    return { status: res.status, body: (await res.json()) as { error?: { data?: { code?: string } } } };
  }

  it('a mutation with a broken JSON body', async () => {
    const { tenant } = await withCustomer();
    const res = await raw('customers.create', { method: 'POST', body: '{"name": ' }, tenant.apiKey);
    expect(res.status).toBe(400);
    expect(res.body.error?.data?.code).toBe('BAD_REQUEST');
    expect(await customerRows(tenant.id)).toHaveLength(1);
  });

  it('a query with broken JSON in ?input=', async () => {
    const { tenant } = await withCustomer();
    const res = await raw(`orders.list?input=${encodeURIComponent('{"limit": 3')}`, { method: 'GET' }, tenant.apiKey);
    expect(res.status).toBe(400);
    expect(res.body.error?.data?.code).toBe('BAD_REQUEST');
  });
});
