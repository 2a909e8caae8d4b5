/**
 * Drift: the live policies against the ones db/migrations defines. The migrations' CREATE/ALTER/
 * DROP POLICY statements are replayed onto empty temporary copies of each table, inside a
 * transaction that is rolled back, so Postgres itself normalises both sides the same way.
 */
import fs from 'node:fs';
import path from 'node:path';
import type postgres from 'postgres';
import type { Sql } from '../../db/client.js';
import { detectEngine } from '../../db/citus.js';
import { MIGRATIONS_FOLDER } from '../../db/migrate.js';
import { PINNED_POLICY } from '../../db/schema/tenancy.js';
import type { Finding } from './findings.js';

interface Journal {
  entries: { idx: number; tag: string }[];
}

const POLICY_STATEMENT = /^\s*(CREATE|ALTER|DROP)\s+POLICY\s+(?:IF\s+EXISTS\s+)?"?([\w$]+)"?\s+ON\s+(?:"?public"?\.)?"?([\w$]+)"?/i;

/** Policy statements per table, in migration order. */
export function migrationPolicyStatements(folder = MIGRATIONS_FOLDER): Map<string, string[]> {
  const journal = JSON.parse(fs.readFileSync(path.join(folder, 'meta', '_journal.json'), 'utf8')) as Journal;
  const byTable = new Map<string, string[]>();
  for (const entry of [...journal.entries].sort((a, b) => a.idx - b.idx)) {
    const text = fs.readFileSync(path.join(folder, `${entry.tag}.sql`), 'utf8');
    for (const statement of text.split('--> statement-breakpoint')) {
      const match = POLICY_STATEMENT.exec(statement.replace(/^\s*--.*$/gm, ''));
      if (!match?.[3]) continue;
      const table = match[3];
      byTable.set(table, [...(byTable.get(table) ?? []), statement.trim().replace(/;\s*$/, '')]);
    }
  }
  return byTable;
}

interface PolicyShape {
  name: string;
  permissive: string;
  roles: string[];
  cmd: string;
  qual: string | null;
  with_check: string | null;
}

async function policiesOf(sql: Sql | postgres.ReservedSql, relation: string): Promise<PolicyShape[]> {
  // pg_policy, not the pg_policies view: a regclass filter on the view is evaluated against
  // every relation, including pg_toast ones the owner may not look up.
  const rows = await sql<PolicyShape[]>`
    select p.polname as name, case when p.polpermissive then 'PERMISSIVE' else 'RESTRICTIVE' end as permissive,
      array(select case when r = 0 then 'public' else pg_get_userbyid(r)::text end from unnest(p.polroles) r order by 1) as roles,
      p.polcmd::text as cmd, pg_get_expr(p.polqual, p.polrelid) as qual, pg_get_expr(p.polwithcheck, p.polrelid) as with_check
    from pg_policy p where p.polrelid = ${relation}::regclass order by p.polname`;
  return rows.map((r) => ({ ...r }));
}

/**
 * `scratch`: where the migrations' policies are replayed, when `sql` cannot create temporary tables
 * (a read replica): a writable database of the same schema, the primary. The live side is `sql`'s.
 */
export async function checkPolicyDrift(sql: Sql, folder = MIGRATIONS_FOLDER, scratch: Sql = sql): Promise<Finding[]> {
  const statements = migrationPolicyStatements(folder);
  const findings: Finding[] = [];
  const citus = (await detectEngine(sql)) === 'citus';
  const reserved = await scratch.reserve();
  try {
    await reserved`begin`;
    for (const [table, list] of statements) {
      const [exists] = await reserved`select 1 from pg_class where oid = to_regclass(${`public.${table}`})`;
      if (!exists) {
        findings.push({
          ruleId: 'policy-drift',
          severity: 'error',
          object: `public.${table}`,
          problem: 'the migrations define policies on this table, but the table does not exist',
          fix: 'apply the migrations (npx drizzle-kit migrate)',
        });
        continue;
      }
      const copy = `palisade_audit_${table}`;
      await reserved.unsafe(`create temporary table "${copy}" (like public."${table}")`);
      for (const statement of list) {
        await reserved.unsafe(statement.replace(/\s+ON\s+(?:"?public"?\.)?"?[\w$]+"?/i, ` ON pg_temp."${copy}"`));
      }
      // On Citus `palisade citus distribute` drops the per-tenant roles' policy (db/citus.ts distribute).
      const expected = (await policiesOf(reserved, `pg_temp."${copy}"`)).filter((p) => !(citus && p.name === PINNED_POLICY));
      const live = await policiesOf(scratch === sql ? reserved : sql, `public."${table}"`);
      findings.push(...comparePolicies(table, expected, live));
    }
  } finally {
    await reserved`rollback`.catch(() => undefined);
    reserved.release();
  }
  return findings;
}

function comparePolicies(table: string, expected: PolicyShape[], live: PolicyShape[]): Finding[] {
  const findings: Finding[] = [];
  const object = (name: string) => `${name} on public.${table}`;
  const fix = 'restore it from the migrations (drop and re-create the policy as db/migrations define it)';
  for (const want of expected) {
    const have = live.find((p) => p.name === want.name);
    if (!have) {
      findings.push({ ruleId: 'policy-drift', severity: 'error', object: object(want.name), problem: 'defined by the migrations but missing from the database', fix });
    } else if (JSON.stringify(have) !== JSON.stringify(want)) {
      const changed = (Object.keys(want) as (keyof PolicyShape)[]).filter((k) => JSON.stringify(want[k]) !== JSON.stringify(have[k]));
      findings.push({
        ruleId: 'policy-drift',
        severity: 'error',
        object: object(want.name),
        problem: `differs from the migrations in ${changed.join(', ')}: live ${changed.map((k) => `${k}=${JSON.stringify(have[k])}`).join(', ')}`,
        fix,
      });
    }
  }
  for (const extra of live.filter((p) => !expected.some((e) => e.name === p.name))) {
    findings.push({
      ruleId: 'policy-drift',
      severity: 'error',
      object: object(extra.name),
      problem: 'present in the database but not defined by any migration',
      fix: `DROP POLICY "${extra.name}" ON public."${table}"; or add it to a migration`,
    });
  }
  return findings;
}
