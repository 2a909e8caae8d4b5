/**
 * The startup guard fails closed: a dataset over a table that is not an RLS-forced tenant table is
 * reported with the dataset, the table and why. Tables are created by the superuser, as a careless
 * migration might; the guard runs as the app role, like the server.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../db/client.js';
import { APP_ROLE } from '../db/roles.js';
import { findCatalogProblems } from '../src/modules/analytics/catalog-guard.js';
import { loadCatalog, parseCatalog } from '../src/modules/analytics/catalog.js';
import { appPool, pg } from './harness.js';

const suffix = randomBytes(4).toString('hex');
const t = (name: string) => `guard_${name}_${suffix}`;
const POLICY = `create policy tenant_isolation on %s for all using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid) with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`;

let superuser: Sql;
let app: Sql;

beforeAll(async () => {
  superuser = openPool(pg.superuserUrl, { max: 1 });
  app = appPool(1);
  const table = (name: string) => `create table ${t(name)} (tenant_id uuid not null, id uuid not null, amount numeric)`;
  const statements = [
    table('open'),
    table('unforced'),
    `alter table ${t('unforced')} enable row level security`,
    POLICY.replace('%s', t('unforced')),
    `create table ${t('shared')} (id uuid, amount numeric)`,
    table('wide'),
    `alter table ${t('wide')} enable row level security`,
    `alter table ${t('wide')} force row level security`,
    POLICY.replace('%s', t('wide')),
    `create policy everyone on ${t('wide')} for select using (true)`,
    table('secret'),
    `alter table ${t('secret')} enable row level security`,
    `alter table ${t('secret')} force row level security`,
    POLICY.replace('%s', t('secret')),
    `create view ${t('view')} as select * from orders`,
  ];
  for (const statement of statements) await superuser.unsafe(statement);
  for (const name of ['open', 'unforced', 'shared', 'wide', 'view']) await superuser.unsafe(`grant select on ${t(name)} to ${APP_ROLE}`);
});
afterAll(async () => {
  await superuser.unsafe(`drop view if exists ${t('view')}`);
  for (const name of ['open', 'unforced', 'shared', 'wide', 'secret']) await superuser.unsafe(`drop table if exists ${t(name)}`);
  await Promise.all([superuser.end(), app.end()]);
});

function catalogOver(datasets: { name: string; table: string; extra?: string }[]) {
  const text = `datasets:\n${datasets
    .map(
      (d) =>
        `  - name: ${d.name}\n    table: ${d.table}\n    description: Test.\n    metrics:\n      - { name: total, aggregation: sum, column: amount }\n${d.extra ?? ''}`,
    )
    .join('')}`;
  return parseCatalog(text, 'catalog.yaml');
}

describe('findCatalogProblems', () => {
  it('finds nothing wrong with the shipped catalog.yaml', async () => {
    const catalog = loadCatalog(path.resolve(import.meta.dirname, '../catalog.yaml'));
    expect(await findCatalogProblems(app, catalog)).toEqual([]);
  });

  it('refuses a table without row-level security', async () => {
    const problems = await findCatalogProblems(app, catalogOver([{ name: 'audit', table: t('open') }]));
    expect(problems).toEqual([
      `dataset "audit" (catalog.yaml): table "public.${t('open')}" does not have ROW LEVEL SECURITY enabled; analytics only reads tables whose rows Postgres filters by tenant`,
      `dataset "audit" (catalog.yaml): table "public.${t('open')}" does not have FORCE ROW LEVEL SECURITY; analytics only reads tenant tables whose policies bind their owner too`,
      `dataset "audit" (catalog.yaml): table "public.${t('open')}" has no "tenant_isolation" policy; declare it with tenantTable() (db/schema/tenancy.ts)`,
    ]);
  });

  it('refuses a table whose RLS is not forced', async () => {
    expect(await findCatalogProblems(app, catalogOver([{ name: 'audit', table: t('unforced') }]))).toEqual([
      `dataset "audit" (catalog.yaml): table "public.${t('unforced')}" does not have FORCE ROW LEVEL SECURITY; analytics only reads tenant tables whose policies bind their owner too`,
    ]);
  });

  it('refuses a missing table, a view, a table without tenant_id, a widening policy, and an unreadable table', async () => {
    const problems = await findCatalogProblems(
      app,
      catalogOver([
        { name: 'ghost', table: t('missing') },
        { name: 'viewed', table: t('view') },
        { name: 'shared', table: t('shared') },
        { name: 'wide', table: t('wide') },
        { name: 'secret', table: t('secret') },
      ]),
    );
    expect(problems).toEqual([
      `dataset "ghost" (catalog.yaml): table "public.${t('missing')}" does not exist in schema public; analytics only reads tenant tables`,
      `dataset "viewed" (catalog.yaml): table "public.${t('view')}" is not a table (views and other relations are refused: they can bypass the tables' row-level security)`,
      expect.stringContaining(`dataset "shared" (catalog.yaml): table "public.${t('shared')}" has no tenant_id column, so it is not a tenant table`),
      expect.stringContaining(`dataset "shared"`),
      expect.stringContaining(`dataset "shared"`),
      expect.stringContaining(`dataset "shared"`),
      `dataset "wide" (catalog.yaml): table "public.${t('wide')}" has other permissive policies ("everyone") that could widen what a tenant sees`,
      `dataset "secret" (catalog.yaml): table "public.${t('secret')}" cannot be read by the server's database role (no SELECT privilege on "tenant_id", "amount")`,
    ]);
  });

  it('reports columns that do not exist and expressions that do not type-check', async () => {
    const problems = await findCatalogProblems(
      app,
      catalogOver([
        { name: 'typo', table: 'orders', extra: '    dimensions:\n      - { name: zone, column: zone, type: string }\n' },
        { name: 'mistyped', table: 'orders', extra: `    dimensions:\n      - { name: lowered, expression: "lower(amount) || 1 = true", type: string }\n` },
      ]),
    );
    expect(problems).toEqual([
      `dataset "typo" (catalog.yaml): table "public.orders" has no column "zone" (used by the dataset's dimensions or metrics)`,
      expect.stringMatching(/^dataset "mistyped" \(catalog\.yaml\): table "public\.orders" does not fit the dataset's dimensions and metrics: function lower\(numeric\) does not exist$/),
    ]);
  });
});
