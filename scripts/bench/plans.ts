/**
 * Plan checks: EXPLAIN ANALYZE as the app role inside a tenant transaction, so the policy's
 * predicate is in force next to any the statement carries.
 *
 * Plain Postgres: passing means the scan uses an index whose first column is tenant_id with the
 * tenant in the index condition, and the setting is nowhere a per-row Filter (computed once when
 * the scan starts, not once per row). Citus: what counts is `Task Count`, the shards the statement
 * ran on. The explicit form must run on one; the RLS-only form is shown for comparison (the
 * policy's predicate never prunes shards, so it fans out to all of them).
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Engine } from '../../db/citus.js';
import { openPool } from '../../db/client.js';
import { withTenant } from '../../db/tenant-tx.js';
import type { QueryForm } from './variants.js';

export interface PlanCheck {
  name: string;
  /** What passing means; none: shown for comparison only, not a target. */
  goal?: string;
  pass: boolean;
  /** e.g. `Index Scan using orders_pkey; Index Cond: …`, or on Citus `Task Count 1; on the shard: …`. */
  detail: string;
  executionMs?: number;
  /** Citus: the shards the statement ran on. */
  taskCount?: number;
}

export interface PlanCase {
  name: string;
  tenantId: string;
  form: QueryForm;
  query: SQL;
}

export interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  Filter?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
  /** Citus's Custom Scan: the job it ran and one task's plan on a shard. */
  'Distributed Query'?: { Job?: { 'Task Count'?: number; Tasks?: { 'Remote Plan'?: unknown }[] } };
}

function* nodes(node: PlanNode): Generator<PlanNode> {
  yield node;
  for (const child of node.Plans ?? []) yield* nodes(child);
}

/** orders_pkey and orders_tenant_id_…, also as Citus names them on a shard (`orders_pkey_102008`). */
const TENANT_LEADING = /^orders_(pkey|tenant_id_)/;

export const POSTGRES_PLAN_GOAL = 'tenant-leading index, predicate in Index Cond';
export const CITUS_PLAN_GOAL = 'Task Count: 1 (one shard)';

/** Pure: judges one plain-Postgres plan (the JSON EXPLAIN's top node), or a Citus shard's plan. */
export function judgePlan(root: PlanNode): { pass: boolean; detail: string } {
  const all = [...nodes(root)];
  const indexed = all.find((n) => n['Index Name'] !== undefined && TENANT_LEADING.test(n['Index Name']) && /tenant_id/.test(n['Index Cond'] ?? ''));
  const perRow = all.find((n) => /current_setting/.test(n.Filter ?? ''));
  const seq = all.find((n) => n['Node Type'] === 'Seq Scan' && /^orders(_\d+)?$/.test(n['Relation Name'] ?? ''));
  const pass = indexed !== undefined && perRow === undefined && seq === undefined;
  const detail = indexed
    ? `${indexed['Node Type']} using ${indexed['Index Name']}; Index Cond: ${indexed['Index Cond']}${perRow ? `; per-row Filter: ${perRow.Filter}` : ''}`
    : seq
      ? `Seq Scan on orders; Filter: ${seq.Filter ?? '(none)'}`
      : `no tenant-leading index condition (${all.map((n) => n['Node Type']).join(' → ')})`;
  return { pass, detail };
}

/**
 * Pure: a Citus plan's `Task Count` and, from the one task EXPLAIN shows, how the shard ran it.
 * `pass` is whether it ran on one shard.
 */
export function judgeCitusPlan(root: PlanNode): { pass: boolean; detail: string; taskCount?: number } {
  const scan = [...nodes(root)].find((n) => n['Distributed Query'] !== undefined);
  const job = scan?.['Distributed Query']?.Job;
  const taskCount = job?.['Task Count'];
  if (taskCount === undefined) return { pass: false, detail: `no Citus distributed scan (${[...nodes(root)].map((n) => n['Node Type']).join(' → ')})` };
  // `Remote Plan` is the shard's EXPLAIN output: [[{ Plan }]].
  const remote = (job?.Tasks?.[0]?.['Remote Plan'] as { Plan?: PlanNode }[][] | undefined)?.[0]?.[0]?.Plan;
  const shard = remote ? `; on the shard: ${judgePlan(remote).detail}` : '';
  return { pass: taskCount === 1, detail: `Task Count ${taskCount}${shard}`, taskCount };
}

async function explain(appUrl: string, tenantId: string, query: SQL): Promise<{ root: PlanNode; executionMs?: number }> {
  const pool = openPool(appUrl, { max: 1, applicationName: 'palisade-bench-plans' });
  try {
    // withTenant is an explicit transaction block: on Citus the tenant setting reaches the workers.
    const rows = (await withTenant(pool, tenantId, (tx) => tx.execute(sql`explain (analyze, buffers, format json) ${query}`))) as unknown as Record<string, unknown>[];
    const raw = Object.values(rows[0] ?? {})[0];
    const parsed = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PlanNode; 'Execution Time'?: number }[];
    return { root: parsed[0]!.Plan, executionMs: parsed[0]!['Execution Time'] };
  } finally {
    await pool.end();
  }
}

export async function checkPlans(appUrl: string, cases: PlanCase[], engine: Engine): Promise<PlanCheck[]> {
  const checks: PlanCheck[] = [];
  for (const c of cases) {
    const { root, executionMs } = await explain(appUrl, c.tenantId, c.query);
    const ms = executionMs === undefined ? undefined : Math.round(executionMs * 1000) / 1000;
    if (engine === 'citus') {
      const judged = judgeCitusPlan(root);
      // The RLS-only form fans out by design: its Task Count is the comparison, not a target.
      checks.push({ name: c.name, goal: c.form === 'explicit' ? CITUS_PLAN_GOAL : undefined, ...judged, executionMs: ms });
    } else {
      checks.push({ name: c.name, goal: POSTGRES_PLAN_GOAL, ...judgePlan(root), executionMs: ms });
    }
  }
  return checks;
}
