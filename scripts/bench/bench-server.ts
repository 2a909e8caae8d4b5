/**
 * The server under test, in its own process: the real app (createApp) as the app role, as
 * index.ts builds it but with an unlimited tenant rate limit and the cache TTL the bench asks for,
 * plus the thin-layer limit: bare Hono routes running the explicit-WHERE queries on a BYPASSRLS
 * pool with no auth. Configuration arrives in BENCH_SERVER_CONFIG (JSON; URLs carry passwords, so
 * not argv); prints `{"port":N}` when listening and stops on SIGTERM.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { openPool } from '../../db/client.js';
import { fromPackageRoot } from '../../db/package-root.js';
import { TenantReader } from '../../db/tenant-read.js';
import { createApp } from '../../src/app.js';
import { defaultTenantMaxConcurrency, loadConfig } from '../../src/config.js';
import { buildDeps } from '../../src/deps.js';

interface ServerConfig {
  appUrl: string;
  platformUrl: string;
  bypassUrl: string;
  cacheTtlSeconds: number;
  poolMax: number;
  /** Per-tenant permits (TENANT_MAX_CONCURRENCY); unset: the default for poolMax. */
  tenantMaxConcurrency?: number;
}

const config = JSON.parse(process.env.BENCH_SERVER_CONFIG ?? '{}') as ServerConfig;
// As index.ts: one app pool of poolMax connections (the bare route's pool size) for everything:
// the reader borrows it for one-statement reads (one batch each), the rest (key lookups, batched
// writes, transactions) use it directly. The reader has no connections of its own and no end().
const pool = openPool(config.appUrl, { max: config.poolMax });
const reader = new TenantReader(pool);
const platformPool = openPool(config.platformUrl, { max: 2, applicationName: 'palisade-platform' });
const bypass = openPool(config.bypassUrl, { max: config.poolMax, applicationName: 'palisade-bench-bare' });

// As index.ts: the composition root's parts, batched writes on timers (none per request), with
// an unlimited tenant budget, the bench's cache lifetime and per-tenant permits.
const built = buildDeps(
  {
    ...loadConfig({}),
    catalogPath: fromPackageRoot('catalog.yaml'),
    poolMax: config.poolMax,
    cacheTtlSeconds: config.cacheTtlSeconds,
    tenantRateLimit: '999999999/second',
    tenantMaxConcurrency: config.tenantMaxConcurrency ?? defaultTenantMaxConcurrency(config.poolMax),
  },
  { pool, platformPool },
  { reader },
);
built.start();
const app = createApp(built.deps);

const bare = new Hono();
// What any HTTP request costs here, with no auth and no database: the bound on what a cache can gain.
bare.get('/bare/floor', (c) => c.json({ ok: true }));
bare.get('/bare/orders/:tenantId/:id', async (c) => {
  const [row] = await bypass`
    select id, customer_id, region, amount, order_date, status, created_at
    from orders where tenant_id = ${c.req.param('tenantId')} and id = ${c.req.param('id')}`;
  return row ? c.json(row) : c.json({ error: 'not found' }, 404);
});
bare.get('/bare/revenue/:tenantId', async (c) => {
  const rows = await bypass`
    select region, sum(amount) as revenue from orders where tenant_id = ${c.req.param('tenantId')}
    group by region order by region`;
  return c.json(rows);
});

const server = serve({
  // The bare routes skip the app entirely (no request id, no observers): they are the floor.
  fetch: (req, env) => (new URL(req.url).pathname.startsWith('/bare/') ? bare.fetch(req, env) : app.fetch(req, env)),
  port: 0,
  hostname: '127.0.0.1',
});
server.once('listening', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  server.close();
  if ('closeAllConnections' in server) server.closeAllConnections();
  await built.stop().catch(() => undefined);
  await Promise.allSettled([pool.end({ timeout: 2 }), platformPool.end({ timeout: 2 }), bypass.end({ timeout: 2 })]);
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
// The bench died without stopping us (SIGKILL): we were re-parented, so stop rather than linger.
const parent = process.ppid;
setInterval(() => process.ppid !== parent && void stop(), 1000).unref();
