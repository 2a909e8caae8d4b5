/**
 * Process entry: configuration, database, app, serve, graceful shutdown.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { openPool } from '../db/client.js';
import { TenantReader } from '../db/tenant-read.js';
import { findAppRoleProblems } from '../db/roles.js';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { prepareDatabase } from './database.js';
import { credentialsPath, ensureDemo, type CredentialsFile } from './demo-credentials.js';
import { metricsServer } from './http/metrics-server.js';
import { jsonLogger as log } from './lib/log.js';
import { AlertMonitor } from './modules/alerts.js';
import { AuditBuffer } from './modules/audit-buffer.js';
import { findCatalogProblems } from './modules/catalog-guard.js';
import { CredentialCache } from './modules/credential-cache.js';
import { CatalogError, loadCatalog } from './modules/catalog.js';
import { LastUsedRecorder } from './modules/last-used.js';
import { MetricsRegistry } from './modules/metrics.js';
import { createQueryCache } from './modules/query-cache.js';
import { createRateLimiter } from './modules/rate-limiter.js';
import { UsageRecorder } from './modules/usage.js';

/** How often keys' and sessions' last use is written (see modules/last-used.ts). */
const LAST_USED_FLUSH_MS = 15_000;
/** How often dataset queries' audit events are written (see modules/audit-buffer.ts). */
const AUDIT_FLUSH_MS = 2_000;

async function main(): Promise<void> {
  const config = loadConfig();
  // Before Postgres starts: a bad catalog is the operator's to fix, and says where.
  const catalog = loadCatalog(config.catalogPath);
  const database = await prepareDatabase(config);
  const pool = openPool(database.appUrl, { max: config.poolMax });
  const platformPool = openPool(database.platformUrl, { max: 2, applicationName: 'palisade-platform' });

  const problems = [
    ...(await findAppRoleProblems(pool).catch((error: unknown) => [`cannot connect as the app role: ${String(error)}`])),
    ...(await findAppRoleProblems(platformPool).catch((error: unknown) => [`cannot connect as the platform role: ${String(error)}`])),
  ];
  const refuse = async (message: string) => {
    await Promise.all([pool.end(), platformPool.end()]);
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
  const cache = createQueryCache({ redisUrl: config.redisUrl, maxEntries: config.cacheMaxEntries, log });
  const rateLimiter = createRateLimiter({ redisUrl: config.redisUrl, log });
  // With Redis, revocations made on another instance (or by the CLI) evict here too.
  const credentialCache = new CredentialCache({ ttlMs: config.credentialCacheTtlMs, maxEntries: config.credentialCacheMaxEntries, redisUrl: config.redisUrl, log });
  const reader = new TenantReader(database.appUrl, { connections: config.readConnections });
  const app = createApp({
    pool,
    reader,
    platformPool,
    lastUsed,
    log,
    credentialCache,
    sessionTtlMinutes: config.sessionTtlMinutes,
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
    log('info', 'shutting down', { signal });
    // Stop accepting, let in-flight requests finish, then close the pool and Postgres.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Keep-alive sockets turn idle as their last response goes out; close them as they do.
    const reaper = setInterval(() => 'closeIdleConnections' in server && server.closeIdleConnections(), 50);
    const timer = setTimeout(() => {
      if ('closeAllConnections' in server) server.closeAllConnections();
    }, config.shutdownTimeoutMs);
    await closed;
    clearInterval(reaper);
    clearTimeout(timer);
    metricsListener?.close();
    await lastUsed.stop().catch((error: unknown) => log('warn', 'could not record last use of keys', { error: String(error) }));
    await usage.stop().catch((error: unknown) => log('warn', 'could not record usage', { error: String(error) }));
    await auditBuffer.stop().catch((error: unknown) => log('warn', 'could not write query audit events', { error: String(error) }));
    await Promise.all([cache.close(), rateLimiter.close(), credentialCache.close()]);
    await Promise.all([pool.end({ timeout: 5 }), platformPool.end({ timeout: 5 }), reader.end()]);
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
