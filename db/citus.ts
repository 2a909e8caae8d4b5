/**
 * Citus: whether the database is a Citus coordinator, and distributing the schema on one.
 *
 * Distribution (idempotent, run as the owner after migrations: `palisade citus distribute`):
 * platform tables become reference tables (a copy on every node), every tenant table is
 * distributed by `tenant_id`, all colocated, so one tenant's rows of every table live on one shard
 * group and a query naming the tenant is routed to one node. Tenant-to-tenant foreign keys
 * (orders → customers, sessions → users) block distribution once `tenants` is a reference table;
 * they are dropped and re-added around it, in the same transaction. The database also gets
 * `citus.propagate_set_commands = 'local'`, without which the tenant setting (SET LOCAL, in
 * set_tenant) never reaches the workers: their shards would see no tenant (fail closed, but
 * broken).
 */
import { getTableName } from 'drizzle-orm';
import type { Sql } from './client.js';
import { platformAdminKeys, platformAuditEvents, tenants } from './schema/index.js';
import { PINNED_POLICY, TENANT_TABLES } from './schema/tenancy.js';

export type Engine = 'postgres' | 'citus';

/** Small platform tables, read with every request: a copy on every node (reference tables). */
export const PLATFORM_TABLES = [tenants, platformAdminKeys, platformAuditEvents].map(getTableName);

const engines = new WeakMap<Sql, Engine>();

/** Records what `pool` talks to, for the code below the server that must act differently on Citus. */
export function useEngine(pool: Sql, engine: Engine): void {
  engines.set(pool, engine);
}

/** What `pool` talks to, as recorded by useEngine; plain Postgres unless told otherwise. */
export function engineOf(pool: Sql): Engine {
  return engines.get(pool) ?? 'postgres';
}

/** `citus` when the extension is installed in this database (a coordinator, or a worker). */
export async function detectEngine(sql: Sql): Promise<Engine> {
  const [row] = await sql<{ citus: boolean }[]>`select exists (select 1 from pg_extension where extname = 'citus') as citus`;
  return row?.citus ? 'citus' : 'postgres';
}

export class DistributionError extends Error {
  override readonly name = 'DistributionError';
}

export interface DistributionReport {
  referenceTables: string[];
  distributedTables: string[];
  /** Tables that were already as wanted (a second run changes nothing). */
  unchanged: string[];
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Makes `platformTables` reference tables and distributes `tenantTables` (parents first) by
 * `tenant_id`, colocated with the first. Refuses, naming the table and Citus's reason, when one
 * cannot be distributed; nothing is changed then (one transaction).
 */
export async function distribute(owner: Sql, tables: { platform: string[]; tenant: string[] }): Promise<DistributionReport> {
  if ((await detectEngine(owner)) !== 'citus') {
    throw new DistributionError('this database has no citus extension: run the command against a Citus coordinator (CREATE EXTENSION citus)');
  }
  const report: DistributionReport = { referenceTables: [], distributedTables: [], unchanged: [] };
  await owner.begin(async (tx) => {
    const [{ db } = { db: '' }] = await tx<{ db: string }[]>`select current_database() as db`;
    await tx.unsafe(`ALTER DATABASE ${quote(db)} SET citus.propagate_set_commands = 'local'`);
    // This session too: the rest of the transaction and the caller's next statements.
    await tx`select set_config('citus.propagate_set_commands', 'local', false)`;

    // Citus refuses triggers on distributed and reference tables: the change notifications'
    // (migration 0012) go. Instances on Citus hear other instances' changes through Redis, else
    // within the caches' TTL (README, Scaling out on Citus).
    for (const table of [...tables.platform, ...tables.tenant]) {
      const triggers = await tx<{ name: string }[]>`
        select tgname as name from pg_trigger
        where tgrelid = to_regclass(${table}) and not tgisinternal and tgname like 'palisade\_notify\_%'`;
      for (const { name } of triggers) await tx.unsafe(`DROP TRIGGER ${quote(name)} ON ${quote(table)}`);
    }

    // Per-tenant database roles are not available on Citus: Citus 13.2.2 writes a table's policies
    // to its shards without AS RESTRICTIVE (commands/policy.c, CreatePolicyCommandForPolicy), so
    // migration 0014's restrictive pinned_tenant would hold nobody there. Dropped rather than left
    // as a permissive policy that reads like a guarantee; the server refuses such roles on Citus.
    for (const table of tables.tenant) await tx.unsafe(`DROP POLICY IF EXISTS ${quote(PINNED_POLICY)} ON ${quote(table)}`);

    const done = new Map(
      (await tx<{ name: string; method: string }[]>`
        select logicalrelid::regclass::text as name, partmethod as method from pg_dist_partition`).map((r) => [r.name, r.method]),
    );
    for (const table of tables.platform) {
      if (done.get(table) === 'n') report.unchanged.push(table);
      else {
        await run(tx, table, `SELECT create_reference_table('${table}')`);
        report.referenceTables.push(table);
      }
    }

    const pending = tables.tenant.filter((t) => done.get(t) !== 'h');
    report.unchanged.push(...tables.tenant.filter((t) => done.get(t) === 'h'));
    if (pending.length === 0) return;
    // Foreign keys from one tenant table to another, dropped and put back around distribution.
    const keys = await tx<{ table: string; name: string; def: string }[]>`
      select conrelid::regclass::text as table, conname as name, pg_get_constraintdef(oid) as def
      from pg_constraint
      where contype = 'f' and conrelid::regclass::text = any(${tables.tenant}) and confrelid::regclass::text = any(${tables.tenant})`;
    for (const key of keys) await tx.unsafe(`ALTER TABLE ${quote(key.table)} DROP CONSTRAINT ${quote(key.name)}`);
    const anchor = tables.tenant[0]!;
    for (const table of pending) {
      const colocate = table === anchor ? `'default'` : `'${anchor}'`;
      await run(tx, table, `SELECT create_distributed_table('${table}', 'tenant_id', colocate_with => ${colocate})`);
      report.distributedTables.push(table);
    }
    for (const key of keys) await tx.unsafe(`ALTER TABLE ${quote(key.table)} ADD CONSTRAINT ${quote(key.name)} ${key.def}`);
  });
  return report;
}

/** `distribute` for this schema: PLATFORM_TABLES, and every tenantTable() in declaration order. */
export function distributeSchema(owner: Sql): Promise<DistributionReport> {
  return distribute(owner, { platform: PLATFORM_TABLES, tenant: TENANT_TABLES.map(getTableName) });
}

async function run(tx: Pick<Sql, 'unsafe'>, table: string, statement: string): Promise<void> {
  try {
    await tx.unsafe(statement);
  } catch (error) {
    throw new DistributionError(`cannot distribute table "${table}": ${(error as Error).message}`);
  }
}

/** How every tenant table is placed: its distribution column and colocation group (for the audit and tests). */
export async function distributionOf(sql: Sql): Promise<{ table: string; method: string; column: string | null; colocation: number }[]> {
  return sql.unsafe(`
    select logicalrelid::regclass::text as table, partmethod as method,
      case when partmethod = 'h' then column_to_column_name(logicalrelid, partkey) end as column,
      colocationid as colocation
    from pg_dist_partition order by 1`) as never;
}
