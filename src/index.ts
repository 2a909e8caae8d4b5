/**
 * Process entry: configuration, database, app, serve, graceful shutdown (see shutdown below and
 * http/lifecycle.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { openPool } from '../db/client.js';
import { TenantReader } from '../db/tenant-read.js';
import { findAppRoleProblems } from '../db/roles.js';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { prepareDatabase } from './database.js';
import { credentialsPath, ensureDemo, type CredentialsFile } from './demo-credentials.js';
import { DatabaseHealth } from './http/database-health.js';
import { drainServer, type Lifecycle } from './http/lifecycle.js';
import { metricsServer } from './http/metrics-server.js';
import { jsonLogger as log } from './lib/log.js';
import { AlertMonitor } from './modules/usage/alerts.js';
import { AuditBuffer } from './modules/audit-log/audit-buffer.js';
import { findCatalogProblems } from './modules/analytics/catalog-guard.js';
import { CredentialCache } from './modules/credentials/credential-cache.js';
import { CatalogError, loadCatalog } from './modules/analytics/catalog.js';
import { LastUsedRecorder } from './modules/credentials/last-used.js';
import { createLoginThrottle } from './modules/sessions/login-throttle.js';
import { MetricsRegistry } from './platform/metrics/metrics.js';
import { createQueryCache } from './platform/query-cache/query-cache.js';
import { createRateLimiter } from './platform/rate-limit/rate-limiter.js';
import { UsageRecorder } from './modules/usage/usage.js';

/** How often keys' and sessions' last use is written (see modules/credentials/last-used.ts). */
const LAST_USED_FLUSH_MS = 15_000;
/** How often dataset queries' audit events are written (see modules/audit-log/audit-buffer.ts). */
const AUDIT_FLUSH_MS = 2_000;
/**
 * On shutdown, how long a keep-alive connection with no request in progress stays open: a client
 * in the middle of a series of requests sends its next one well within this, and gets its answer
 * with `Connection: close` instead of a reset (http/lifecycle.ts).
 */
const SHUTDOWN_IDLE_GRACE_MS = 1_000;
/** /readyz's probe connection: it answers within a second whatever the database does. */
const READINESS_TIMEOUT_MS = 1_000;

async function main(): Promise<void> {
  const config = loadConfig();
  // Before Postgres starts: a bad catalog is the operator's to fix, and says where.
  const catalog = loadCatalog(config.catalogPath);
  const database = await prepareDatabase(config);
  // Every wait for a connection is bounded (503 DATABASE_BUSY past it), and so is every connection attempt.
  const limits = { connectWaitMs: config.dbConnectWaitMs, connectTimeoutMs: config.dbConnectTimeoutMs };
  const pool = openPool(database.appUrl, { max: config.poolMax, ...limits });
  const platformPool = openPool(database.platformUrl, { max: 2, applicationName: 'palisade-platform', ...limits });
  // /readyz probes on a connection of its own: a saturated app pool must not make it slow.
  const readinessPool = openPool(database.appUrl, {
    max: 1,
    applicationName: 'palisade-readiness',
    connectWaitMs: READINESS_TIMEOUT_MS,
    connectTimeoutMs: READINESS_TIMEOUT_MS,
  });

  const problems = [
    ...(await findAppRoleProblems(pool).catch((error: unknown) => [`cannot connect as the app role: ${String(error)}`])),
    ...(await findAppRoleProblems(platformPool).catch((error: unknown) => [`cannot connect as the platform role: ${String(error)}`])),
  ];
  const refuse = async (message: string) => {
    await Promise.all([pool.end(), platformPool.end(), readinessPool.end()]);
    await database.stop();
    return new Error(message);
  };
  if (problems.length > 0) {
    throw await refuse(
      `Refusing to serve: a role the server connects as could bypass row-level security.\n  - ${problems.join('\n  - ')}\n` +
        'Connect as a role that is NOSUPERUSER, NOBYPASSRLS, owns nothing and has no TRUNCATE/REFERENCES (see README, Roles).',
    );
  }
  // Fails closed: a dataset over a table the policies do not bind would aggregate every tenant.
  const catalogProblems = await findCatalogProblems(pool, catalog);
  if (catalogProblems.length > 0) {
    throw await refuse(
      `Refusing to serve: the catalog ${config.catalogPath} has datasets analytics cannot isolate.\n  - ${catalogProblems.join('\n  - ')}\n` +
        'Point every dataset at a tenant table (tenantTable(), RLS enabled and forced; see README, Adding a tenant table).',
    );
  }

  const lastUsed = new LastUsedRecorder(pool);
  lastUsed.start(LAST_USED_FLUSH_MS, (error) => log('warn', 'could not record last use of keys', { error: String(error) }));
  const usage = new UsageRecorder(pool, { log });
  usage.start(config.usageFlushMs, (error) => log('warn', 'could not record usage', { error: String(error) }));
  const auditBuffer = new AuditBuffer(pool, log, { foldRepeats: config.auditCacheHits === 'summary' });
  auditBuffer.start(AUDIT_FLUSH_MS, (error) => log('warn', 'could not write query audit events', { error: String(error) }));
  const metrics = new MetricsRegistry({ maxTenantLabels: config.metricsMaxTenantLabels });
  const redis = { commandTimeoutMs: config.redisCommandTimeoutMs };
  const cache = createQueryCache({ redisUrl: config.redisUrl, maxEntries: config.cacheMaxEntries, log, redis });
  const rateLimiter = createRateLimiter({ redisUrl: config.redisUrl, log, redis });
  // With Redis, failed sign-ins count across every instance.
  const loginThrottle = createLoginThrottle({ redisUrl: config.redisUrl, log, redis });
  // With Redis, revocations made on another instance (or by the CLI) evict here too.
  const credentialCache = new CredentialCache({ ttlMs: config.credentialCacheTtlMs, maxEntries: config.credentialCacheMaxEntries, redisUrl: config.redisUrl, log, redis });
  const reader = new TenantReader(pool);
  const lifecycle: Lifecycle = { draining: false };
  const health = new DatabaseHealth({ sql: readinessPool, log, timeoutMs: READINESS_TIMEOUT_MS - 200 });
  const app = createApp({
    lifecycle,
    health,
    pool,
    reader,
    platformPool,
    lastUsed,
    log,
    credentialCache,
    sessionTtlMinutes: config.sessionTtlMinutes,
    loginThrottle,
    catalog,
    cache,
    rateLimiter,
    tenantRateLimit: config.tenantRateLimit,
    queryTimeoutMs: config.queryTimeoutMs,
    cacheTtlSeconds: config.cacheTtlSeconds,
    usage,
    auditBuffer,
    metrics,
    alerts: new AlertMonitor({ log, thresholds: alertThresholds(config.alerts) }),
    poolMax: config.poolMax,
    serveMetrics: config.metricsPort === undefined,
  });
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host });
  if (!(server instanceof http.Server)) throw new Error('expected a node:http server');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${['0.0.0.0', '127.0.0.1', '::'].includes(config.host) ? 'localhost' : config.host}:${port}`;
  const metricsListener = config.metricsPort === undefined ? undefined : await metricsServer({ metrics, pool, poolMax: config.poolMax, port: config.metricsPort, host: config.host });

  const demo = config.seedDemo
    ? await ensureDemo(config.dataDir, { url, databaseUrl: database.ownerUrl, appDatabaseUrl: database.appUrl })
    : undefined;
  printBanner(url, demo, config.dataDir);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // From here /readyz answers 503 SHUTTING_DOWN and every response closes its connection.
    lifecycle.draining = true;
    log('info', 'shutting down', { signal });
    // Refuse new connections, answer what is in flight and what keep-alive clients send within the
    // grace, close idle connections, cut the rest at SHUTDOWN_TIMEOUT_MS (http/lifecycle.ts).
    await drainServer(server, { idleGraceMs: SHUTDOWN_IDLE_GRACE_MS, timeoutMs: config.shutdownTimeoutMs });
    metricsListener?.close();
    health.close();
    await lastUsed.stop().catch((error: unknown) => log('warn', 'could not record last use of keys', { error: String(error) }));
    await usage.stop().catch((error: unknown) => log('warn', 'could not record usage', { error: String(error) }));
    await auditBuffer.stop().catch((error: unknown) => log('warn', 'could not write query audit events', { error: String(error) }));
    await Promise.all([cache.close(), rateLimiter.close(), loginThrottle.close(), credentialCache.close()]);
    await Promise.all([pool.end({ timeout: 5 }), platformPool.end({ timeout: 5 }), readinessPool.end({ timeout: 1 })]);
    await database.stop();
    log('info', 'stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

function alertThresholds(alerts: ReturnType<typeof loadConfig>['alerts']) {
  return {
    highQueryVolumePerMinute: alerts.queriesPerMinute,
    errorRate: alerts.errorRate,
    slowQueryMs: alerts.slowQueryMs,
    rateLimitHitsPerMinute: alerts.rateLimitedPerMinute,
  };
}

function printBanner(url: string, demo: CredentialsFile | undefined, dataDir: string): void {
  const lines = [`\nPalisade is listening on ${url}`, `Dashboard: ${url}/ (sign in with a key below, or as an owner)`];
  if (demo) {
    lines.push(`\nDemo credentials (also in ${credentialsPath(dataDir)}):`);
    for (const t of demo.tenants) {
      lines.push(`  ${t.name.padEnd(20)} ${t.apiKey}`);
      if (t.owner) lines.push(`  ${''.padEnd(20)} sign in: ${t.slug} / ${t.owner.email} / ${t.owner.temporaryPassword} (temporary)`);
    }
    lines.push(`  ${'Platform admin'.padEnd(20)} ${demo.adminKey}`);
    const first = demo.tenants[0];
    if (first) {
      lines.push(
        `\nTry:\n  curl -H "Authorization: Bearer ${first.apiKey}" ${url}/trpc/orders.list`,
        `  curl -H "Authorization: Bearer ${first.apiKey}" -H "Accept: text/csv" "${url}/v1/query?dataset=orders&dimensions=region&metrics=revenue"`,
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

main().catch((error: unknown) => {
  const cause = error instanceof Error && error.cause ? `\ncaused by: ${String(error.cause)}` : '';
  const text = error instanceof ConfigError || error instanceof CatalogError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`\n${text}${cause}\n`);
  process.exit(1);
});
