import { detectEngine, PLATFORM_TABLES } from '../../db/citus.js';
import type { Sql } from '../../db/client.js';
import { runCitusChecks } from './citus-checks.js';
import { sortFindings, type Finding } from './findings.js';
import { checkPolicyDrift } from './policy-drift.js';
import { runProbes } from './probes.js';
import { runStaticRules } from './static-rules.js';

export interface AuditOptions {
  /** The role the server connects as. */
  appRole: string;
  /** Live probes (writes scratch rows inside a transaction that is rolled back). */
  probes?: boolean;
  /** Compare live policies with db/migrations. */
  drift?: boolean;
  /** On a Citus coordinator: the tables that must be reference tables; default PLATFORM_TABLES. */
  platformTables?: readonly string[];
}

/**
 * The whole audit against one database: the catalog rules of db/audit.sql, policy drift, and the
 * live probes; on a Citus coordinator also distribution and every shard's RLS (citus-checks.ts).
 * Connect as the owner (or a superuser): probes create scratch tenants and switch to the app role
 * inside a transaction that is always rolled back.
 */
export async function runAudit(sql: Sql, options: AuditOptions): Promise<Finding[]> {
  const findings = await runStaticRules(sql, options.appRole);
  if ((await detectEngine(sql)) === 'citus') {
    findings.push(...(await runCitusChecks(sql, { appRole: options.appRole, platformTables: options.platformTables ?? PLATFORM_TABLES })));
  }
  if (options.drift !== false) findings.push(...(await checkPolicyDrift(sql)));
  if (options.probes !== false) findings.push(...(await runProbes(sql, options.appRole)));
  return sortFindings(findings);
}
