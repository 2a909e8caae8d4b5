/**
 * What integration tests share: pools (app role by default, owner only for fixtures), tenant
 * factories with random slugs (files run in parallel), and a real HTTP server with a typed client.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, inject } from 'vitest';
import { useEngine, type Engine } from '../db/citus.js';
import { TenantReader } from '../db/tenant-read.js';
import { openPool, type Sql } from '../db/client.js';
import { apiKeys, customers, orders } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { buildDeps, type DepsOverrides } from '../src/deps.js';
import { fromPackageRoot } from '../db/package-root.js';
import { generateTenantKey } from '../src/lib/api-key.js';
import type { ChangeFeed } from '../src/platform/change-feed.js';
import type { Clock } from '../src/lib/clock.js';
import { CredentialCache, type CredentialChange } from '../src/modules/credentials/credential-cache.js';
import type { LastUsedRecorder } from '../src/modules/credentials/last-used.js';
import { provisionTenant, type ProvisionedTenant } from '../src/modules/tenants/tenants.service.js';
import type { ServedTenant } from '../src/access/authenticate.js';
import type { AppRouter } from '../src/trpc/app-router.js';

export const pg = inject('pg');

/** Tells a pool what it talks to (db/citus.ts), so readers and lookups use Citus's flights on a cluster. */
function onEngine(pool: Sql): Sql {
  useEngine(pool, pg.engine);
  return pool;
}

export function appPool(max = 4): Sql {
  return onEngine(openPool(pg.appUrl, { max, applicationName: 'palisade-test' }));
}

/** A tenant reader over a pool of its own (`end` ends that pool): tests count its connections. */
export type TestReader = TenantReader & { end(): Promise<void> };

/** The one-statement tenant reader as the app role, on a pool of `connections` of its own. */
export function appReader(connections = 2): TestReader {
  const pool = onEngine(openPool(pg.appUrl, { max: connections, applicationName: 'palisade-test-read' }));
  return Object.assign(new TenantReader(pool), { end: () => pool.end() });
}

/** What the reader's suites share: the owner (fixtures), the app pool, a one-connection reader, two tenants with orders. */
export interface ReaderFixture {
  owner: Sql;
  app: Sql;
  reader: TestReader;
  a: Fixture;
  b: Fixture;
  end(): Promise<void>;
}

async function readerFixture(ordersOfA: number, ordersOfB: number): Promise<ReaderFixture> {
  const owner = ownerPool();
  const app = appPool(1);
  const reader = appReader(1);
  const [a, b] = await Promise.all([makeTenantWithOrders(owner, ordersOfA), makeTenantWithOrders(owner, ordersOfB)]);
  return { owner, app, reader, a, b, end: async () => void (await Promise.all([owner.end(), app.end(), reader.end()])) };
}

/**
 * For the reader's test files: two tenants with orders, a one-connection app pool and a
 * one-connection reader, made before the file's tests (handed to `take`) and ended after them.
 */
export function useReaderFixture(ordersOfA: number, ordersOfB: number, take: (fixture: ReaderFixture) => void): void {
  let fixture: ReaderFixture | undefined;
  beforeAll(async () => {
    fixture = await readerFixture(ordersOfA, ordersOfB);
    take(fixture);
  });
  afterAll(() => fixture?.end());
}

/** The platform-admin path's role, as the server's platform procedures use it. */
export function platformPool(max = 2): Sql {
  return onEngine(openPool(pg.platformUrl, { max, applicationName: 'palisade-test-platform' }));
}

/** Fixtures only: the owner is subject to FORCE RLS too, so data goes in through withTenant. */
export function ownerPool(max = 2): Sql {
  return onEngine(openPool(pg.ownerUrl, { max, applicationName: 'palisade-test-owner' }));
}

export function randomSlug(prefix = 't'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** A tenant with an owner API key; with `withOwner`, also an owner user (temporary password). */
export function makeTenant(owner: Sql, name = 'Test tenant', options: { withOwner?: boolean } = {}): Promise<ProvisionedTenant> {
  const slug = randomSlug();
  return provisionTenant(owner, { slug, name, ...(options.withOwner ? { ownerEmail: `owner@${slug}.example` } : {}) });
}

export interface Fixture {
  tenant: ProvisionedTenant;
  customerId: string;
  orderIds: string[];
}

/** A tenant with one customer and `count` orders spread over regions and dates. */
export async function makeTenantWithOrders(owner: Sql, count = 3, name?: string, options: { withOwner?: boolean } = {}): Promise<Fixture> {
  const tenant = await makeTenant(owner, name, options);
  return withTenant(owner, tenant.id, async (tx) => {
    const [customer] = await tx
      .insert(customers)
      .values({ name: 'First customer', email: `first@${tenant.slug}.example` })
      .returning();
    const rows = await tx
      .insert(orders)
      .values(
        Array.from({ length: count }, (_, i) => ({
          customerId: customer!.id,
          region: i % 2 === 0 ? 'north' : 'south',
          amount: `${10 + i}.50`,
          orderDate: `2026-01-${String((i % 28) + 1).padStart(2, '0')}`,
        })),
      )
      .returning({ id: orders.id });
    return { tenant, customerId: customer!.id, orderIds: rows.map((r) => r.id) };
  });
}

export async function addApiKey(owner: Sql, tenant: ProvisionedTenant, values: { revokedAt?: Date; expiresAt?: Date } = {}) {
  const key = generateTenantKey(tenant.slug);
  await withTenant(owner, tenant.id, (tx) =>
    tx.insert(apiKeys).values({ name: 'extra', keyHash: key.hash, keyStart: key.start, ...values }),
  );
  return key.secret;
}

/** Every running test server's credential cache (per test file: files run in their own workers). */
const credentialCaches = new Set<CredentialCache>();

/**
 * For fixtures that change credentials in SQL behind the servers' backs: drops matching cached
 * credentials from every server this file started, as the API's own changes do. (A real server
 * sees such a change after CREDENTIAL_CACHE_TTL_MS; test/credential-cache.test.ts checks that.)
 */
export function evictCredentials(change: CredentialChange): void {
  for (const cache of credentialCaches) cache.evictLocal([change]);
}

export async function setTenantStatus(owner: Sql, tenantId: string, status: 'active' | 'suspended') {
  // tenants is not FORCEd: the owner updates it directly (the app role has no grant at all).
  await owner`update tenants set status = ${status} where id = ${tenantId}`;
  evictCredentials({ tenantId });
}

export interface TestServer {
  url: string;
  /** On by default, as in production; `evictCredentials` reaches it from fixtures. */
  credentialCache: CredentialCache;
  /** Writes the keys' and sessions' noted last use now (the server does it on a timer). */
  lastUsed: LastUsedRecorder;
  /** The change notifications' listener, when started with `changeFeed`. */
  changeFeed?: ChangeFeed;
  client(key?: string, headers?: Record<string, string>): ReturnType<typeof createTRPCClient<AppRouter>>;
  close(): Promise<void>;
}

export interface ServerOptions {
  /** The platform role's pool; one is opened (and closed with the server) when not given. */
  platformPool?: Sql;
  /** "Now" for expiry decisions; move it to test grace periods and session lifetimes. */
  clock?: Clock;
  sessionTtlMinutes?: number;
  /**
   * Parts to use instead of the composition root's (cache, rate limiter, credential cache, catalog,
   * usage recorder, …); a given cache, rate limiter and credential cache are closed with the server.
   */
  deps?: DepsOverrides;
  /** What the database is (the Citus suite); default: plain Postgres. */
  engine?: Engine;
  /** A pinned instance (PALISADE_TENANT): the one tenant it serves. */
  servedTenant?: ServedTenant;
  /** LISTEN for the database's change notifications, as a real server does (off by default in tests). */
  changeFeed?: { origin?: string };
}

/** The server's defaults (config.ts) with the shipped catalog, wherever the tests run from. */
export const TEST_CONFIG = { ...loadConfig({}), catalogPath: fromPackageRoot('catalog.yaml') };

/** The real app on a real port, connected as the app role (and the platform role for admin procedures). */
export async function startServer(pool: Sql, options: ServerOptions = {}): Promise<TestServer> {
  const platform = options.platformPool ?? platformPool();
  const credentialCache = options.deps?.credentialCache ?? new CredentialCache({ ttlMs: TEST_CONFIG.credentialCacheTtlMs });
  credentialCaches.add(credentialCache);
  const built = buildDeps(TEST_CONFIG, { pool, platformPool: platform, engine: options.engine ?? pg.engine, servedTenant: options.servedTenant, changeFeed: options.changeFeed }, {
    clock: options.clock,
    sessionTtlMinutes: options.sessionTtlMinutes,
    ...options.deps,
    credentialCache,
  });
  await built.changeFeed?.ready();
  const { lastUsed } = built.deps;
  const app = createApp(built.deps);
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    credentialCache,
    lastUsed,
    changeFeed: built.changeFeed,
    client: (key, headers = {}) =>
      createTRPCClient<AppRouter>({
        links: [
          httpLink({
            url: `${url}/trpc`,
            headers: () => ({ ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers }),
          }),
        ],
      }),
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Flushes what the requests noted (last use, usage, audit events) and closes the built parts.
      await built.stop();
      credentialCaches.delete(credentialCache);
      await Promise.all([options.deps?.cache?.close(), options.deps?.rateLimiter?.close(), credentialCache.close()]);
      if (!options.platformPool) await platform.end();
    },
  };
}

/** The error a tRPC call failed with, as `{ code, httpStatus, reason, message }`. */
export async function trpcError(call: Promise<unknown>) {
  try {
    await call;
  } catch (error) {
    if (error instanceof TRPCClientError) {
      const data = error.data as { code: string; httpStatus: number; reason: string; issues?: { path: string; message: string }[] };
      return { code: data.code, httpStatus: data.httpStatus, reason: data.reason, message: error.message, issues: data.issues };
    }
    throw error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/**
 * A test file's usual setup: an owner pool for fixtures, an app-role pool, and the real server on
 * it, started before the file's own `beforeAll` hooks and closed after its tests. The pools connect
 * lazily; `server` forwards to the started server.
 */
export function useServer(options: ServerOptions & { appConnections?: number } = {}): { owner: Sql; app: Sql; server: TestServer } {
  const owner = ownerPool();
  const app = appPool(options.appConnections ?? 4);
  let started: TestServer | undefined;
  const running = () => {
    if (!started) throw new Error('the server starts in beforeAll');
    return started;
  };
  beforeAll(async () => {
    started = await startServer(app, options);
  });
  afterAll(async () => {
    await started?.close();
    await Promise.all([owner.end(), app.end()]);
  });
  const server: TestServer = {
    get url() {
      return running().url;
    },
    get credentialCache() {
      return running().credentialCache;
    },
    get lastUsed() {
      return running().lastUsed;
    },
    client: (key, headers) => running().client(key, headers),
    close: () => running().close(),
  };
  return { owner, app, server };
}
