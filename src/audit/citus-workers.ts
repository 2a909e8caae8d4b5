/**
 * Tenant ids whose shards sit on Citus workers: what the checks and probes use to reach every
 * worker, since a statement naming a tenant runs where that tenant's shard is.
 */
import type postgres from 'postgres';
import type { Sql } from '../../db/client.js';

export interface WorkerTenant {
  id: string;
  /** host:port of the worker holding the shard. */
  node: string;
  /** The hash-distributed tenant table the placement was looked up in. */
  table: string;
}

/**
 * Up to `perWorker` random tenant ids for each worker holding shards of a tenant table, ordered
 * so the first ones are on different workers. Empty when nothing is distributed by a uuid
 * `tenant_id` or every shard is on the coordinator. Random candidates, 256 of them: each worker
 * holding a share of the hash range gets hit unless its share is tiny (an isolated tenant).
 */
export async function tenantIdsOnWorkers(sql: Sql | postgres.ReservedSql, perWorker: number): Promise<WorkerTenant[]> {
  return sql<WorkerTenant[]>`
    with anchor as (
      select logicalrelid as rel from pg_dist_partition
      where partmethod = 'h' and column_to_column_name(logicalrelid, partkey) = 'tenant_id'
        and (select atttypid from pg_attribute where attrelid = logicalrelid and attname = 'tenant_id') = 'uuid'::regtype
      order by logicalrelid limit 1),
    candidates as (
      select c.id, a.rel, p.groupid, row_number() over (partition by p.groupid order by c.id) as nth
      from (select gen_random_uuid() as id from generate_series(1, 256)) c cross join anchor a
      join pg_dist_placement p on p.shardid = get_shard_id_for_distribution_column(a.rel, c.id)
      where p.groupid <> 0)
    select c.id::text as id, n.nodename || ':' || n.nodeport as node, c.rel::regclass::text as table
    from candidates c join pg_dist_node n on n.groupid = c.groupid and n.noderole = 'primary'
    where c.nth <= ${perWorker}
    order by c.nth, c.groupid`;
}
