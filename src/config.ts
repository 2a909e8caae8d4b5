/** Every environment variable the server reads, parsed once. Nothing else reads process.env. */
import path from 'node:path';
import { z } from 'zod';
import { fromPackageRoot } from '../db/package-root.js';
import { RATE_LIMIT_PATTERN } from '../db/schema/api-keys.js';
import { QUERY_LIMITS } from './modules/analytics/query-input.js';

const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// URL');

const flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).optional(),
  PALISADE_DATA_DIR: z.string().min(1).default('.palisade'),
  DATABASE_URL: postgresUrl.optional(),
  APP_DATABASE_URL: postgresUrl.optional(),
  PLATFORM_DATABASE_URL: postgresUrl.optional(),
  READ_DATABASE_URL: postgresUrl.optional(),
  READ_REPLICA_MAX_LAG_MS: z.coerce.number().int().min(0).max(3_600_000).default(5_000),
  READ_REPLICA_POLL_MS: z.coerce.number().int().min(10).max(10_000).default(100),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(500).default(10),
  DB_CONNECT_WAIT_MS: z.coerce.number().int().min(100).max(600_000).default(3_000),
  DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(2_000),
  SEED_DEMO: flag.optional(),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  SESSION_TTL_MINUTES: z.coerce.number().int().min(1).max(60 * 24 * 30).default(12 * 60),
  CATALOG_PATH: z.string().min(1).default('catalog.yaml'),
  QUERY_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  QUERY_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
  QUERY_CACHE_MAX_ENTRIES: z.coerce.number().int().min(1).max(1_000_000).default(1_000),
  ODATA_PAGE_SIZE: z.coerce.number().int().min(1).max(QUERY_LIMITS.maxRows).default(1_000),
  AUDIT_CACHE_HITS: z.enum(['summary', 'each'], { error: 'expected summary or each' }).default('summary'),
  CREDENTIAL_CACHE_TTL_MS: z.coerce.number().int().min(0).max(300_000).default(5_000),
  CREDENTIAL_CACHE_MAX_ENTRIES: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(5).max(10_000).default(50),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL').optional(),
  TENANT_RATE_LIMIT: z.string().regex(new RegExp(RATE_LIMIT_PATTERN), 'expected <n>/second, <n>/minute or <n>/hour, e.g. 600/minute').default('600/minute'),
  TENANT_MAX_CONCURRENCY: z.coerce.number().int().min(1).max(10_000).optional(),
  TENANT_BUSY_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(500),
  USAGE_FLUSH_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  PALISADE_TENANT: z.string().trim().toLowerCase().min(1).max(100).optional(),
  METRICS_MAX_TENANT_LABELS: z.coerce.number().int().min(1).max(10_000).default(50),
  ALERT_QUERIES_PER_MINUTE: z.coerce.number().positive().default(1_000),
  ALERT_ERROR_RATE: z.coerce.number().min(0).max(1).default(0.2),
  ALERT_SLOW_QUERY_MS: z.coerce.number().int().positive().default(5_000),
  ALERT_RATE_LIMITED_PER_MINUTE: z.coerce.number().positive().default(60),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** Owner/migrator credentials; undefined means: start embedded Postgres. */
  databaseUrl: string | undefined;
  /** The app role's credentials; undefined means: derive them (see README, Roles). */
  appDatabaseUrl: string | undefined;
  /** The platform role's credentials; undefined means: derive them like the app role's. */
  platformDatabaseUrl: string | undefined;
  /**
   * READ_DATABASE_URL: the app role on a streaming replica of the primary; one-statement tenant
   * reads and dataset queries go there (see README, Read replica). Undefined: everything on the primary.
   */
  readDatabaseUrl: string | undefined;
  /** Past this replay lag every read goes to the primary until the replica catches up. */
  readReplicaMaxLagMs: number;
  /** How often the replica's replay position (and the primary's WAL position) is read. */
  readReplicaPollMs: number;
  poolMax: number;
  /**
   * How long a request may wait for a free database connection; past it the request answers 503
   * DATABASE_BUSY (Retry-After) without having reached the database.
   */
  dbConnectWaitMs: number;
  /** How long opening a database connection may take before it counts as failed (503 DATABASE_UNAVAILABLE). */
  dbConnectTimeoutMs: number;
  seedDemo: boolean;
  shutdownTimeoutMs: number;
  /** How long a sign-in session lasts. */
  sessionTtlMinutes: number;
  /** The dataset catalog (absolute path). */
  catalogPath: string;
  /** The built dashboard (`npm run build:web`); false: no dashboard at `/`. Not an environment variable. */
  webRoot: string | false;
  queryTimeoutMs: number;
  cacheTtlSeconds: number;
  cacheMaxEntries: number;
  /** Rows per OData response; `@odata.nextLink` leads to the next page. */
  odataPageSize: number;
  /**
   * `summary`: a caller's repeated cache hits of one result fold into one audit event per flush,
   * with their count; `each`: one event per hit.
   */
  auditCacheHits: 'summary' | 'each';
  /**
   * How long a verified key or session is reused without asking the database; 0: never. State
   * changes through the API or CLI evict at once; changes made directly in the database show within this.
   */
  credentialCacheTtlMs: number;
  credentialCacheMaxEntries: number;
  /** Shared cache and rate limits across instances; undefined means in-process. */
  /** Longest a Redis command may take before it counts towards opening the circuit breaker (src/platform/redis.ts). */
  redisCommandTimeoutMs: number;
  redisUrl: string | undefined;
  /** Every tenant's request budget; a key's own limit applies too, and the tighter wins. */
  tenantRateLimit: string;
  /**
   * Requests of one tenant holding a permit at once on this instance (src/platform/bulkhead/):
   * TENANT_MAX_CONCURRENCY, by default a quarter of the pool (DB_POOL_MAX), at least 2, so two
   * busy tenants cannot take the whole pool between them while a quiet one waits.
   */
  tenantMaxConcurrency: number;
  /**
   * How long a request past its tenant's permits waits for one before 503 TENANT_BUSY (Retry-After).
   * 500 ms: permits turn over every few ms at the measured query latencies, so a burst waits its
   * turn; only a tenant whose requests hold permits for long (slow queries) is turned away, and
   * within a fraction of DB_CONNECT_WAIT_MS (3 s), before its requests could queue for connections.
   */
  tenantBusyWaitMs: number;
  usageFlushMs: number;
  /** Serve /metrics on this port (no credential) instead of on the API port (platform-admin key). */
  metricsPort: number | undefined;
  /** PALISADE_TENANT: the one tenant (slug or id) this instance serves; others get 403 TENANT_NOT_SERVED_HERE. */
  servedTenant: string | undefined;
  metricsMaxTenantLabels: number;
  alerts: { queriesPerMinute: number; errorRate: number; slowQueryMs: number; rateLimitedPerMinute: number };
}

export class ConfigError extends Error {}

/** TENANT_MAX_CONCURRENCY's default: a quarter of the app pool, at least 2. */
export function defaultTenantMaxConcurrency(poolMax: number): number {
  return Math.max(2, Math.floor(poolMax / 4));
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  for (const name of ['APP_DATABASE_URL', 'PLATFORM_DATABASE_URL', 'READ_DATABASE_URL'] as const) {
    if (e[name] && !e.DATABASE_URL) {
      throw new ConfigError(`Invalid configuration:\n  ${name}: set DATABASE_URL (the owner role) as well`);
    }
  }
  const embedded = !e.DATABASE_URL;
  return {
    port: e.PORT,
    // The embedded demo prints working keys, so by default it only listens on this machine.
    host: e.HOST ?? (embedded ? '127.0.0.1' : '0.0.0.0'),
    dataDir: path.resolve(e.PALISADE_DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    appDatabaseUrl: e.APP_DATABASE_URL,
    platformDatabaseUrl: e.PLATFORM_DATABASE_URL,
    readDatabaseUrl: e.READ_DATABASE_URL,
    readReplicaMaxLagMs: e.READ_REPLICA_MAX_LAG_MS,
    readReplicaPollMs: e.READ_REPLICA_POLL_MS,
    poolMax: e.DB_POOL_MAX,
    dbConnectWaitMs: e.DB_CONNECT_WAIT_MS,
    dbConnectTimeoutMs: e.DB_CONNECT_TIMEOUT_MS,
    seedDemo: e.SEED_DEMO ?? embedded,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    sessionTtlMinutes: e.SESSION_TTL_MINUTES,
    catalogPath: path.resolve(e.CATALOG_PATH),
    webRoot: fromPackageRoot('dist', 'web'),
    queryTimeoutMs: e.QUERY_TIMEOUT_MS,
    cacheTtlSeconds: e.QUERY_CACHE_TTL_SECONDS,
    cacheMaxEntries: e.QUERY_CACHE_MAX_ENTRIES,
    odataPageSize: e.ODATA_PAGE_SIZE,
    auditCacheHits: e.AUDIT_CACHE_HITS,
    credentialCacheTtlMs: e.CREDENTIAL_CACHE_TTL_MS,
    credentialCacheMaxEntries: e.CREDENTIAL_CACHE_MAX_ENTRIES,
    redisUrl: e.REDIS_URL,
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    tenantRateLimit: e.TENANT_RATE_LIMIT,
    tenantMaxConcurrency: e.TENANT_MAX_CONCURRENCY ?? defaultTenantMaxConcurrency(e.DB_POOL_MAX),
    tenantBusyWaitMs: e.TENANT_BUSY_WAIT_MS,
    usageFlushMs: e.USAGE_FLUSH_MS,
    metricsPort: e.METRICS_PORT,
    servedTenant: e.PALISADE_TENANT,
    metricsMaxTenantLabels: e.METRICS_MAX_TENANT_LABELS,
    alerts: {
      queriesPerMinute: e.ALERT_QUERIES_PER_MINUTE,
      errorRate: e.ALERT_ERROR_RATE,
      slowQueryMs: e.ALERT_SLOW_QUERY_MS,
      rateLimitedPerMinute: e.ALERT_RATE_LIMITED_PER_MINUTE,
    },
  };
}
