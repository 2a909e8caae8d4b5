/**
 * Process entry: configuration, database, the server's parts (deps.ts), app, serve, graceful
 * shutdown (see shutdown below and http/lifecycle.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createApp, type AppDeps } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { prepareDatabase } from './database.js';
import { openDeps } from './deps.js';
import { credentialsPath, ensureDemo, type CredentialsFile } from './demo-credentials.js';
import { drainServer } from './http/lifecycle.js';
import { metricsServer } from './http/metrics-server.js';
import { jsonLogger as log } from './lib/log.js';
import { CatalogError, loadCatalog } from './modules/analytics/catalog.js';

/**
 * On shutdown, how long a keep-alive connection with no request in progress stays open: a client
 * in the middle of a series of requests sends its next one well within this, and gets its answer
 * with `Connection: close` instead of a reset (http/lifecycle.ts).
 */
const SHUTDOWN_IDLE_GRACE_MS = 1_000;

async function main(): Promise<void> {
  const config = loadConfig();
  // Before Postgres starts: a bad catalog is the operator's to fix, and says where.
  const catalog = loadCatalog(config.catalogPath);
  const database = await prepareDatabase(config);
  const built = await openDeps(config, database, { catalog, log }).catch(async (error: unknown) => {
    await database.stop();
    throw error;
  });
  const { deps } = built;
  built.start();
  const app = createApp(deps);
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host });
  if (!(server instanceof http.Server)) throw new Error('expected a node:http server');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${['0.0.0.0', '127.0.0.1', '::'].includes(config.host) ? 'localhost' : config.host}:${port}`;
  const metricsListener = config.metricsPort === undefined ? undefined : await metricsServer({ metrics: deps.metrics, pool: deps.pool, poolMax: config.poolMax, port: config.metricsPort, host: config.host });

  const demo = config.seedDemo
    ? await ensureDemo(config.dataDir, { url, databaseUrl: database.ownerUrl, appDatabaseUrl: database.appUrl })
    : undefined;
  printBanner(url, demo, config, built.deps);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // From here /readyz answers 503 SHUTTING_DOWN and every response closes its connection.
    deps.lifecycle.draining = true;
    log('info', 'shutting down', { signal });
    // Refuse new connections, answer what is in flight and what keep-alive clients send within the
    // grace, close idle connections, cut the rest at SHUTDOWN_TIMEOUT_MS (http/lifecycle.ts).
    await drainServer(server, { idleGraceMs: SHUTDOWN_IDLE_GRACE_MS, timeoutMs: config.shutdownTimeoutMs });
    metricsListener?.close();
    // Flushes last use, usage and audit events, closes caches and pools (deps.ts).
    await built.stop();
    await database.stop();
    log('info', 'stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

function printBanner(url: string, demo: CredentialsFile | undefined, config: Config, { engine, servedTenant, reader }: Pick<AppDeps, 'engine' | 'servedTenant' | 'reader'>): void {
  const { dataDir } = config;
  const replica = reader.replicaStatus();
  const lines = [
    `\nPalisade is listening on ${url}`,
    `Database: ${engine === 'citus' ? 'Citus (tenant tables distributed by tenant_id)' : 'PostgreSQL'}`,
    ...(replica && config.readDatabaseUrl
      ? [
          `Read replica: ${replicaAddress(config.readDatabaseUrl)} (${replica.state}${replica.lagMs === null ? '' : `, ${replica.lagMs} ms behind`}) serves dataset queries and one-statement tenant reads; ` +
            `the primary serves them while it is down or more than ${config.readReplicaMaxLagMs} ms behind, and a tenant's own reads until its writes have replayed`,
        ]
      : []),
    ...(servedTenant ? [`Serving one tenant: ${servedTenant.slug} (${servedTenant.id}); other tenants and platform-admin keys get 403 TENANT_NOT_SERVED_HERE`] : []),
    ...(servedTenant?.databaseRole ? [`Database role: ${servedTenant.databaseRole}, which Postgres holds to ${servedTenant.slug}'s rows`] : []),
    `Dashboard: ${url}/ (sign in with a key below, or as an owner)`,
  ];
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

/** host:port/database of a URL, without its credentials. */
function replicaAddress(url: string): string {
  const u = new URL(url);
  return `${u.host}${u.pathname}`;
}

main().catch((error: unknown) => {
  const cause = error instanceof Error && error.cause ? `\ncaused by: ${String(error.cause)}` : '';
  const text = error instanceof ConfigError || error instanceof CatalogError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`\n${text}${cause}\n`);
  process.exit(1);
});
