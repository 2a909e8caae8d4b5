/**
 * RLS on every shard placement. Citus copies a distributed table's RLS flags and policies to its
 * shards, but a shard altered on a worker (by hand, or by a tool connected to the worker) keeps
 * its own: the coordinator's catalog, which the other rules read, then says nothing about what
 * the queries actually run against. Each placement is read on its node and compared with the
 * coordinator's table.
 */
import type { Sql } from '../../db/client.js';
import { TENANT_POLICY } from '../../db/schema/tenancy.js';
import type { Finding } from './findings.js';

interface RlsState {
  rls: boolean;
  forced: boolean;
  policies: { name: string; permissive: boolean; cmd: string; roles: string[]; qual: string | null; check: string | null }[];
}

/** The RLS of relation `c` (pg_class) as JSON, null when there is no such relation. No `%` in it: it goes through format(). */
const RLS_STATE = `
  case when c.oid is not null then json_build_object(
    'rls', c.relrowsecurity, 'forced', c.relforcerowsecurity,
    'policies', coalesce((
      select json_agg(json_build_object(
        'name', p.polname, 'permissive', p.polpermissive, 'cmd', p.polcmd,
        'roles', array(select case when r = 0 then 'public' else pg_get_userbyid(r)::text end from unnest(p.polroles) r order by 1),
        'qual', pg_get_expr(p.polqual, p.polrelid), 'check', pg_get_expr(p.polwithcheck, p.polrelid)) order by p.polname)
      from pg_policy p where p.polrelid = c.oid), '[]'::json)) end`;

/** Run on each node: every named shard's RLS state, as one JSON object text keyed by shard name. */
const NODE_COMMAND = `select coalesce(json_object_agg(s.name, ${RLS_STATE}), '{}'::json)::text
  from unnest(%L::text[]) as s(name) left join pg_class c on c.oid = to_regclass(s.name)`;

interface Placement {
  table: string;
  shardid: string;
  shard: string;
  node: string;
}

type ShardRule = 'citus-shard-unreadable' | 'citus-shard-rls-disabled' | 'citus-shard-rls-not-forced' | 'citus-shard-policy-missing' | 'citus-shard-policy-drift';

/**
 * Every placement of each of `tables` (hash-distributed, schema.table) against its coordinator
 * table; one finding per table and rule. One command per node (not one connection per shard, as
 * run_command_on_placements opens), over Citus's own node connections.
 */
export async function checkShardPolicies(sql: Sql, tables: string[]): Promise<Finding[]> {
  if (tables.length === 0) return [];
  const own = new Map(
    (await sql.unsafe<{ name: string; state: RlsState }[]>(
      `select s.name, ${RLS_STATE} as state from unnest($1::text[]) as s(name) join pg_class c on c.oid = to_regclass(s.name)`,
      [tables],
    )).map((r) => [r.name, r.state]),
  );
  const placements = await sql<Placement[]>`
    select format('%I.%I', n.nspname, c.relname) as table, s.shardid::text as shardid,
      shard_name(s.logicalrelid, s.shardid) as shard, d.nodename || ':' || d.nodeport as node
    from pg_dist_shard s join pg_dist_placement p on p.shardid = s.shardid
    join pg_dist_node d on d.groupid = p.groupid and d.noderole = 'primary'
    join pg_class c on c.oid = s.logicalrelid join pg_namespace n on n.oid = c.relnamespace
    where s.logicalrelid = any(${tables}::regclass[])
    order by 1, s.shardid`;
  const answers = await sql<{ node: string; success: boolean; result: string }[]>`
    with nodes as (
      select d.nodename, d.nodeport, format(${NODE_COMMAND}, array_agg(shard_name(s.logicalrelid, s.shardid))) as command
      from pg_dist_shard s join pg_dist_placement p on p.shardid = s.shardid
      join pg_dist_node d on d.groupid = p.groupid and d.noderole = 'primary'
      where s.logicalrelid = any(${tables}::regclass[])
      group by d.nodename, d.nodeport)
    select r.node_name || ':' || r.node_port as node, r.success, r.result
    from (select array_agg(nodename) as names, array_agg(nodeport::int) as ports, array_agg(command) as commands from nodes) a
    cross join master_run_on_worker(a.names, a.ports, a.commands, true) r`;
  const byNode = new Map(answers.map((a) => [a.node, a]));

  const faults = new Map<string, { rule: ShardRule; table: string; where: string[]; detail: string }>();
  const note = (table: string, rule: ShardRule, where: string, detail = '') => {
    const key = `${table} ${rule}`;
    const fault = faults.get(key) ?? { rule, table, where: [], detail };
    fault.where.push(where);
    faults.set(key, fault);
  };
  for (const p of placements) {
    const where = `${p.shard} on ${p.node}`;
    const answer = byNode.get(p.node);
    if (!answer?.success) {
      note(p.table, 'citus-shard-unreadable', where, answer?.result ?? 'the node did not answer');
      continue;
    }
    const state = (JSON.parse(answer.result) as Record<string, RlsState | null>)[p.shard];
    if (!state) {
      note(p.table, 'citus-shard-unreadable', where, 'the shard table does not exist there');
      continue;
    }
    if (!state.rls) note(p.table, 'citus-shard-rls-disabled', where);
    else if (!state.forced) note(p.table, 'citus-shard-rls-not-forced', where);
    const expected = own.get(p.table);
    if (!state.policies.some((q) => q.name === TENANT_POLICY)) note(p.table, 'citus-shard-policy-missing', where);
    else if (expected && JSON.stringify(state.policies) !== JSON.stringify(expected.policies)) {
      note(p.table, 'citus-shard-policy-drift', where, describeDrift(expected, state));
    }
  }
  const total = (table: string) => placements.filter((p) => p.table === table).length;
  return [...faults.values()].map((f) => finding(f.table, f.rule, f.where, total(f.table), f.detail));
}

/** Which policies differ, and in what, as policy-drift.ts words it: `name: key=value` with the shard's values. */
function describeDrift(expected: RlsState, found: RlsState): string {
  const names = [...new Set([...expected.policies, ...found.policies].map((p) => p.name))].sort();
  const parts: string[] = [];
  for (const name of names) {
    const want = expected.policies.find((p) => p.name === name);
    const have = found.policies.find((p) => p.name === name);
    if (!have) parts.push(`${name} missing`);
    else if (!want) parts.push(`${name} not on the coordinator`);
    else {
      const changed = (Object.keys(want) as (keyof typeof want)[]).filter((k) => JSON.stringify(want[k]) !== JSON.stringify(have[k]));
      if (changed.length > 0) parts.push(`${name}: ${changed.map((k) => `${k}=${JSON.stringify(have[k])}`).join(', ')}`);
    }
  }
  return parts.join('; ');
}

function finding(table: string, rule: ShardRule, where: string[], total: number, detail: string): Finding {
  const on = `on ${where.length} of ${total} shard placements (${where.slice(0, 3).join(', ')}${where.length > 3 ? ', …' : ''})`;
  const reapply = (statement: string) => `${statement} on the coordinator: Citus applies it to every shard again`;
  const text: Record<ShardRule, [string, string]> = {
    'citus-shard-unreadable': [`could not be inspected ${on}: ${detail}`, 'check the workers are up and that this role can connect to them from the coordinator (SELECT * FROM citus_check_cluster_node_health())'],
    'citus-shard-rls-disabled': [`row-level security is disabled ${on}: queries there see every tenant's rows`, reapply(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;`)],
    'citus-shard-rls-not-forced': [`RLS is not forced ${on}: the table owner, and what Citus runs as the owner there, skip every policy`, reapply(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY;`)],
    'citus-shard-policy-missing': [`the ${TENANT_POLICY} policy is missing ${on}: with RLS on, nothing there is visible or writable; with RLS off, everything is`, `drop and re-create the ${TENANT_POLICY} policy as db/migrations define it, on the coordinator: Citus re-creates it on every shard`],
    'citus-shard-policy-drift': [`the policies differ from the coordinator's ${on}: ${detail}`, `drop and re-create the policies as db/migrations define them, on the coordinator: Citus re-creates them on every shard`],
  };
  const [problem, fix] = text[rule];
  return { ruleId: rule, severity: 'error', object: table, problem, fix };
}
