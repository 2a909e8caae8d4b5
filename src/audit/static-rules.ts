/**
 * The catalog rules. They live in db/audit.sql so DBAs can run them with psql alone; here the
 * same file is run as one parameterised query, so both paths always report the same findings.
 */
import fs from 'node:fs';
import type { Sql } from '../../db/client.js';
import { fromPackageRoot } from '../../db/package-root.js';
import type { Finding } from './findings.js';

export const AUDIT_SQL = fromPackageRoot('db', 'audit.sql');

/** db/audit.sql without its psql meta-commands, with `:'app_role'` as bind parameter $1. */
export function staticRulesQuery(): string {
  return fs
    .readFileSync(AUDIT_SQL, 'utf8')
    .split('\n')
    .filter((line) => !line.startsWith('\\'))
    .join('\n')
    .replaceAll(":'app_role'", '$1::text')
    .trim()
    .replace(/;$/, '');
}

export async function runStaticRules(sql: Sql, appRole: string): Promise<Finding[]> {
  const rows = await sql.unsafe<{ rule_id: string; severity: 'error' | 'warning'; object: string; problem: string; fix: string }[]>(
    staticRulesQuery(),
    [appRole],
  );
  return rows.map((r) => ({ ruleId: r.rule_id, severity: r.severity, object: r.object, problem: r.problem, fix: r.fix }));
}
