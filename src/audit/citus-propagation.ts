/**
 * Whether the tenant set_tenant() sets reaches the workers. Citus sends SET LOCAL to the workers
 * inside a transaction block (with citus.propagate_set_commands = 'local', citus-checks.ts), but
 * never a set_config() call: a setter written that way passes every catalog rule and plain
 * Postgres, and on Citus leaves the shards on workers with no tenant. So it is observed: in a
 * transaction that is rolled back, set_tenant(x), then for each worker a single-shard query
 * routed there reads the setting where it runs.
 */
import { randomUUID } from 'node:crypto';
import type { Sql } from '../../db/client.js';
import { tenantIdsOnWorkers } from './citus-workers.js';
import type { Finding } from './findings.js';

export async function checkTenantSetterReachesWorkers(sql: Sql): Promise<Finding[]> {
  const [setter] = await sql`select 1 from pg_proc where oid = to_regprocedure('public.set_tenant(uuid)')`;
  if (!setter) return []; // tenant-setter-missing reports it
  const targets = await tenantIdsOnWorkers(sql, 1);
  if (targets.length === 0) return [];
  const tenant = randomUUID();
  const missed: string[] = [];
  const conn = await sql.reserve();
  try {
    await conn`begin`;
    await conn`select public.set_tenant(${tenant}::uuid)`;
    for (const target of targets) {
      // A router query runs its select list on the worker: the value seen is the worker's.
      const [row] = await conn.unsafe<{ v: string | null }[]>(
        `select current_setting('app.tenant_id', true) as v, count(*) from ${target.table} where tenant_id = $1`,
        [target.id],
      );
      if (row?.v !== tenant) missed.push(`${target.node} saw ${row?.v ? `'${row.v}'` : 'none'}`);
    }
  } catch (error) {
    missed.push(`the check failed: ${(error as Error).message}`);
  } finally {
    await conn`rollback`.catch(() => undefined);
    conn.release();
  }
  if (missed.length === 0) return [];
  return [{
    ruleId: 'citus-tenant-setter-not-propagated',
    severity: 'error',
    object: 'set_tenant(uuid)',
    problem: `the tenant it sets in a transaction does not reach the workers (${missed.join('; ')}): shards there see no tenant, so reads return nothing and writes fail`,
    fix: "make it SET LOCAL the setting (EXECUTE format('SET LOCAL app.tenant_id = %L', …), as migration 0010 does; Citus never propagates set_config): apply the migrations",
  }];
}
