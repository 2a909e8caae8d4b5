import { fromPackageRoot } from '../../../db/package-root.js';
import { describe, expect, it } from 'vitest';
import { CatalogError, findDataset, loadCatalog, parseCatalog } from './catalog.js';

const shipped = fromPackageRoot('catalog.yaml');

function problems(text: string): string[] {
  try {
    parseCatalog(text, 'catalog.yaml');
  } catch (error) {
    if (error instanceof CatalogError) return error.issues;
    throw error;
  }
  throw new Error('expected the catalog to be refused');
}

const valid = `
datasets:
  - name: orders
    table: orders
    description: Orders.
    defaultTimeDimension: order_date
    dimensions:
      - { name: region, column: region, type: string }
      - { name: order_date, column: order_date, type: date }
    metrics:
      - { name: revenue, aggregation: sum, column: amount, format: currency }
      - { name: order_count, aggregation: count }
      - { name: paid, aggregation: count, filter: "status = 'paid'" }
`;

describe('the shipped catalog.yaml', () => {
  it('parses, with the demo datasets', () => {
    const catalog = loadCatalog(shipped);
    expect(catalog.file).toBe('catalog.yaml');
    const orders = findDataset(catalog, 'orders')!;
    expect(orders.dimensions.map((d) => d.name)).toEqual(['region', 'status', 'customer', 'order_date', 'amount_band']);
    expect(orders.metrics.map((m) => m.name)).toEqual(['revenue', 'order_count', 'avg_order_value', 'customers', 'paid_revenue']);
    expect(orders.metrics.find((m) => m.name === 'customers')!.sql).toBe('count(DISTINCT "customer_id")');
    expect(orders.metrics.find((m) => m.name === 'paid_revenue')!.sql).toBe(`sum("amount") FILTER (WHERE ("status" = E'paid'))`);
    expect(orders.columns).toEqual(['amount', 'customer_id', 'order_date', 'region', 'status']);
    expect(findDataset(catalog, 'customers')!.defaultTimeDimension).toBe('created_at');
    expect(findDataset(catalog, 'nope')).toBeUndefined();
  });
});

describe('parseCatalog', () => {
  it('compiles columns, counts and filters, and derives labels', () => {
    const catalog = parseCatalog(valid, 'catalog.yaml');
    const [orders] = catalog.datasets;
    expect(orders!.metrics.map((m) => m.sql)).toEqual(['sum("amount")', 'count(*)', `count(*) FILTER (WHERE ("status" = E'paid'))`]);
    expect(orders!.dimensions[1]!.label).toBe('Order date');
    expect(orders!.metrics[0]!.format).toBe('currency');
    expect(orders!.metrics[1]!.format).toBe('number');
  });

  it('names file, path and reason for a bad enum', () => {
    expect(problems(valid.replace('aggregation: count }', 'aggregation: median }'))).toEqual([
      'catalog.yaml: datasets[0].metrics[1].aggregation: expected one of sum|count|count_distinct|avg|min|max',
    ]);
  });

  it('lists every issue on its own line', () => {
    const text = valid.replace('type: string', 'type: text').replace('format: currency', 'format: euros').replace('name: region', 'name: Region');
    const issues = problems(text);
    expect(issues).toEqual(
      expect.arrayContaining([
        'catalog.yaml: datasets[0].dimensions[0].type: expected one of string|number|boolean|date|timestamp',
        'catalog.yaml: datasets[0].metrics[0].format: expected one of number|integer|currency|percent',
        'catalog.yaml: datasets[0].dimensions[0].name: expected a name matching ^[a-z][a-z0-9_]{0,62}$',
      ]),
    );
    expect(new CatalogError(issues).message.split('\n')).toHaveLength(issues.length);
  });

  it('names the line of a YAML syntax error', () => {
    const [issue] = problems('datasets:\n  - name: orders\n    table: [orders\n  description: x\n');
    expect(issue).toMatch(/^catalog\.yaml: line \d+, column \d+: /);
  });

  it('refuses duplicate keys, unknown keys and a non-mapping root', () => {
    expect(problems('datasets: []\ndatasets: []\n')[0]).toMatch(/^catalog\.yaml: line 2, column 1: Map keys must be unique/);
    expect(problems(valid.replace('description: Orders.', 'description: Orders.\n    descripton: typo'))).toEqual([
      'catalog.yaml: datasets[0]: unknown key "descripton"',
    ]);
    expect(problems('- a\n- b\n')).toEqual(['catalog.yaml: (root): expected a mapping with a "datasets" list']);
    expect(problems('datasets: []\n')).toEqual(['catalog.yaml: datasets: declare at least one dataset']);
  });

  it('refuses a bad expression with its path and position', () => {
    const text = valid.replace('{ name: region, column: region, type: string }', "{ name: region, expression: 'pg_sleep(1)', type: string }");
    expect(problems(text)).toEqual([
      expect.stringMatching(/^catalog\.yaml: datasets\[0\]\.dimensions\[0\]\.expression: function "pg_sleep" at position 1 is not allowed/),
    ]);
    const filter = valid.replace(`filter: "status = 'paid'"`, `filter: "status = 'paid'; delete from orders"`);
    expect(problems(filter)).toEqual([expect.stringMatching(/^catalog\.yaml: datasets\[0\]\.metrics\[2\]\.filter: ";" at position 16 is not allowed/)]);
  });

  it('refuses column and expression together, neither, and a sum without a column', () => {
    expect(problems(valid.replace('column: region, type', "column: region, expression: 'region', type"))).toEqual([
      'catalog.yaml: datasets[0].dimensions[0]: give either column or expression, not both',
    ]);
    expect(problems(valid.replace('{ name: region, column: region, type: string }', '{ name: region, type: string }'))).toEqual([
      'catalog.yaml: datasets[0].dimensions[0]: give a column or an expression',
    ]);
    expect(problems(valid.replace('aggregation: sum, column: amount', 'aggregation: sum'))).toEqual([
      'catalog.yaml: datasets[0].metrics[0]: give a column or an expression',
    ]);
  });

  it('refuses duplicate and reserved names, and a bad default time dimension', () => {
    expect(problems(valid.replace('name: order_count', 'name: region'))).toEqual([
      'catalog.yaml: datasets[0].metrics[1].name: "region" is already used by dimensions[0]; names are output columns and must be unique',
    ]);
    expect(problems(valid.replace('name: order_count', 'name: tenant'))).toEqual([
      'catalog.yaml: datasets[0].metrics[1].name: "tenant" is reserved (the all-tenants query adds it as a dimension)',
    ]);
    expect(problems(valid.replace('defaultTimeDimension: order_date', 'defaultTimeDimension: region'))).toEqual([
      'catalog.yaml: datasets[0].defaultTimeDimension: "region" is a string dimension; expected a date or timestamp dimension',
    ]);
    expect(problems(valid.replace('defaultTimeDimension: order_date', 'defaultTimeDimension: when'))).toEqual([
      'catalog.yaml: datasets[0].defaultTimeDimension: no dimension named "when" in this dataset',
    ]);
    const twice = `${valid}  - name: orders\n    table: orders\n    description: Again.\n    metrics: [{ name: n, aggregation: count }]\n`;
    expect(problems(twice)).toEqual(['catalog.yaml: datasets[1].name: "orders" is already the name of datasets[0]']);
  });

  it('refuses a table name that is not a plain identifier', () => {
    expect(problems(valid.replace('table: orders', 'table: public.orders'))).toEqual([
      'catalog.yaml: datasets[0].table: expected a lowercase column name matching ^[a-z_][a-z0-9_]{0,62}$',
    ]);
  });

  it('reports a missing file', () => {
    expect(() => loadCatalog('/nonexistent/catalog.yaml')).toThrow('/nonexistent/catalog.yaml: file not found');
  });
});
