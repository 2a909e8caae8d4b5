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
  /**
   * When the audited database is a read replica: a writable one of the same schema (the primary,
   * owner or superuser) where policy drift replays the migrations' policies. Without it, drift is
   * skipped on a replica (a warning says so).
   */
  scratch?: Sql;
}

/** A read replica (a hot standby) runs read-only transactions only: pg_is_in_recovery(). */
async function inRecovery(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ recovery: boolean }[]>`select pg_is_in_recovery() as recovery`;
  return row?.recovery ?? false;
}

function skipped(ruleId: string, problem: string, fix: string): Finding {
  return { ruleId, severity: 'warning', object: 'pg_is_in_recovery()', problem, fix };
}

/**
 * The whole audit against one database: the catalog rules of db/audit.sql, policy drift, and the
 * live probes; on a Citus coordinator also distribution and every shard's RLS (citus-checks.ts).
 * Connect as the owner (or a superuser): probes create scratch tenants and switch to the app role
 * inside a transaction that is always rolled back. On a read replica the catalog rules run, policy
 * drift runs against `scratch` (skipped without it), and the probes are skipped, each with a warning.
 */
export async function runAudit(sql: Sql, options: AuditOptions): Promise<Finding[]> {
  const findings = await runStaticRules(sql, options.appRole);
  if ((await detectEngine(sql)) === 'citus') {
    findings.push(...(await runCitusChecks(sql, { appRole: options.appRole, platformTables: options.platformTables ?? PLATFORM_TABLES })));
  }
  // On a replica the policies are the primary's (they replicate), and nothing can be written there.
  const replica = await inRecovery(sql);
  if (options.drift !== false) {
    if (!replica) findings.push(...(await checkPolicyDrift(sql)));
    else if (options.scratch) findings.push(...(await checkPolicyDrift(sql, undefined, options.scratch)));
    else {
      findings.push(
        skipped(
          'policy-drift-skipped',
          'this is a read replica: policy drift replays the migrations’ policies on temporary tables, which a replica cannot create',
          'pass the primary as well (`npm run audit -- --replica <url>` with DATABASE_URL the primary), or audit the primary',
        ),
      );
    }
  }
  if (options.probes !== false) {
    if (!replica) findings.push(...(await runProbes(sql, options.appRole)));
    else {
      findings.push(
        skipped(
          'probe-skipped',
          'this is a read replica (pg_is_in_recovery() is true): the probes write scratch rows in a transaction, and a replica accepts no writes',
          'run the audit against the primary for the probes; the replica enforces the same policies (they replicate)',
        ),
      );
    }
  }
  return sortFindings(findings);
}
