/**
 * The catalog checked against the live database before the server accepts a query. Fails closed:
 * a dataset is only served if its table is a tenant table whose rows Postgres itself filters by
 * tenant for every role that can read it, so a catalog mistake cannot expose one tenant's rows to another.
 */
import { sql } from 'drizzle-orm';
import { drizzleOver, type Sql } from '../../../db/client.js';
import { TENANT_POLICY, TENANT_SETTING } from '../../../db/schema/tenancy.js';
import { pgError } from '../../lib/pg-errors.js';
import type { Catalog, Dataset } from './catalog.js';
import { planQuery } from './query-sql.js';

/** The predicate tenantTable() generates, as pg_get_expr prints it. */
const TENANT_PREDICATE = `(tenant_id = (NULLIF(current_setting('${TENANT_SETTING}'::text, true), ''::text))::uuid)`;

interface TableFacts {
  oid: string;
  relkind: string;
  rls: boolean;
  forced: boolean;
  columns: { name: string; canSelect: boolean }[];
  policies: { name: string; permissive: boolean; command: string; using: string | null; check: string | null }[];
}

async function tableFacts(pool: Sql, table: string): Promise<TableFacts | undefined> {
  const [row] = await pool<{ oid: string; relkind: string; rls: boolean; forced: boolean }[]>`
    select c.oid::text as oid, c.relkind::text as relkind, c.relrowsecurity as rls, c.relforcerowsecurity as forced
    from pg_catalog.pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relname = ${table}`;
  if (!row) return undefined;
  const columns = await pool<{ name: string; can_select: boolean }[]>`
    select a.attname::text as name, has_column_privilege(current_user, a.attrelid, a.attnum, 'SELECT') as can_select
    from pg_catalog.pg_attribute a
    where a.attrelid = ${row.oid}::oid and a.attnum > 0 and not a.attisdropped`;
  const policies = await pool<{ name: string; permissive: boolean; command: string; using: string | null; check: string | null }[]>`
    select p.polname::text as name, p.polpermissive as permissive, p.polcmd::text as command,
      pg_catalog.pg_get_expr(p.polqual, p.polrelid) as using, pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) as check
    from pg_catalog.pg_policy p where p.polrelid = ${row.oid}::oid`;
  return {
    oid: row.oid,
    relkind: row.relkind,
    rls: row.rls,
    forced: row.forced,
    columns: columns.map((c) => ({ name: c.name, canSelect: c.can_select })),
    policies,
  };
}

function tableProblems(dataset: Dataset, facts: TableFacts | undefined): string[] {
  if (!facts) return ['does not exist in schema public; analytics only reads tenant tables'];
  if (facts.relkind !== 'r' && facts.relkind !== 'p') {
    return ['is not a table (views and other relations are refused: they can bypass the tables\' row-level security)'];
  }
  const problems: string[] = [];
  if (!facts.columns.some((c) => c.name === 'tenant_id')) problems.push('has no tenant_id column, so it is not a tenant table');
  if (!facts.rls) problems.push('does not have ROW LEVEL SECURITY enabled; analytics only reads tables whose rows Postgres filters by tenant');
  if (!facts.forced) {
    problems.push('does not have FORCE ROW LEVEL SECURITY; analytics only reads tenant tables whose policies bind their owner too');
  }
  const policy = facts.policies.find((p) => p.name === TENANT_POLICY);
  if (!policy) {
    problems.push(`has no "${TENANT_POLICY}" policy; declare it with tenantTable() (db/schema/tenancy.ts)`);
  } else if (!policy.permissive || policy.command !== '*' || policy.using !== TENANT_PREDICATE || policy.check !== TENANT_PREDICATE) {
    problems.push(`its "${TENANT_POLICY}" policy is not the one tenantTable() generates (for all commands, keyed on ${TENANT_SETTING})`);
  }
  // Permissive policies are OR-ed: any other one could widen what a tenant sees.
  const others = facts.policies.filter((p) => p.permissive && p.name !== TENANT_POLICY).map((p) => `"${p.name}"`);
  if (others.length > 0) problems.push(`has other permissive policies (${others.join(', ')}) that could widen what a tenant sees`);
  const missing = dataset.columns.filter((c) => !facts.columns.some((x) => x.name === c));
  if (missing.length > 0) problems.push(`has no column${missing.length === 1 ? '' : 's'} ${missing.map((c) => `"${c}"`).join(', ')} (used by the dataset's dimensions or metrics)`);
  // has_column_privilege is true for table-level grants too; tenant_id is read by the engine's WHERE.
  const unreadable = ['tenant_id', ...dataset.columns].filter((c) => facts.columns.find((x) => x.name === c)?.canSelect === false);
  if (unreadable.length > 0) {
    problems.push(`cannot be read by the server's database role (no SELECT privilege on ${unreadable.map((c) => `"${c}"`).join(', ')})`);
  }
  return problems;
}

/**
 * Every reason the catalog must not be served, one line each, naming dataset, file, table and why;
 * empty when all is well. Run with the server's (app role's) pool: privileges are checked for that role.
 * When a dataset's table passes, one EXPLAIN of a query using every dimension and metric checks that
 * the expressions type-check against the real columns (no rows are read).
 */
export async function findCatalogProblems(pool: Sql, catalog: Catalog): Promise<string[]> {
  const problems: string[] = [];
  for (const dataset of catalog.datasets) {
    const where = `dataset "${dataset.name}" (${catalog.file}): table "public.${dataset.table}"`;
    const found = tableProblems(dataset, await tableFacts(pool, dataset.table));
    problems.push(...found.map((p) => `${where} ${p}`));
    if (found.length > 0) continue;
    const plan = planQuery(catalog, {
      dataset: dataset.name,
      dimensions: dataset.dimensions.map((d) => d.name),
      metrics: dataset.metrics.map((m) => m.name),
      filters: [],
      orderBy: [],
      limit: 1,
      offset: 0,
    });
    try {
      await drizzleOver(pool).execute(sql`EXPLAIN ${plan.query}`);
    } catch (error) {
      problems.push(`${where} does not fit the dataset's dimensions and metrics: ${pgError(error)?.message ?? (error as Error).message}`);
    }
  }
  return problems;
}
