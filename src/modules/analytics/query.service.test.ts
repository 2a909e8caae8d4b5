import { fromPackageRoot } from '../../../db/package-root.js';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors.js';
import { loadCatalog } from './catalog.js';
import { describeDataset, listDatasets, parseQueryInput, queryInput, runQueryAcrossTenants, type QueryInput, type QueryResult } from './query.service.js';

const catalog = loadCatalog(fromPackageRoot('catalog.yaml'));

describe('runQueryAcrossTenants', () => {
  const data: Record<string, { region: string; revenue: number }[]> = {
    a: [{ region: 'north', revenue: 5 }, { region: 'south', revenue: 30 }, { region: 'west', revenue: 1 }],
    b: [{ region: 'east', revenue: 20 }, { region: 'north', revenue: 10 }],
    c: [],
  };
  const tenants = [{ id: 'c', slug: 'gamma' }, { id: 'a', slug: 'alpha' }, { id: 'b', slug: 'beta' }];
  const calls: { tenantId: string; input: QueryInput }[] = [];
  let running = 0;
  let maxRunning = 0;
  /** A fake engine honouring orderBy on revenue and limit/offset like runQuery does. */
  const run = async (tenantId: string, input: QueryInput): Promise<QueryResult> => {
    calls.push({ tenantId, input });
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise((resolve) => setTimeout(resolve, 5));
    running--;
    const sorted = [...data[tenantId]!];
    if (input.orderBy[0]?.field === 'revenue') sorted.sort((x, y) => (input.orderBy[0]!.direction === 'desc' ? y.revenue - x.revenue : x.revenue - y.revenue));
    const page = sorted.slice(input.offset, input.offset + input.limit);
    return {
      columns: [{ name: 'region', type: 'string', label: 'Region' }, { name: 'revenue', type: 'number', label: 'Revenue' }],
      rows: page,
      rowCount: page.length,
      truncated: sorted.length > input.offset + input.limit,
    };
  };
  const input = (raw: object) => queryInput.parse({ dataset: 'orders', dimensions: ['region'], metrics: ['revenue'], ...raw });

  it('asks every tenant for offset + limit rows from the start, two at a time', async () => {
    calls.length = 0;
    await runQueryAcrossTenants(tenants, run, input({ limit: 2, offset: 1, orderBy: [{ field: 'tenant', direction: 'desc' }] }));
    expect(calls.map((c) => c.tenantId).sort()).toEqual(['a', 'b', 'c']);
    for (const call of calls) expect(call.input).toMatchObject({ limit: 3, offset: 0, orderBy: [] });
    expect(maxRunning).toBe(2);
  });

  it('defaults to tenant order, then each tenant’s own order', async () => {
    const result = await runQueryAcrossTenants(tenants, run, input({}));
    expect(result.columns.map((c) => c.name)).toEqual(['tenant', 'region', 'revenue']);
    expect(result.rows.map((r) => `${r.tenant}/${r.region}`)).toEqual(['alpha/north', 'alpha/south', 'alpha/west', 'beta/east', 'beta/north']);
    expect(result).toMatchObject({ rowCount: 5, truncated: false });
  });

  it('orders the merged rows globally, then pages once', async () => {
    const result = await runQueryAcrossTenants(tenants, run, input({ orderBy: [{ field: 'revenue', direction: 'desc' }], limit: 2, offset: 1 }));
    expect(result.rows).toEqual([
      { tenant: 'beta', region: 'east', revenue: 20 },
      { tenant: 'beta', region: 'north', revenue: 10 },
    ]);
    expect(result.truncated).toBe(true);
    const byTenant = await runQueryAcrossTenants(tenants, run, input({ orderBy: [{ field: 'tenant', direction: 'desc' }], limit: 2 }));
    expect(byTenant.rows.map((r) => r.tenant)).toEqual(['beta', 'beta']);
  });

  it('with no tenants, answers an empty result', async () => {
    expect(await runQueryAcrossTenants([], run, input({}))).toMatchObject({ rows: [], rowCount: 0, truncated: false });
  });
});

describe('catalog descriptions', () => {
  it('lists datasets with their fields', () => {
    expect(listDatasets(catalog)[0]).toEqual({
      name: 'orders',
      description: expect.any(String),
      dimensions: ['region', 'status', 'customer', 'order_date', 'amount_band'],
      metrics: ['revenue', 'order_count', 'avg_order_value', 'customers', 'paid_revenue'],
      defaultTimeDimension: 'order_date',
    });
  });

  it('describes a dataset with a runnable example query', () => {
    const described = describeDataset(catalog, 'orders');
    expect(described.table).toBe('orders');
    expect(described.dimensions[4]).toMatchObject({ name: 'amount_band', type: 'string', expression: expect.stringContaining('case when') });
    expect(described.metrics[4]).toMatchObject({ name: 'paid_revenue', aggregation: 'sum', format: 'currency', filter: "status = 'paid'" });
    expect(queryInput.parse(described.exampleQuery)).toEqual(described.exampleQuery);
  });

  it('answers 404 for an unknown dataset', () => {
    expect(() => describeDataset(catalog, 'nope')).toThrow(expect.objectContaining({ code: 'NOT_FOUND', reason: 'UNKNOWN_DATASET' }));
  });
});

describe('parseQueryInput', () => {
  it('applies defaults', () => {
    expect(parseQueryInput({ dataset: 'orders', metrics: ['revenue'] })).toEqual({
      dataset: 'orders', dimensions: [], metrics: ['revenue'], filters: [], orderBy: [], limit: 1000, offset: 0,
    });
  });

  it('is a 400 naming every bad field', () => {
    try {
      parseQueryInput({ dataset: 'orders', metrics: ['revenue'], timeGrain: 'hour', filters: [{ dimension: 'region', op: 'like' }] });
      throw new Error('expected a refusal');
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code: 'BAD_REQUEST', reason: 'INVALID_QUERY' });
      expect((error as Error).message).toContain('filters[0].op: expected one of eq|neq|in|not_in|gt|gte|lt|lte|between|contains|starts_with|is_null|is_not_null');
      expect((error as Error).message).toContain('timeGrain: expected one of day|week|month|quarter|year');
    }
  });
});
