/**
 * Plan checks: EXPLAIN ANALYZE as the app role inside a tenant transaction, so the policy supplies
 * the tenant predicate. Passing means the scan uses an index whose first column is tenant_id and
 * the predicate is an index condition: its setting is then computed once when the scan starts, not
 * once per row as a Filter would be.
 */
import { sql, type SQL } from 'drizzle-orm';
import { openPool } from '../../db/client.js';
import { withTenant } from '../../db/tenant-tx.js';

export interface PlanCheck {
  name: string;
  pass: boolean;
  /** e.g. `Index Scan using orders_pkey; Index Cond: …`. */
  detail: string;
  executionMs?: number;
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  Filter?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function* nodes(node: PlanNode): Generator<PlanNode> {
  yield node;
  for (const child of node.Plans ?? []) yield* nodes(child);
}

const TENANT_LEADING = /^orders_(pkey|tenant_id_)/;

/** Pure: judges one plan (the JSON EXPLAIN's top node). */
export function judgePlan(root: PlanNode): { pass: boolean; detail: string } {
  const all = [...nodes(root)];
  const indexed = all.find(
    (n) => n['Index Name'] !== undefined && TENANT_LEADING.test(n['Index Name']) && /tenant_id/.test(n['Index Cond'] ?? '') && /current_setting/.test(n['Index Cond'] ?? ''),
  );
  const perRow = all.find((n) => /current_setting/.test(n.Filter ?? ''));
  const seq = all.find((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'orders');
  const pass = indexed !== undefined && perRow === undefined && seq === undefined;
  const detail = indexed
    ? `${indexed['Node Type']} using ${indexed['Index Name']}; Index Cond: ${indexed['Index Cond']}${perRow ? `; per-row Filter: ${perRow.Filter}` : ''}`
    : seq
      ? `Seq Scan on orders; Filter: ${seq.Filter ?? '(none)'}`
      : `no tenant-leading index condition (${all.map((n) => n['Node Type']).join(' → ')})`;
  return { pass, detail };
}

async function explain(appUrl: string, tenantId: string, query: SQL): Promise<{ root: PlanNode; executionMs?: number }> {
  const pool = openPool(appUrl, { max: 1, applicationName: 'palisade-bench-plans' });
  try {
    const rows = (await withTenant(pool, tenantId, (tx) => tx.execute(sql`explain (analyze, buffers, format json) ${query}`))) as unknown as Record<string, unknown>[];
    const raw = Object.values(rows[0] ?? {})[0];
    const parsed = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PlanNode; 'Execution Time'?: number }[];
    return { root: parsed[0]!.Plan, executionMs: parsed[0]!['Execution Time'] };
  } finally {
    await pool.end();
  }
}

export async function checkPlans(
  appUrl: string,
  cases: { name: string; tenantId: string; query: SQL }[],
): Promise<PlanCheck[]> {
  const checks: PlanCheck[] = [];
  for (const c of cases) {
    const { root, executionMs } = await explain(appUrl, c.tenantId, c.query);
    checks.push({ name: c.name, ...judgePlan(root), executionMs: executionMs === undefined ? undefined : Math.round(executionMs * 1000) / 1000 });
  }
  return checks;
}
