/**
 * The query engine against real Postgres as the app role: every filter operator, every time grain
 * (checked to bucket), the limits, every error path, the statement timeout, and two tenants asking
 * the same question each getting their own numbers. Expected numbers are computed from the fixtures.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { customers, orders } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { AppError } from '../src/lib/errors.js';
import { parseQueryInput, queryInput, runQuery, runQueryAcrossTenants, type QueryInput } from '../src/modules/analytics/query.service.js';
import { catalogWithEveryType } from './fixtures/every-type-catalog.js';
import { appPool, makeTenant, ownerPool, platformPool } from './harness.js';

const catalog = catalogWithEveryType;

interface Order {
  amount: number;
  region: string;
  status: 'pending' | 'paid' | 'shipped' | 'cancelled';
  orderDate: string;
  customer: 0 | 1;
}

// 2026-01-05 is a Monday: 05 and 06 share an ISO week, 12 starts the next; 03-31 and 04-01 share a
// week but not a month or quarter; 2025-12-31 is another year.
const ORDERS_A: Order[] = [
  { amount: 10, region: 'north', status: 'paid', orderDate: '2026-01-05', customer: 0 },
  { amount: 20, region: 'north', status: 'pending', orderDate: '2026-01-06', customer: 0 },
  { amount: 30, region: 'south', status: 'paid', orderDate: '2026-01-12', customer: 0 },
  { amount: 40, region: 'south', status: 'shipped', orderDate: '2026-03-31', customer: 1 },
  { amount: 50.5, region: 'east', status: 'cancelled', orderDate: '2026-04-01', customer: 1 },
  { amount: 150, region: 'we%st', status: 'paid', orderDate: '2025-12-31', customer: 1 },
];
const ORDERS_B: Order[] = [
  { amount: 1000, region: 'north', status: 'paid', orderDate: '2026-01-05', customer: 0 },
  { amount: 2000, region: 'south', status: 'paid', orderDate: '2026-01-06', customer: 0 },
  { amount: 4000, region: 'south', status: 'pending', orderDate: '2026-02-01', customer: 0 },
];
// Instants chosen so that UTC bucketing matters: the second is 2026-01-31 22:30 UTC.
const CUSTOMER_CREATED = ['2026-01-05T23:30:00Z', '2026-02-01T00:30:00+02:00'];

let owner: Sql;
let app: Sql;
let tenantA: { id: string; slug: string };
let tenantB: { id: string; slug: string };

async function seed(tenantId: string, rows: Order[]) {
  await withTenant(owner, tenantId, async (tx) => {
    const made = await tx
      .insert(customers)
      .values(CUSTOMER_CREATED.map((at, i) => ({ name: `c${i}`, email: `c${i}@example.test`, createdAt: new Date(at) })))
      .returning({ id: customers.id });
    await tx.insert(orders).values(
      rows.map((o) => ({
        customerId: made[o.customer]!.id,
        region: o.region,
        amount: o.amount.toFixed(2),
        status: o.status,
        orderDate: o.orderDate,
        createdAt: new Date(`${o.orderDate}T12:00:00Z`),
      })),
    );
  });
}

beforeAll(async () => {
  owner = ownerPool();
  app = appPool(2);
  [tenantA, tenantB] = await Promise.all([makeTenant(owner, 'Engine A'), makeTenant(owner, 'Engine B')]);
  await Promise.all([seed(tenantA.id, ORDERS_A), seed(tenantB.id, ORDERS_B)]);
});
afterAll(async () => {
  await Promise.all([owner.end(), app.end()]);
});

function query(raw: Partial<QueryInput> & { dataset?: string }, tenantId = tenantA.id, statementTimeoutMs = 10_000) {
  const input = queryInput.parse({ dataset: 'sales', ...raw });
  return withTenant(app, tenantId, (tx) => runQuery(tx, catalog, input, { statementTimeoutMs }));
}

/** The rejection of `call`, which must be a 400 (or 404) AppError. */
async function refusal(call: Promise<unknown>) {
  const error = await call.then(
    () => {
      throw new Error('expected the query to be refused');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  const { code, reason, message } = error as AppError;
  return { code, reason, message };
}

const sum = (rows: Order[]) => rows.reduce((total, o) => total + o.amount, 0);

describe('results', () => {
  it('answers revenue by region with the shipped catalog', async () => {
    const result = await query({ dataset: 'orders', dimensions: ['region'], metrics: ['revenue', 'order_count', 'avg_order_value', 'customers', 'paid_revenue'] });
    expect(result.columns).toEqual([
      { name: 'region', type: 'string', label: 'Region' },
      { name: 'revenue', type: 'number', label: 'Revenue' },
      { name: 'order_count', type: 'number', label: 'Orders' },
      { name: 'avg_order_value', type: 'number', label: 'Average order value' },
      { name: 'customers', type: 'number', label: 'Customers' },
      { name: 'paid_revenue', type: 'number', label: 'Paid revenue' },
    ]);
    expect(result.rows).toEqual([
      { region: 'east', revenue: 50.5, order_count: 1, avg_order_value: 50.5, customers: 1, paid_revenue: null },
      { region: 'north', revenue: 30, order_count: 2, avg_order_value: 15, customers: 1, paid_revenue: 10 },
      { region: 'south', revenue: 70, order_count: 2, avg_order_value: 35, customers: 2, paid_revenue: 30 },
      { region: 'we%st', revenue: 150, order_count: 1, avg_order_value: 150, customers: 1, paid_revenue: 150 },
    ]);
    expect(result).toMatchObject({ rowCount: 4, truncated: false });
  });

  it('computes an expression dimension and metrics without dimensions', async () => {
    const bands = await query({ dataset: 'orders', dimensions: ['amount_band'], metrics: ['order_count'] });
    // small: under 50; medium: under 200 (50.50 and 150); no large orders.
    expect(bands.rows).toEqual([
      { amount_band: 'medium', order_count: 2 },
      { amount_band: 'small', order_count: 4 },
    ]);
    const total = await query({ metrics: ['revenue', 'order_count', 'smallest', 'largest'] });
    expect(total.rows).toEqual([{ revenue: sum(ORDERS_A), order_count: 6, smallest: 10, largest: 150 }]);
  });

  it('returns each type as promised: numbers, booleans, dates and UTC timestamps', async () => {
    const result = await query({ dimensions: ['amount', 'big', 'order_date', 'created_at'], filters: [{ dimension: 'amount', op: 'eq', value: 150 }] });
    expect(result.rows).toEqual([{ amount: 150, big: true, order_date: '2025-12-31', created_at: '2025-12-31T12:00:00.000Z' }]);
  });

  it('orders by any requested field, then by the remaining dimensions', async () => {
    const result = await query({ dimensions: ['status', 'region'], metrics: ['revenue'], orderBy: [{ field: 'revenue', direction: 'desc' }] });
    expect(result.rows.map((r) => r.revenue)).toEqual([150, 50.5, 40, 30, 20, 10]);
    const byStatus = await query({ dimensions: ['status', 'region'], metrics: ['order_count'], orderBy: [{ field: 'region', direction: 'desc' }] });
    expect(byStatus.rows.map((r) => r.region)).toEqual(['we%st', 'south', 'south', 'north', 'north', 'east']);
    expect(byStatus.rows.slice(1, 3).map((r) => r.status)).toEqual(['paid', 'shipped']);
  });
});

describe('filters', () => {
  it('compares metrics after aggregation (HAVING), next to dimension filters (WHERE)', async () => {
    const result = await query({
      dimensions: ['region'],
      metrics: ['order_count', 'revenue'],
      filters: [{ and: [{ metric: 'order_count', op: 'gte', value: 2 }, { dimension: 'amount', op: 'gt', value: 0 }] }],
    });
    const regions = new Map<string, number>();
    for (const o of ORDERS_A) regions.set(o.region, (regions.get(o.region) ?? 0) + 1);
    expect(result.rows.map((r) => r.region)).toEqual([...regions].filter(([, n]) => n >= 2).map(([r]) => r).sort());
    const exact = await query({ dimensions: ['region'], metrics: ['revenue'], filters: [{ metric: 'revenue', op: 'eq', value: result.rows[0]!.revenue as number }] });
    expect(exact.rows).toEqual([{ region: result.rows[0]!.region, revenue: result.rows[0]!.revenue }]);
  });

  it('refuses a malformed tree with the path of the bad node', async () => {
    const cases: [unknown, RegExp][] = [
      [[{ or: [{ dimension: 'region', op: 'eq', value: 'x' }, { metric: 'revenue', op: 'gt', value: 1 }] }], /^filters\[0\]\.or: one "or" cannot mix dimensions/],
      [[{ and: [{ dimension: 'region', op: 'eq', value: 'x' }], dimension: 'region' }], /^filters\[0\]: "and" cannot be combined with "dimension"/],
      [[{ not: { dimension: 'region', value: 'x' } }], /^filters\[0\]\.not\.op: expected one of eq\|neq/],
      [[{ op: 'eq', value: 'x' }], /^filters\[0\]: name the dimension or metric to filter/],
      [[{ metric: 'revenue', op: 'contains', value: 'x' }], /^filters\[0\]\.op: "contains" applies to string dimensions only; "revenue" is a metric/],
      [[{ and: Array.from({ length: 60 }, () => ({ or: [{ dimension: 'amount', op: 'gt', value: 1 }, { dimension: 'amount', op: 'lt', value: 0 }] })) }], /^filters: at most 100 conditions in all/],
    ];
    for (const [filters, message] of cases) {
      const error = await refusal(query({ metrics: ['revenue'], filters } as Partial<QueryInput>));
      expect(error).toMatchObject({ code: 'BAD_REQUEST', reason: 'INVALID_FILTER' });
      expect(error.message).toMatch(message);
    }
    const wrongKind = await refusal(query({ metrics: ['revenue'], filters: [{ metric: 'region', op: 'eq', value: 'x' }] }));
    expect(wrongKind).toMatchObject({ reason: 'UNKNOWN_FIELD', message: expect.stringMatching(/^filters\[0\]\.metric: "region" is a dimension/) });
  });

  const count = async (filters: QueryInput['filters'], dataset = 'sales') => {
    const metric = dataset === 'customers' ? 'customer_count' : 'order_count';
    const result = await query({ dataset, metrics: [metric], filters });
    return result.rows[0]![metric];
  };
  const expected = (pick: (o: Order) => boolean) => ORDERS_A.filter(pick).length;

  it.each<[string, QueryInput['filters'], (o: Order) => boolean]>([
    ['eq', [{ dimension: 'region', op: 'eq', value: 'north' }], (o) => o.region === 'north'],
    ['neq', [{ dimension: 'region', op: 'neq', value: 'north' }], (o) => o.region !== 'north'],
    ['in', [{ dimension: 'region', op: 'in', values: ['north', 'east'] }], (o) => ['north', 'east'].includes(o.region)],
    ['not_in', [{ dimension: 'region', op: 'not_in', values: ['north', 'east'] }], (o) => !['north', 'east'].includes(o.region)],
    ['gt on a number', [{ dimension: 'amount', op: 'gt', value: 30 }], (o) => o.amount > 30],
    ['gte on a number given as text', [{ dimension: 'amount', op: 'gte', value: '30' }], (o) => o.amount >= 30],
    ['lt on a date', [{ dimension: 'order_date', op: 'lt', value: '2026-01-06' }], (o) => o.orderDate < '2026-01-06'],
    ['lte on a date', [{ dimension: 'order_date', op: 'lte', value: '2026-01-06' }], (o) => o.orderDate <= '2026-01-06'],
    ['between numbers, inclusive', [{ dimension: 'amount', op: 'between', values: [20, 40] }], (o) => o.amount >= 20 && o.amount <= 40],
    ['between dates, inclusive', [{ dimension: 'order_date', op: 'between', values: ['2026-01-01', '2026-03-31'] }], (o) => o.orderDate >= '2026-01-01' && o.orderDate <= '2026-03-31'],
    ['gte on a timestamp', [{ dimension: 'created_at', op: 'gte', value: '2026-01-12T12:00:00Z' }], (o) => o.orderDate >= '2026-01-12'],
    ['lt on a timestamp with an offset', [{ dimension: 'created_at', op: 'lt', value: '2026-01-12T13:00:00+02:00' }], (o) => o.orderDate < '2026-01-12'],
    ['contains, case-insensitive', [{ dimension: 'region', op: 'contains', value: 'OR' }], (o) => o.region.includes('or')],
    ['contains with % taken literally', [{ dimension: 'region', op: 'contains', value: '%' }], (o) => o.region.includes('%')],
    ['starts_with', [{ dimension: 'status', op: 'starts_with', value: 'p' }], (o) => o.status.startsWith('p')],
    ['starts_with with _ taken literally', [{ dimension: 'status', op: 'starts_with', value: '_aid' }], () => false],
    ['is_null', [{ dimension: 'open_status', op: 'is_null' }], (o) => o.status === 'cancelled'],
    ['is_not_null', [{ dimension: 'open_status', op: 'is_not_null' }], (o) => o.status !== 'cancelled'],
    ['eq on a boolean', [{ dimension: 'big', op: 'eq', value: true }], (o) => o.amount >= 100],
    ['eq on a boolean given as text', [{ dimension: 'big', op: 'eq', value: 'false' }], (o) => o.amount < 100],
    ['several filters, all applied', [{ dimension: 'region', op: 'in', values: ['north', 'south'] }, { dimension: 'status', op: 'eq', value: 'paid' }], (o) => ['north', 'south'].includes(o.region) && o.status === 'paid'],
    ['or', [{ or: [{ dimension: 'region', op: 'eq', value: 'north' }, { dimension: 'status', op: 'eq', value: 'paid' }] }], (o) => o.region === 'north' || o.status === 'paid'],
    ['not', [{ not: { dimension: 'region', op: 'eq', value: 'north' } }], (o) => o.region !== 'north'],
    ['and inside or inside not', [{ not: { or: [{ and: [{ dimension: 'region', op: 'eq', value: 'north' }, { dimension: 'amount', op: 'gt', value: 15 }] }, { dimension: 'big', op: 'eq', value: true }] } }], (o) => !((o.region === 'north' && o.amount > 15) || o.amount >= 100)],
  ])('%s', async (_name, filters, pick) => {
    expect(await count(filters)).toBe(expected(pick));
  });

  it('binds hostile text as a value', async () => {
    expect(await count([{ dimension: 'region', op: 'eq', value: "north' or '1'='1" }])).toBe(0);
    const [check] = await withTenant(owner, tenantA.id, (tx) => tx.execute<{ n: number }>(sql`select count(*)::int as n from orders`));
    expect(check!.n).toBe(ORDERS_A.length);
  });

  it('filter timestamps on the customers dataset', async () => {
    expect(await count([{ dimension: 'created_at', op: 'gte', value: '2026-01-31' }], 'customers')).toBe(1);
  });
});

describe('time grains bucket', () => {
  const byGrain = async (grain: QueryInput['timeGrain'], dimension = 'order_date', dataset = 'sales') => {
    const metric = dataset === 'customers' ? 'customer_count' : 'order_count';
    const result = await query({ dataset, dimensions: [dimension], metrics: [metric], timeGrain: grain });
    return Object.fromEntries(result.rows.map((r) => [r[dimension], r[metric]]));
  };

  it('day', async () => {
    expect(await byGrain('day')).toEqual({ '2025-12-31': 1, '2026-01-05': 1, '2026-01-06': 1, '2026-01-12': 1, '2026-03-31': 1, '2026-04-01': 1 });
  });
  it('week starts on Monday', async () => {
    expect(await byGrain('week')).toEqual({ '2025-12-29': 1, '2026-01-05': 2, '2026-01-12': 1, '2026-03-30': 2 });
  });
  it('month', async () => {
    expect(await byGrain('month')).toEqual({ '2025-12-01': 1, '2026-01-01': 3, '2026-03-01': 1, '2026-04-01': 1 });
  });
  it('quarter', async () => {
    expect(await byGrain('quarter')).toEqual({ '2025-10-01': 1, '2026-01-01': 4, '2026-04-01': 1 });
  });
  it('year', async () => {
    expect(await byGrain('year')).toEqual({ '2025-01-01': 1, '2026-01-01': 5 });
  });
  it('on timestamps, in UTC', async () => {
    expect(await byGrain('month', 'created_at')).toEqual({ '2025-12-01T00:00:00.000Z': 1, '2026-01-01T00:00:00.000Z': 3, '2026-03-01T00:00:00.000Z': 1, '2026-04-01T00:00:00.000Z': 1 });
    expect(await byGrain('day', 'created_at', 'customers')).toEqual({ '2026-01-05T00:00:00.000Z': 1, '2026-01-31T00:00:00.000Z': 1 });
    expect(await byGrain('month', 'created_at', 'customers')).toEqual({ '2026-01-01T00:00:00.000Z': 2 });
  });
  it('leaves other dimensions alone and sums within buckets', async () => {
    const result = await query({ dimensions: ['region', 'order_date'], metrics: ['revenue'], timeGrain: 'quarter', filters: [{ dimension: 'region', op: 'eq', value: 'south' }] });
    expect(result.rows).toEqual([{ region: 'south', order_date: '2026-01-01', revenue: 70 }]);
  });
});

describe('limits', () => {
  it('defaults to 1000 rows and refuses more than 100000', async () => {
    expect(queryInput.parse({ dataset: 'sales', metrics: ['revenue'] }).limit).toBe(1000);
    expect(() => parseQueryInput({ dataset: 'sales', metrics: ['revenue'], limit: 100_001 })).toThrow('limit: at most 100000 rows');
    expect(parseQueryInput({ dataset: 'sales', metrics: ['revenue'], limit: 100_000 }).limit).toBe(100_000);
  });

  it('refuses more than 20 dimensions, 50 metrics, 100 filters', () => {
    const names = (n: number) => Array.from({ length: n }, (_, i) => `f${i}`);
    const filters = (n: number) => Array.from({ length: n }, () => ({ dimension: 'amount', op: 'gte', value: 0 }));
    expect(() => parseQueryInput({ dataset: 'sales', dimensions: names(21) })).toThrow('dimensions: at most 20 dimensions');
    expect(() => parseQueryInput({ dataset: 'sales', metrics: names(51) })).toThrow('metrics: at most 50 metrics');
    expect(() => parseQueryInput({ dataset: 'sales', metrics: ['revenue'], filters: filters(101) })).toThrow('filters: at most 100 filters');
    expect(() => parseQueryInput({ dataset: 'sales', metrics: ['revenue'], filters: [{ dimension: 'region', op: 'in', values: names(1001) }] })).toThrow(
      'filters[0].values: at most 1000 values',
    );
    expect(() => parseQueryInput({ dataset: 'sales' })).toThrow('metrics: ask for at least one dimension or metric');
    expect(() => parseQueryInput({ dataset: 'sales', metrics: ['revenue'], limt: 5 })).toThrow('unknown key limt');
  });

  it('runs 100 filters', async () => {
    const filters = Array.from({ length: 100 }, () => ({ dimension: 'amount', op: 'gte' as const, value: 0 }));
    const result = await query({ metrics: ['order_count'], filters });
    expect(result.rows).toEqual([{ order_count: 6 }]);
  });

  it('flags truncation and pages with offset', async () => {
    const page = (limit: number, offset: number) => query({ dimensions: ['order_date'], metrics: ['revenue'], limit, offset });
    const first = await page(2, 0);
    expect(first).toMatchObject({ rowCount: 2, truncated: true });
    expect(first.rows.map((r) => r.order_date)).toEqual(['2025-12-31', '2026-01-05']);
    const last = await page(2, 4);
    expect(last).toMatchObject({ rowCount: 2, truncated: false });
    expect(last.rows.map((r) => r.order_date)).toEqual(['2026-03-31', '2026-04-01']);
    expect(await page(2, 5)).toMatchObject({ rowCount: 1, truncated: false });
    expect(await page(6, 0)).toMatchObject({ rowCount: 6, truncated: false });
    expect(await page(10, 100)).toMatchObject({ rowCount: 0, rows: [], truncated: false });
  });
});

describe('errors name the field', () => {
  it.each<[string, Record<string, unknown>, string, RegExp]>([
    ['unknown dimension', { dimensions: ['regoin'] }, 'UNKNOWN_FIELD', /^dimensions\[0\]: unknown dimension "regoin" in dataset "sales"; dimensions: region, status, /],
    ['unknown metric', { metrics: ['revenue', 'profit'] }, 'UNKNOWN_FIELD', /^metrics\[1\]: unknown metric "profit" in dataset "sales"; metrics: revenue, order_count/],
    ['a metric as a dimension', { dimensions: ['revenue'] }, 'UNKNOWN_FIELD', /^dimensions\[0\]: "revenue" is a metric; list it in metrics/],
    ['a dimension as a metric', { metrics: ['region'] }, 'UNKNOWN_FIELD', /^metrics\[0\]: "region" is a dimension; list it in dimensions/],
    ['tenant outside the admin path', { dimensions: ['tenant'] }, 'UNKNOWN_FIELD', /^dimensions\[0\]: unknown dimension "tenant"/],
    ['a field twice', { dimensions: ['region', 'region'] }, 'INVALID_QUERY', /^dimensions\[1\]: "region" is requested twice/],
    ['a filter on an unknown dimension', { metrics: ['revenue'], filters: [{ dimension: 'zone', op: 'eq', value: 'x' }] }, 'UNKNOWN_FIELD', /^filters\[0\]\.dimension: unknown dimension "zone"/],
    ['a filter on a metric', { metrics: ['revenue'], filters: [{ dimension: 'revenue', op: 'gt', value: 1 }] }, 'INVALID_FILTER', /^filters\[0\]\.dimension: "revenue" is a metric; filter it with { metric: "revenue"/],
    ['a number for a string', { metrics: ['revenue'], filters: [{ dimension: 'region', op: 'eq', value: 'x' }, { dimension: 'region', op: 'eq', value: 5 }] }, 'INVALID_FILTER', /^filters\[1\]\.value: expected a string for string dimension "region", got 5$/],
    ['text for a number', { metrics: ['revenue'], filters: [{ dimension: 'amount', op: 'gt', value: '12abc' }] }, 'INVALID_FILTER', /^filters\[0\]\.value: expected a number for number dimension "amount"/],
    ['an impossible date', { metrics: ['revenue'], filters: [{ dimension: 'order_date', op: 'eq', value: '2026-02-30' }] }, 'INVALID_FILTER', /^filters\[0\]\.value: expected a date 'YYYY-MM-DD'/],
    ['a date list with a bad item', { metrics: ['revenue'], filters: [{ dimension: 'order_date', op: 'in', values: ['2026-01-05', '5/1/2026'] }] }, 'INVALID_FILTER', /^filters\[0\]\.values\[1\]: expected a date/],
    ['a timestamp without a zone', { metrics: ['revenue'], filters: [{ dimension: 'created_at', op: 'gt', value: '2026-01-05T10:00:00' }] }, 'INVALID_FILTER', /^filters\[0\]\.value: expected an ISO 8601 timestamp with a time zone/],
    ['yes for a boolean', { metrics: ['revenue'], filters: [{ dimension: 'big', op: 'eq', value: 'yes' }] }, 'INVALID_FILTER', /^filters\[0\]\.value: expected true or false/],
    ['ordering a boolean', { metrics: ['revenue'], filters: [{ dimension: 'big', op: 'gt', value: true }] }, 'INVALID_FILTER', /^filters\[0\]\.op: "gt" does not apply to boolean dimension "big"/],
    ['between with one value', { metrics: ['revenue'], filters: [{ dimension: 'amount', op: 'between', values: [1] }] }, 'INVALID_FILTER', /^filters\[0\]\.values: "between" needs exactly 2 values, got 1$/],
    ['between with three values', { metrics: ['revenue'], filters: [{ dimension: 'amount', op: 'between', values: [1, 2, 3] }] }, 'INVALID_FILTER', /^filters\[0\]\.values: "between" needs exactly 2 values, got 3$/],
    ['in with no values', { metrics: ['revenue'], filters: [{ dimension: 'region', op: 'in', values: [] }] }, 'INVALID_FILTER', /^filters\[0\]\.values: "in" needs 1 to 1000 values, got 0$/],
    ['in with value instead of values', { metrics: ['revenue'], filters: [{ dimension: 'region', op: 'in', value: 'north' }] }, 'INVALID_FILTER', /^filters\[0\]\.value: "in" takes a list; use values$/],
    ['eq with no value', { metrics: ['revenue'], filters: [{ dimension: 'region', op: 'eq' }] }, 'INVALID_FILTER', /^filters\[0\]\.value: "eq" needs a value \(to match missing values use is_null/],
    ['eq with null', { metrics: ['revenue'], filters: [{ dimension: 'region', op: 'eq', value: null }] }, 'INVALID_FILTER', /^filters\[0\]\.value: "eq" needs a value/],
    ['is_null with a value', { metrics: ['revenue'], filters: [{ dimension: 'region', op: 'is_null', value: 'x' }] }, 'INVALID_FILTER', /^filters\[0\]\.value: "is_null" takes no value$/],
    ['contains on a number', { metrics: ['revenue'], filters: [{ dimension: 'amount', op: 'contains', value: '1' }] }, 'INVALID_FILTER', /^filters\[0\]\.op: "contains" applies to string dimensions only; "amount" is a number dimension$/],
    ['a grain without a time dimension', { dimensions: ['region'], metrics: ['revenue'], timeGrain: 'month' }, 'INVALID_QUERY', /^timeGrain: "month" needs a date or timestamp dimension in the query; add one of order_date, created_at/],
    ['a grain, naming the default time dimension', { dataset: 'orders', metrics: ['revenue'], timeGrain: 'week' }, 'INVALID_QUERY', /^timeGrain: .*add "order_date" \(the default time dimension\) to dimensions$/],
    ['ordering by a field not requested', { dimensions: ['region'], metrics: ['revenue'], orderBy: [{ field: 'status' }] }, 'INVALID_QUERY', /^orderBy\[0\]\.field: "status" is not among the requested dimensions and metrics \(region, revenue\)$/],
  ])('%s', async (_name, raw, reason, message) => {
    const error = await refusal(query(raw as Partial<QueryInput>));
    expect(error).toMatchObject({ code: 'BAD_REQUEST', reason });
    expect(error.message).toMatch(message);
  });

  it('an unknown dataset is a 404, as datasets.describe answers', async () => {
    const error = await refusal(query({ dataset: 'ordrs', metrics: ['revenue'] }));
    expect(error).toMatchObject({ code: 'NOT_FOUND', reason: 'UNKNOWN_DATASET' });
    expect(error.message).toMatch(/^dataset: unknown dataset "ordrs"; datasets: orders, customers, sales$/);
  });

  it('a value only Postgres can tell is out of range is a 400, not a 500', async () => {
    const error = await refusal(query({ metrics: ['revenue'], filters: [{ dimension: 'created_at', op: 'gt', value: '2026-01-01T00:00:00+99:00' }] }));
    expect(error).toMatchObject({ code: 'BAD_REQUEST', reason: 'INVALID_FILTER' });
  });
});

describe('statement timeout', () => {
  it('cancels a slow query with a 400 saying the limit, and does not outlive the transaction', async () => {
    const big = await makeTenant(owner, 'Engine big');
    await withTenant(owner, big.id, async (tx) => {
      const [customer] = await tx.insert(customers).values({ name: 'c', email: 'c@example.test' }).returning({ id: customers.id });
      await tx.execute(sql`
        insert into orders (customer_id, region, amount, order_date, status)
        select ${customer!.id}::uuid, 'r' || (i % 500), (i % 1000)::numeric, date '2020-01-01' + (i % 2000), 'paid'
        from generate_series(1, 200000) i
        on conflict (tenant_id, id) do nothing`); // never fires; keeps Citus off its COPY path, refused under RLS
    });
    const single = appPool(1);
    try {
      const heavy = queryInput.parse({ dataset: 'sales', dimensions: ['region', 'order_date', 'amount'], metrics: ['order_count', 'revenue'] });
      const error = await refusal(withTenant(single, big.id, (tx) => runQuery(tx, catalog, heavy, { statementTimeoutMs: 1 })));
      expect(error).toMatchObject({ code: 'BAD_REQUEST', reason: 'QUERY_TIMEOUT' });
      expect(error.message).toMatch(/longer than the 1 ms limit/);
      // Same connection (pool of one): the setting was transaction-local.
      const [after] = await withTenant(single, big.id, (tx) => tx.execute<{ t: string }>(sql`select current_setting('statement_timeout') as t`));
      expect(after!.t).toBe('0');
      const ok = await withTenant(single, big.id, (tx) => runQuery(tx, catalog, queryInput.parse({ dataset: 'sales', metrics: ['order_count'] }), { statementTimeoutMs: 10_000 }));
      expect(ok.rows).toEqual([{ order_count: 200_000 }]);
    } finally {
      await single.end();
    }
  });
});

describe('tenants', () => {
  it('the same query returns each tenant its own numbers', async () => {
    const input = { dataset: 'orders', dimensions: ['region'], metrics: ['revenue', 'order_count'] };
    const expectedFor = (rows: Order[]) =>
      [...new Set(rows.map((o) => o.region))].sort().map((region) => {
        const mine = rows.filter((o) => o.region === region);
        return { region, revenue: sum(mine), order_count: mine.length };
      });
    const [a, b] = await Promise.all([query(input, tenantA.id), query(input, tenantB.id)]);
    expect(a.rows).toEqual(expectedFor(ORDERS_A));
    expect(b.rows).toEqual(expectedFor(ORDERS_B));
  });

  it('the platform all-tenants query adds a tenant column and merges in order', async () => {
    const platform = platformPool(2);
    try {
      const input = queryInput.parse({ dataset: 'orders', dimensions: ['region'], metrics: ['revenue'], orderBy: [{ field: 'revenue', direction: 'desc' }], limit: 3 });
      const result = await runQueryAcrossTenants(
        [tenantA, tenantB],
        (tenantId, perTenant) => withTenant(platform, tenantId, (tx) => runQuery(tx, catalog, perTenant, { statementTimeoutMs: 10_000 })),
        input,
      );
      expect(result.columns.map((c) => c.name)).toEqual(['tenant', 'region', 'revenue']);
      expect(result.rows).toEqual([
        { tenant: tenantB.slug, region: 'south', revenue: 6000 },
        { tenant: tenantB.slug, region: 'north', revenue: 1000 },
        { tenant: tenantA.slug, region: 'we%st', revenue: 150 },
      ]);
      expect(result).toMatchObject({ rowCount: 3, truncated: true });
    } finally {
      await platform.end();
    }
  });
});
