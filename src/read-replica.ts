/**
 * READ_DATABASE_URL at startup: the replica's pools, the checks that make the server refuse it, and
 * the router (db/replica-router.ts) that polls it and decides where each tenant read goes.
 */
import type { Sql } from '../db/client.js';
import { openPool } from '../db/client.js';
import { ReplicaRouter } from '../db/replica-router.js';
import { findAppRoleProblems } from '../db/roles.js';
import type { Config } from './config.js';
import type { Logger } from './lib/log.js';
import { replicaReadFailure } from './lib/pg-errors.js';

/** The poller's connections answer within a second whatever the servers do, as /readyz's does. */
const PROBE_TIMEOUT_MS = 1_000;

/** READ_DATABASE_URL's pools and router (db/replica-router.ts); `close` stops the poller and ends the pools. */
export interface OpenedReplica {
  router: ReplicaRouter;
  close(): Promise<void>;
}

/**
 * The read replica at `config.readDatabaseUrl`, checked and polled. Refuses to serve (throws) when
 * the server there is not in recovery, is not a replica of the primary's cluster, or its login could
 * bypass row-level security: the policies replicate, but only a role that cannot bypass them is
 * bound by them. A replica that does not answer is no reason to refuse: reads use the primary
 * until it answers, and the same checks run then (a failure makes it `refused`, never used).
 */
export async function openReplica(config: Config, primary: { url: string; pool: Sql }, { log }: { log: Logger }): Promise<OpenedReplica | undefined> {
  const url = config.readDatabaseUrl;
  if (!url) return undefined;
  const limits = { connectWaitMs: config.dbConnectWaitMs, connectTimeoutMs: config.dbConnectTimeoutMs };
  const replica = openPool(url, { max: config.poolMax, applicationName: 'palisade-replica', ...limits });
  const probeLimits = { connectWaitMs: PROBE_TIMEOUT_MS, connectTimeoutMs: PROBE_TIMEOUT_MS };
  const replicaProbe = openPool(url, { max: 1, applicationName: 'palisade-replica-poll', ...probeLimits });
  const primaryProbe = openPool(primary.url, { max: 1, applicationName: 'palisade-replica-poll', ...probeLimits });
  const router = new ReplicaRouter({
    replica,
    replicaProbe,
    primaryProbe,
    pollMs: config.readReplicaPollMs,
    maxLagMs: config.readReplicaMaxLagMs,
    isReplicaFailure: replicaReadFailure,
    verify: (sql) => replicaProblems(sql, primary.pool),
    log,
  });
  const close = async () => {
    await router.close();
    await Promise.all([replica.end({ timeout: 5 }), replicaProbe.end({ timeout: 1 }), primaryProbe.end({ timeout: 1 })]);
  };
  try {
    const { problems, unreachable } = await router.start();
    if (problems.length > 0) {
      throw new Error(
        `Refusing to serve: READ_DATABASE_URL is not a replica the server may read from.\n  - ${problems.join('\n  - ')}\n` +
          'Point it at the app role (NOSUPERUSER, NOBYPASSRLS) on a streaming replica of DATABASE_URL (see README, Read replica), or unset it.',
      );
    }
    if (unreachable) log('warn', 'read replica not reachable at startup: reads go to the primary until it answers', { error: String(unreachable) });
    return { router, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** What makes a READ_DATABASE_URL unfit to serve reads; empty when it is fit. */
async function replicaProblems(replica: Sql, primary: Sql): Promise<string[]> {
  // The system identifier is shared by a primary and every replica cloned from it; a role that may
  // not read it (some managed services) skips that comparison.
  const identity = (sql: Sql) => sql<{ recovery: boolean; system: string | null; database: string }[]>`
    select pg_is_in_recovery() as recovery, current_database() as database,
      case when has_function_privilege('pg_control_system()', 'execute') then (select system_identifier::text from pg_control_system()) end as system`;
  const [[theirs], [ours]] = await Promise.all([identity(replica), identity(primary)]);
  if (!theirs || !ours) return ['cannot read the replica’s identity'];
  const problems: string[] = [];
  if (!theirs.recovery) problems.push('the server is not in recovery (pg_is_in_recovery() is false): it is a primary, not a streaming replica');
  else if (theirs.system !== null && ours.system !== null && theirs.system !== ours.system) problems.push(`it replicates another cluster (system identifier ${theirs.system}, the primary’s is ${ours.system})`);
  if (theirs.database !== ours.database) problems.push(`it names database ${theirs.database}, the primary’s is ${ours.database}`);
  problems.push(...(await findAppRoleProblems(replica)).map((p) => `on the replica: ${p}`));
  return problems;
}
