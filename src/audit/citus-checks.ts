/**
 * The audit on a Citus coordinator, on top of the checks every engine gets: the tenant setting
 * reaches the workers, every tenant table is distributed by `tenant_id` in one colocation group,
 * platform tables are reference tables, and every shard placement carries the same RLS as the
 * coordinator's table (citus-shard-policies.ts). `palisade citus distribute` (db/citus.ts) makes a
 * migrated database pass; the findings say what to run when it does not.
 */
import type { Sql } from '../../db/client.js';
import type { Finding } from './findings.js';
import { checkTenantSetterReachesWorkers } from './citus-propagation.js';
import { checkShardPolicies } from './citus-shard-policies.js';

export interface CitusCheckOptions {
  appRole: string;
  /** Tables without tenant_id every node needs a copy of (scripts/cli/citus-commands.ts PLATFORM_TABLES). */
  platformTables: readonly string[];
}

const DISTRIBUTE = 'run `npm run palisade -- citus distribute` against the coordinator as the owner';

export async function runCitusChecks(sql: Sql, options: CitusCheckOptions): Promise<Finding[]> {
  const findings = await checkSetCommands(sql, options.appRole);
  const tables = await tenantTablePlacement(sql);
  findings.push(...checkDistribution(tables), ...(await checkPlatformTables(sql, options.platformTables)));
  findings.push(...(await checkShardPolicies(sql, tables.filter((t) => t.method === 'h').map((t) => t.name))));
  // Only meaningful once the setting is right: otherwise nothing reaches the workers, already reported.
  if (!findings.some((f) => f.ruleId === 'citus-set-commands-not-local')) findings.push(...(await checkTenantSetterReachesWorkers(sql)));
  return findings;
}

/**
 * citus.propagate_set_commands as the app role's sessions get it: its per-database and per-role
 * settings, the database's, else this session's starting value (the server's). Without `local`,
 * Citus sends no SET LOCAL to the workers, so set_tenant never reaches their shards.
 */
async function checkSetCommands(sql: Sql, appRole: string): Promise<Finding[]> {
  const [row] = await sql<{ value: string; source: string; db: string }[]>`
    with settings as (
      select s.setdatabase, s.setrole, substr(c, length('citus.propagate_set_commands=') + 1) as value
      from pg_db_role_setting s cross join unnest(s.setconfig) c
      where c like 'citus.propagate\\_set\\_commands=%'),
    db as (select oid from pg_database where datname = current_database()),
    app as (select oid from pg_roles where rolname = ${appRole}),
    candidates as (
      select 1 as rank, value, 'role in database' as source from settings, db, app where setdatabase = db.oid and setrole = app.oid
      union all select 2, value, 'role' from settings, app where setdatabase = 0 and setrole = app.oid
      union all select 3, value, 'database' from settings, db where setdatabase = db.oid and setrole = 0
      union all select 4, reset_val, 'server' from pg_settings where name = 'citus.propagate_set_commands')
    select value, source, current_database() as db from candidates order by rank limit 1`;
  if (!row || row.value === 'local') return [];
  const fix = row.source.startsWith('role')
    ? `ALTER ROLE ${appRole}${row.source === 'role in database' ? ` IN DATABASE "${row.db}"` : ''} RESET citus.propagate_set_commands; then restart the servers`
    : `${DISTRIBUTE} (it sets ALTER DATABASE "${row.db}" SET citus.propagate_set_commands = 'local'), then restart the servers`;
  return [{
    ruleId: 'citus-set-commands-not-local',
    severity: 'error',
    object: 'citus.propagate_set_commands',
    problem: `is '${row.value}' for ${appRole} (${row.source} setting), not 'local': set_tenant's SET LOCAL never reaches the workers, so their shards see no tenant (reads return nothing, writes fail)`,
    fix,
  }];
}

interface Placement {
  /** schema.table, as the other rules name it. */
  name: string;
  /** pg_dist_partition.partmethod (h hash, n none, a append, r range), null when Citus does not know the table. */
  method: string | null;
  /** pg_dist_partition.repmodel: t for a reference table. */
  repmodel: string | null;
  column: string | null;
  colocation: number | null;
}

/** Every tenant table (a tenant_id column, outside the system schemas, as db/audit.sql says) and how Citus places it. */
async function tenantTablePlacement(sql: Sql): Promise<Placement[]> {
  return sql<Placement[]>`
    select format('%I.%I', n.nspname, c.relname) as name, d.partmethod::text as method, d.repmodel::text as repmodel,
      case when d.partmethod = 'h' then column_to_column_name(d.logicalrelid, d.partkey) end as column,
      d.colocationid as colocation
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    left join pg_dist_partition d on d.logicalrelid = c.oid
    where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema', 'drizzle')
      and n.nspname not like 'pg\\_%' and not c.relispartition
      and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
    order by 1`;
}

function checkDistribution(tables: Placement[]): Finding[] {
  const findings: Finding[] = [];
  const fail = (object: string, problem: string, fix: string): Finding => ({ ruleId: 'citus-tenant-table-not-distributed', severity: 'error', object, problem, fix });
  const byTenant = tables.filter((t) => t.method === 'h' && t.column === 'tenant_id');
  for (const t of tables) {
    const redo = `SELECT undistribute_table('${t.name}'); then ${DISTRIBUTE}`;
    if (t.method === null) {
      findings.push(fail(t.name, 'not distributed: its rows stay on the coordinator, outside the tenant shard groups, and no query of it is routed by tenant', DISTRIBUTE));
    } else if (t.method === 'n') {
      findings.push(fail(t.name, t.repmodel === 't' ? 'a reference table: every node holds a copy of every tenant\'s rows' : 'a Citus local table: its rows stay on the coordinator', redo));
    } else if (t.method !== 'h' || t.column !== 'tenant_id') {
      findings.push(fail(t.name, `distributed by ${t.column ?? `method ${t.method}`}, not by tenant_id: one tenant's rows are spread over shards and queries naming the tenant are not routed`, redo));
    }
  }
  // The group most tenant tables are in is the one the others should join.
  const groups = new Map<number, string[]>();
  for (const t of byTenant) groups.set(t.colocation!, [...(groups.get(t.colocation!) ?? []), t.name]);
  const [main] = [...groups.values()].sort((a, b) => b.length - a.length || a[0]!.localeCompare(b[0]!));
  for (const t of byTenant.filter((t) => main && !main.includes(t.name))) {
    findings.push({
      ruleId: 'citus-tenant-tables-not-colocated',
      severity: 'error',
      object: t.name,
      problem: `in colocation group ${t.colocation}, not with ${main![0]} and the other tenant tables: one tenant's rows of the two live on different shards, and foreign keys and joins between them are refused`,
      fix: `SELECT update_distributed_table_colocation('${t.name}', colocate_with => '${main![0]}');`,
    });
  }
  return findings;
}

async function checkPlatformTables(sql: Sql, platformTables: readonly string[]): Promise<Finding[]> {
  if (platformTables.length === 0) return [];
  const rows = await sql<{ name: string; method: string | null; repmodel: string | null }[]>`
    select format('%I.%I', n.nspname, c.relname) as name, d.partmethod::text as method, d.repmodel::text as repmodel
    from unnest(${platformTables as string[]}::text[]) as p(table_name)
    join pg_class c on c.oid = to_regclass(format('public.%I', p.table_name))
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_dist_partition d on d.logicalrelid = c.oid
    order by 1`;
  return rows
    .filter((t) => !(t.method === 'n' && t.repmodel === 't'))
    .map((t) => ({
      ruleId: 'citus-platform-table-not-reference',
      severity: 'error',
      object: t.name,
      problem: `${t.method === null ? 'not known to Citus' : t.method === 'n' ? 'a Citus local table' : 'distributed'}, not a reference table: tenant tables cannot reference it from their shards, and every request that reads it crosses to ${t.method === 'h' ? 'its shards' : 'the coordinator'}`,
      fix: t.method === null ? DISTRIBUTE : `SELECT undistribute_table('${t.name}'); then ${DISTRIBUTE}`,
    }));
}
