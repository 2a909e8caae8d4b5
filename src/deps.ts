/**
 * The composition root: every long-lived part of a server, built from the parsed config (config.ts,
 * where every default lives), with `start` (the batched writers' timers) and `stop` (flush, close,
 * in the order a graceful shutdown needs). index.ts opens the database connections and calls
 * `openDeps`; tests and the bench call `buildDeps` on pools of their own, replacing parts in
 * `overrides`. Nothing else constructs these parts, so nothing is built and then never flushed.
 */
import { randomBytes } from 'node:crypto';
import { detectEngine, useEngine, type Engine } from '../db/citus.js';
import type { Sql } from '../db/client.js';
import { openPool } from '../db/client.js';
import type { ReplicaRouter } from '../db/replica-router.js';
import { findAppRoleProblems, rolePinning } from '../db/roles.js';
import { TenantReader } from '../db/tenant-read.js';
import type { ServedTenant } from './access/authenticate.js';
import type { AppDeps } from './app.js';
import { ConfigError, type Config } from './config.js';
import { DatabaseHealth } from './http/database-health.js';
import { systemClock, type Clock } from './lib/clock.js';
import { silentLogger, type Logger } from './lib/log.js';
import type { Catalog } from './modules/analytics/catalog.js';
import { loadCatalog } from './modules/analytics/catalog.js';
import { findCatalogProblems } from './modules/analytics/catalog-guard.js';
import { AuditBuffer } from './modules/audit-log/audit-buffer.js';
import { CredentialCache } from './modules/credentials/credential-cache.js';
import { LastUsedRecorder } from './modules/credentials/last-used.js';
import { createLoginThrottle } from './modules/sessions/login-throttle.js';
import { AlertMonitor } from './modules/usage/alerts.js';
import { UsageRecorder } from './modules/usage/usage.js';
import { TenantBulkhead } from './platform/bulkhead/tenant-bulkhead.js';
import { MetricsRegistry } from './platform/metrics/metrics.js';
import { AnnouncingCache, createQueryCache, type QueryCache } from './platform/query-cache/query-cache.js';
import { createRateLimiter } from './platform/rate-limit/rate-limiter.js';
import { openReplica, type OpenedReplica } from './read-replica.js';
import { announceChanges, ChangeFeed, type Change } from './platform/change-feed.js';

/** How often keys' and sessions' last use is written (modules/credentials/last-used.ts). */
const LAST_USED_FLUSH_MS = 15_000;
/** How often dataset queries' audit events are written (modules/audit-log/audit-buffer.ts). */
const AUDIT_FLUSH_MS = 2_000;
/** /readyz's probe connection: it answers within a second whatever the database does. */
const READINESS_TIMEOUT_MS = 1_000;

export interface Connections {
  /** The app role's pool (never the owner). */
  pool: Sql;
  /** The platform role's pool: platform-admin procedures only. */
  platformPool: Sql;
  /** /readyz's own pool, so a saturated app pool cannot slow the probe; default: the app pool. */
  readinessPool?: Sql;
  /** What the database is (db/citus.ts detectEngine); default: plain Postgres. */
  engine?: Engine;
  /** PALISADE_TENANT as found in the database (openDeps): the one tenant this instance serves. */
  servedTenant?: ServedTenant;
  /**
   * LISTEN for migration 0012's change notifications (platform/change-feed.ts) and apply them to
   * this instance's caches; `origin` is the app pool's application_name, whose own changes are
   * skipped (already applied after commit). A server always listens (openDeps); tests choose.
   */
  changeFeed?: { origin?: string };
  /** READ_DATABASE_URL's router (openReplica): where one-statement tenant reads go. Started; the caller closes it. */
  replica?: ReplicaRouter;
}

/** Parts a test or the bench brings instead of the built ones (it then closes them itself). */
export type DepsOverrides = Partial<Omit<AppDeps, 'analytics'>> & { catalog?: Catalog; cache?: QueryCache; auditBuffer?: AuditBuffer };

export interface Built {
  deps: AppDeps;
  /** Starts the batched writers' timers (a server; tests flush by hand instead). */
  start(): void;
  /** Flushes the batched writers and closes the built parts; the pools are the caller's. */
  stop(): Promise<void>;
  /** The change notifications' listener, when `connections.changeFeed` asked for one. */
  changeFeed?: ChangeFeed;
}

export function buildDeps(config: Config, connections: Connections, overrides: DepsOverrides = {}): Built {
  const { pool, platformPool } = connections;
  // What runs below the server (credential lookups, one-statement reads) asks the pool what it talks to.
  if (connections.engine) for (const p of [pool, platformPool]) useEngine(p, connections.engine);
  const log: Logger = overrides.log ?? silentLogger;
  const clock: Clock = overrides.clock ?? systemClock;
  const redisOptions = { redisUrl: config.redisUrl, log, redis: { commandTimeoutMs: config.redisCommandTimeoutMs } };
  // Only what this function built is closed by `stop`.
  const owned: { close(): unknown }[] = [];
  const own = <T extends { close(): unknown }>(part: T): T => (owned.push(part), part);

  const lastUsed = overrides.lastUsed ?? new LastUsedRecorder(pool);
  const usage = overrides.usage ?? new UsageRecorder(pool, { clock, log });
  const auditBuffer = overrides.auditBuffer ?? new AuditBuffer(pool, log, { foldRepeats: config.auditCacheHits === 'summary' });
  const deps: AppDeps = {
    pool,
    platformPool,
    reader: overrides.reader ?? new TenantReader(pool, { replica: connections.replica }),
    engine: connections.engine ?? 'postgres',
    servedTenant: connections.servedTenant,
    log,
    clock,
    lastUsed,
    usage,
    sessionTtlMinutes: overrides.sessionTtlMinutes ?? config.sessionTtlMinutes,
    tenantRateLimit: overrides.tenantRateLimit ?? config.tenantRateLimit,
    // Per instance: this instance's pool is what one tenant must not take from the others.
    bulkhead: overrides.bulkhead ?? new TenantBulkhead({ maxConcurrent: config.tenantMaxConcurrency, waitMs: config.tenantBusyWaitMs }),
    // With Redis, revocations made on another instance (or by the CLI) evict here too.
    credentialCache:
      overrides.credentialCache ?? own(new CredentialCache({ ttlMs: config.credentialCacheTtlMs, maxEntries: config.credentialCacheMaxEntries, ...redisOptions })),
    // With Redis, failed sign-ins count across every instance.
    loginThrottle: overrides.loginThrottle ?? own(createLoginThrottle(redisOptions)),
    rateLimiter: overrides.rateLimiter ?? own(createRateLimiter(redisOptions)),
    analytics: {
      catalog: overrides.catalog ?? loadCatalog(config.catalogPath),
      cache: overrides.cache ?? own(createQueryCache({ ...redisOptions, maxEntries: config.cacheMaxEntries })),
      statementTimeoutMs: config.queryTimeoutMs,
      cacheTtlSeconds: config.cacheTtlSeconds,
      audit: auditBuffer,
    },
    metrics: overrides.metrics ?? new MetricsRegistry({ maxTenantLabels: config.metricsMaxTenantLabels }),
    alerts:
      overrides.alerts ??
      new AlertMonitor({
        clock,
        log,
        thresholds: {
          highQueryVolumePerMinute: config.alerts.queriesPerMinute,
          errorRate: config.alerts.errorRate,
          slowQueryMs: config.alerts.slowQueryMs,
          rateLimitHitsPerMinute: config.alerts.rateLimitedPerMinute,
        },
      }),
    health:
      overrides.health ?? own(new DatabaseHealth({ sql: connections.readinessPool ?? pool, log, timeoutMs: READINESS_TIMEOUT_MS - 200 })),
    lifecycle: overrides.lifecycle ?? { draining: false },
    poolMax: overrides.poolMax ?? config.poolMax,
    serveMetrics: overrides.serveMetrics ?? config.metricsPort === undefined,
    webRoot: overrides.webRoot ?? config.webRoot,
    odataPageSize: overrides.odataPageSize ?? config.odataPageSize,
  };
  const origin = connections.changeFeed?.origin;
  // Heard changes go to the caches as built: the announcing wrapper below would send them on again.
  const changeFeed = connections.changeFeed && own(listenForChanges(deps, origin));
  if (deps.engine === 'citus') {
    const announce = (changes: Change[]) => announceChanges(pool, changes, origin, log);
    deps.credentialCache.announceWith((changes) => announce(changes.map((change) => ({ kind: 'credentials', change }))));
    deps.analytics.cache = new AnnouncingCache(deps.analytics.cache, (tenantId) => announce([{ kind: 'data', tenantId }]));
  }
  const { replica } = connections;
  if (replica) deps.metrics.setReplicaStatus(() => replica.status());
  const writers = [
    { writer: lastUsed, everyMs: LAST_USED_FLUSH_MS, failure: 'could not record last use of keys' },
    { writer: usage, everyMs: config.usageFlushMs, failure: 'could not record usage' },
    { writer: auditBuffer, everyMs: AUDIT_FLUSH_MS, failure: 'could not write query audit events' },
  ];
  return {
    deps,
    changeFeed,
    start() {
      for (const { writer, everyMs, failure } of writers) writer.start(everyMs, (error) => log('warn', failure, { error: String(error) }));
    },
    async stop() {
      for (const { writer, failure } of writers) await writer.stop().catch((error: unknown) => log('warn', failure, { error: String(error) }));
      await Promise.all(owned.map(async (part) => part.close()));
    },
  };
}

/**
 * Changes heard from Postgres, applied to this instance's caches. With the Redis result cache, a
 * data change made through another instance was already bumped in Redis by that instance; only
 * changes from elsewhere (the CLI, psql) bump it here, so N instances do not bump N times.
 */
function listenForChanges(deps: AppDeps, origin: string | undefined): ChangeFeed {
  const { credentialCache, analytics } = deps;
  const { cache } = analytics;
  return new ChangeFeed(
    deps.pool,
    {
      credentials: (change) => void credentialCache.evictLocal([change]),
      data: async (tenantId, from) => {
        // Before the version moves: the tenant's next reads go to the primary until the replica
        // (READ_DATABASE_URL) has replayed the change, so the new version is never filled stale.
        if (tenantId !== null) deps.reader.wrote(tenantId);
        if (cache.kind === 'redis' && from?.startsWith(APP_POOL_NAME)) return;
        await (tenantId === null ? cache.invalidateAll() : cache.invalidateTenant(tenantId));
      },
      missed: async () => {
        credentialCache.clear();
        await cache.invalidateAll();
      },
    },
    { log: deps.log, origin },
  );
}

/** The app pool's application_name, then `:` and this instance's id: what the change feed's `origin` names. */
const APP_POOL_NAME = 'palisade-app:';

/** Where the server's database roles connect (database.ts: embedded or DATABASE_URL). */
export interface DatabaseUrls {
  appUrl: string;
  platformUrl: string;
}

/**
 * The server's parts on connections of their own, after the checks that make it refuse to serve:
 * a role that could bypass row-level security, or a dataset the policies do not bind.
 */
export async function openDeps(config: Config, database: DatabaseUrls, { catalog, log }: { catalog: Catalog; log: Logger }): Promise<Built> {
  // Every wait for a connection is bounded (503 DATABASE_BUSY past it), and so is every connection attempt.
  const limits = { connectWaitMs: config.dbConnectWaitMs, connectTimeoutMs: config.dbConnectTimeoutMs };
  const origin = APP_POOL_NAME + randomBytes(4).toString('hex');
  const pool = openPool(database.appUrl, { max: config.poolMax, applicationName: origin, ...limits });
  const platformPool = openPool(database.platformUrl, { max: 2, applicationName: 'palisade-platform', ...limits });
  const readinessPool = openPool(database.appUrl, {
    max: 1,
    applicationName: 'palisade-readiness',
    connectWaitMs: READINESS_TIMEOUT_MS,
    connectTimeoutMs: READINESS_TIMEOUT_MS,
  });
  const endPools = () => Promise.all([pool.end({ timeout: 5 }), platformPool.end({ timeout: 5 }), readinessPool.end({ timeout: 1 })]);
  let engine: Engine;
  let servedTenant: ServedTenant | undefined;
  let replica: OpenedReplica | undefined;
  try {
    await refuseUnsafe(config, pool, platformPool, catalog);
    engine = await detectEngine(pool);
    if (engine === 'citus') await refuseUndistributed(pool);
    if (engine === 'citus' && config.readDatabaseUrl) {
      // Each worker would need a replica of its own, and the coordinator's reads name shards on the workers.
      throw new ConfigError(
        'Invalid configuration:\n  READ_DATABASE_URL: not supported on Citus (reads are routed to the workers by the coordinator); unset it, and give the workers replicas of their own in Citus instead',
      );
    }
    servedTenant = await findServedTenant(config, pool, platformPool, engine);
    replica = await openReplica(config, { url: database.appUrl, pool }, { log });
  } catch (error) {
    await endPools();
    throw error;
  }
  const built = buildDeps(config, { pool, platformPool, readinessPool, engine, servedTenant, changeFeed: { origin }, replica: replica?.router }, { catalog, log });
  await built.changeFeed?.ready();
  return {
    ...built,
    async stop() {
      await built.stop();
      await replica?.close();
      await endPools();
    },
  };
}

/**
 * PALISADE_TENANT (a slug or an id) as the tenant it names; an instance pinned to nobody must not
 * start. When the app role is a per-tenant database role (db/roles.ts), PALISADE_TENANT must name
 * the tenant Postgres holds it to: a mismatch would serve a tenant whose rows the role cannot see.
 */
async function findServedTenant(config: Config, pool: Sql, platformPool: Sql, engine: Engine): Promise<ServedTenant | undefined> {
  const pinning = await rolePinning(pool);
  const invalid = (setting: string, problem: string) => new ConfigError(`Invalid configuration:\n  ${setting}: ${problem}`);
  let pinned: (ServedTenant & { databaseRole: string }) | undefined;
  if (pinning) {
    if (engine === 'citus') {
      throw invalid('APP_DATABASE_URL', `role ${pinning.role} is a per-tenant role, which Citus cannot hold to its tenant (its shards' copies of a restrictive policy are permissive); connect as palisade_app and pin the instance with PALISADE_TENANT`);
    }
    if (!pinning.tenantId) {
      throw invalid('APP_DATABASE_URL', `role ${pinning.role} is a per-tenant role in name or membership, but the pinned policy holds it to no tenant (it would see nothing); create per-tenant roles with \`palisade tenant db-role\``);
    }
    const [tenant] = await platformPool<ServedTenant[]>`select id::text as id, slug from tenants where id = ${pinning.tenantId}`;
    if (!tenant) throw invalid('APP_DATABASE_URL', `role ${pinning.role} is pinned to tenant ${pinning.tenantId}, which does not exist`);
    pinned = { ...tenant, databaseRole: pinning.role };
  }
  if (!config.servedTenant) {
    if (pinned) throw invalid('PALISADE_TENANT', `the app role ${pinned.databaseRole} sees only tenant ${pinned.slug}; set PALISADE_TENANT=${pinned.slug}`);
    return undefined;
  }
  const slugOrId = config.servedTenant;
  const [row] = await platformPool<ServedTenant[]>`
    select id::text as id, slug from tenants where slug = ${slugOrId} or id::text = ${slugOrId}`;
  if (!row) throw invalid('PALISADE_TENANT', `no tenant has the slug or id "${slugOrId}"`);
  if (pinned && pinned.id !== row.id) {
    throw invalid('PALISADE_TENANT', `names ${row.slug}, but the app role ${pinned.databaseRole} sees only tenant ${pinned.slug}; pin the instance to ${pinned.slug} or connect as ${row.slug}'s role`);
  }
  return pinned ?? row;
}

/**
 * On Citus the tenant setting reaches the workers only with citus.propagate_set_commands = 'local'
 * (set by `palisade citus distribute`); without it tenants whose shards are on workers would see
 * nothing and could write nothing. Fails closed either way, but a server that cannot serve most
 * tenants should say so at startup, not per request.
 */
async function refuseUndistributed(pool: Sql): Promise<void> {
  const [row] = await pool<{ mode: string }[]>`select current_setting('citus.propagate_set_commands') as mode`;
  if (row?.mode !== 'local') {
    throw new Error(
      `Refusing to serve: this is a Citus database, but citus.propagate_set_commands is '${row?.mode ?? 'unset'}', so the tenant setting would not reach the workers.\n` +
        'Run `npm run palisade -- citus distribute` against the coordinator (with DATABASE_URL), then start again (see README, Scaling out on Citus).',
    );
  }
}

async function refuseUnsafe(config: Config, pool: Sql, platformPool: Sql, catalog: Catalog): Promise<void> {
  const problems = [
    ...(await findAppRoleProblems(pool).catch((error: unknown) => [`cannot connect as the app role: ${String(error)}`])),
    ...(await findAppRoleProblems(platformPool).catch((error: unknown) => [`cannot connect as the platform role: ${String(error)}`])),
  ];
  if (problems.length > 0) {
    throw new Error(
      `Refusing to serve: a role the server connects as could bypass row-level security.\n  - ${problems.join('\n  - ')}\n` +
        'Connect as a role that is NOSUPERUSER, NOBYPASSRLS, owns nothing and has no TRUNCATE/REFERENCES (see README, Roles).',
    );
  }
  // Fails closed: a dataset over a table the policies do not bind would aggregate every tenant.
  const catalogProblems = await findCatalogProblems(pool, catalog);
  if (catalogProblems.length > 0) {
    throw new Error(
      `Refusing to serve: the catalog ${config.catalogPath} has datasets analytics cannot isolate.\n  - ${catalogProblems.join('\n  - ')}\n` +
        'Point every dataset at a tenant table (tenantTable(), RLS enabled and forced; see README, Adding a tenant table).',
    );
  }
}
