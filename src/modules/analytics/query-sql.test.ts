import { fromPackageRoot } from '../../../db/package-root.js';
import { fillPlaceholders } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from './catalog.js';
import { planQuery, TENANT_BOUND, TENANT_PLACEHOLDER } from './query-sql.js';
import { queryInput } from './query.service.js';

const catalog = loadCatalog(fromPackageRoot('catalog.yaml'));
const render = (raw: unknown) => {
  const plan = planQuery(catalog, queryInput.parse(raw));
  return { ...new PgDialect().sqlToQuery(plan.query), columns: plan.columns };
};

describe('planQuery', () => {
  it('builds one grouped SELECT with every request value bound', () => {
    const hostile = `x'); drop table orders; --`;
    const { sql, params, columns } = render({
      dataset: 'orders',
      dimensions: ['order_date', 'region'],
      metrics: ['revenue', 'paid_revenue'],
      timeGrain: 'week',
      filters: [
        { dimension: 'region', op: 'in', values: [hostile, 'b'] },
        { dimension: 'order_date', op: 'between', values: ['2026-01-01', '2026-02-01'] },
        { dimension: 'status', op: 'contains', value: '50%_' },
      ],
      orderBy: [{ field: 'revenue', direction: 'desc' }],
      limit: 10,
      offset: 20,
    });
    expect(sql).toBe(
      `SELECT to_char(date_trunc('week', ("order_date")::date::timestamp), 'YYYY-MM-DD') AS "order_date", ("region")::text AS "region", ` +
        `(sum("amount"))::float8 AS "revenue", (sum("amount") FILTER (WHERE ("status" = E'paid')))::float8 AS "paid_revenue" ` +
        `FROM "public"."orders" WHERE "tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid ` +
        `AND (("region")::text IN ($1::text, $2::text)) AND (("order_date")::date BETWEEN $3::date AND $4::date) AND (("status")::text ILIKE $5) ` +
        `GROUP BY 1, 2 ORDER BY "revenue" DESC, "order_date" ASC, "region" ASC LIMIT $6 OFFSET $7`,
    );
    expect(params).toEqual([hostile, 'b', '2026-01-01', '2026-02-01', '%50\\%\\_%', 11, 20]);
    expect(sql).not.toContain('drop table');
    expect(columns).toEqual([
      { name: 'order_date', type: 'date', label: 'Order date' },
      { name: 'region', type: 'string', label: 'Region' },
      { name: 'revenue', type: 'number', label: 'Revenue' },
      { name: 'paid_revenue', type: 'number', label: 'Paid revenue' },
    ]);
  });

  it('binds timestamps with their zone (a bare date is midnight UTC) and formats them in UTC', () => {
    const { sql, params } = render({
      dataset: 'customers',
      dimensions: ['created_at'],
      metrics: ['customer_count'],
      filters: [
        { dimension: 'created_at', op: 'gte', value: '2026-01-01' },
        { dimension: 'created_at', op: 'lt', value: '2026-02-01T10:00:00+02:00' },
      ],
    });
    expect(sql).toContain(`to_char((("created_at")::timestamptz AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "created_at"`);
    expect(params.slice(0, 2)).toEqual(['2026-01-01T00:00:00Z', '2026-02-01T10:00:00+02:00']);
  });

  it('with metrics only, neither groups nor orders', () => {
    const { sql } = render({ dataset: 'orders', metrics: ['order_count'] });
    expect(sql).toMatch(/^SELECT \(count\(\*\)\)::float8 AS "order_count" FROM "public"."orders" WHERE .* LIMIT \$1 OFFSET \$2$/);
  });

  it('on Citus binds the tenant as the first parameter, filled when the query runs (it routes to one shard)', () => {
    const plan = planQuery(catalog, queryInput.parse({ dataset: 'orders', dimensions: ['region'], metrics: ['revenue'] }), TENANT_BOUND);
    const { sql, params } = new PgDialect().sqlToQuery(plan.query);
    expect(sql).toContain('FROM "public"."orders" WHERE "tenant_id" = $1::uuid GROUP BY 1');
    const tenant = '00000000-0000-4000-8000-000000000001';
    expect(fillPlaceholders(params, { [TENANT_PLACEHOLDER]: tenant })).toEqual([tenant, 1001, 0]);
  });
});
