/**
 * Database faults and draining without a server process: the app (createApp on a real port)
 * over pools that point at a closed port, at a server that accepts and never answers, or that
 * have no free connection. Every such request answers 503 with a reason and Retry-After on both
 * /trpc paths and on /v1, an outage is logged once, /readyz answers within a second in every
 * state, and a draining app says so and closes connections. test/faults-postgres.test.ts and
 * test/faults-shutdown.test.ts do the same against real processes.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../db/client.js';
import type { AppDeps } from '../src/app.js';
import { DatabaseHealth } from '../src/http/database-health.js';
import type { Lifecycle } from '../src/http/lifecycle.js';
import { generateTenantKey } from '../src/lib/api-key.js';
import type { Logger } from '../src/lib/log.js';
import { appPool, makeTenantWithOrders, ownerPool, pg, startServer, type Fixture, type TestServer } from './harness.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The app role's URL with another port. */
function appUrlOn(port: number): string {
  const url = new URL(pg.appUrl);
  url.port = String(port);
  return url.toString();
}

/** A TCP server that accepts connections and never says a word: a hung database. */
async function silentServer(): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as net.AddressInfo).port;
}

function collectingLog() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const log: Logger = (level, message, fields) => void lines.push({ level, message, fields });
  return { log, lines };
}

interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: unknown;
  ms: number;
}

/** A request over node:http (fetch hides `Connection`), with the elapsed time. */
function request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent } = {}): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers, agent: init.agent ?? false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]));
        resolve({ status: res.statusCode ?? 0, headers, body: text ? (JSON.parse(text) as unknown) : undefined, ms: performance.now() - started });
      });
    });
    req.setTimeout(5_000, () => req.destroy(new Error(`no answer from ${url} within 5 s`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

/** The reason of a tRPC or REST error body. */
function reasonOf(body: unknown): string | undefined {
  const b = body as { error?: { data?: { reason?: string }; reason?: string } };
  return b.error?.data?.reason ?? b.error?.reason;
}

/** The same failing call on each way in: tRPC's direct path, tRPC's adapter (a query and a mutation), REST. */
function everyPath(url: string, key: string, customerId = '00000000-0000-4000-8000-000000000000') {
  const auth = { authorization: `Bearer ${key}` };
  return {
    'tRPC GET (direct path)': () => request(`${url}/trpc/orders.list`, { headers: auth }),
    'tRPC GET (adapter)': () => request(`${url}/trpc/orders.list`, { headers: { ...auth, 'trpc-accept': 'application/json' } }),
    'tRPC POST (adapter)': () =>
      request(`${url}/trpc/orders.create`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ customerId, region: 'north', amount: 1, orderDate: '2026-03-01' }),
      }),
    'REST /v1': () => request(`${url}/v1/datasets`, { headers: auth }),
  };
}

async function serverOver(pool: Sql, deps: Partial<AppDeps>): Promise<TestServer> {
  const server = await startServer(pool, { deps });
  cleanups.push(() => server.close());
  return server;
}

describe('the database unreachable', () => {
  it('every path answers 503 DATABASE_UNAVAILABLE with Retry-After, fast; the outage is logged once', async () => {
    const closed = await freePort();
    const pool = openPool(appUrlOn(closed), { max: 2, connectTimeoutMs: 500, connectWaitMs: 1_000 });
    cleanups.push(() => pool.end({ timeout: 1 }));
    const { log, lines } = collectingLog();
    const health = new DatabaseHealth({ sql: pool, log, reprobeMs: 60_000 });
    cleanups.push(() => health.close());
    const server = await serverOver(pool, { log, health });
    // A well-formed key: authentication has to ask the database.
    const key = generateTenantKey('acme').secret;

    for (let round = 0; round < 3; round++) {
      for (const [name, call] of Object.entries(everyPath(server.url, key))) {
        const answer = await call();
        expect({ name, status: answer.status, reason: reasonOf(answer.body), retryAfter: answer.headers['retry-after'] }).toEqual({
          name,
          status: 503,
          reason: 'DATABASE_UNAVAILABLE',
          retryAfter: '2',
        });
        expect(answer.ms).toBeLessThan(1_000);
      }
    }
    const readyz = await request(`${server.url}/readyz`);
    expect([readyz.status, reasonOf(readyz.body)]).toEqual([503, 'DATABASE_UNAVAILABLE']);
    expect(readyz.ms).toBeLessThan(1_000);

    expect(lines.filter((l) => l.message.startsWith('database unavailable'))).toHaveLength(1);
    expect(lines.filter((l) => l.level === 'error' && l.message !== lines[0]!.message)).toEqual([]);
    expect(health.unavailable).toBe(true);
  });

  it('/readyz answers 503 within a second when the database accepts connections and never answers', async () => {
    const hung = await silentServer();
    const readiness = openPool(appUrlOn(hung), { max: 1, connectTimeoutMs: 1_000, connectWaitMs: 1_000 });
    cleanups.push(() => readiness.end({ timeout: 0 }));
    const app = appPool(1);
    cleanups.push(() => app.end());
    const { log, lines } = collectingLog();
    const health = new DatabaseHealth({ sql: readiness, log, reprobeMs: 60_000 });
    cleanups.push(() => health.close());
    const server = await serverOver(app, { log, health });
    const answers = await Promise.all([request(`${server.url}/readyz`), request(`${server.url}/readyz`)]);
    answers.push(await request(`${server.url}/readyz`));
    for (const answer of answers) {
      expect([answer.status, reasonOf(answer.body)]).toEqual([503, 'DATABASE_UNAVAILABLE']);
      expect(answer.ms).toBeLessThan(1_000);
    }
    console.log(`[faults] readyz, database hung: ${answers.map((a) => `${Math.round(a.ms)} ms`).join(', ')}`);
    expect(lines.filter((l) => l.message.startsWith('database unavailable'))).toHaveLength(1);
  });
});

describe('the app pool saturated', () => {
  let owner: Sql;
  let fixture: Fixture;
  beforeAll(async () => {
    owner = ownerPool();
    cleanups.push(() => owner.end());
    fixture = await makeTenantWithOrders(owner, 2);
  });

  it('waits for a connection at most DB_CONNECT_WAIT_MS, then 503 DATABASE_BUSY; /readyz stays fast and ready', async () => {
    const pool = openPool(pg.appUrl, { max: 1, connectWaitMs: 300, applicationName: 'palisade-test' });
    cleanups.push(() => pool.end());
    const readiness = openPool(pg.appUrl, { max: 1, applicationName: 'palisade-test-readiness' });
    cleanups.push(() => readiness.end());
    const { log, lines } = collectingLog();
    const health = new DatabaseHealth({ sql: readiness, log });
    cleanups.push(() => health.close());
    const server = await serverOver(pool, { log, health });

    const held = await pool.reserve();
    try {
      for (const [name, call] of Object.entries(everyPath(server.url, fixture.tenant.apiKey, fixture.customerId))) {
        const answer = await call();
        expect({ name, status: answer.status, reason: reasonOf(answer.body), retryAfter: answer.headers['retry-after'] }).toEqual({
          name,
          status: 503,
          reason: 'DATABASE_BUSY',
          retryAfter: '1',
        });
        expect(answer.ms).toBeGreaterThanOrEqual(250);
        expect(answer.ms).toBeLessThan(1_000);
      }
      const readyz = await Promise.all(Array.from({ length: 5 }, () => request(`${server.url}/readyz`)));
      for (const answer of readyz) {
        expect(answer.status).toBe(200);
        expect(answer.ms).toBeLessThan(1_000);
      }
      console.log(`[faults] readyz, app pool saturated: ${readyz.map((a) => `${Math.round(a.ms)} ms`).join(', ')}`);
    } finally {
      held.release();
    }
    // Saturation is not an outage: one warning, no error.
    expect(lines.map((l) => l.level)).toEqual(['warn']);
    expect(lines[0]!.message).toMatch(/DATABASE_BUSY/);
    // And the pool serves again as soon as the connection is free.
    expect((await request(`${server.url}/trpc/orders.list`, { headers: { authorization: `Bearer ${fixture.tenant.apiKey}` } })).status).toBe(200);
  });
});

describe('draining', () => {
  it('/readyz answers 503 SHUTTING_DOWN, and every response asks to close the connection', async () => {
    const pool = appPool(1);
    cleanups.push(() => pool.end());
    const lifecycle: Lifecycle = { draining: false };
    const server = await serverOver(pool, { lifecycle });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    const before = await request(`${server.url}/readyz`, { agent });
    expect([before.status, before.headers.connection]).toEqual([200, 'keep-alive']);

    lifecycle.draining = true;
    const readyz = await request(`${server.url}/readyz`, { agent });
    expect([readyz.status, reasonOf(readyz.body), readyz.headers.connection]).toEqual([503, 'SHUTTING_DOWN', 'close']);
    expect((await request(`${server.url}/healthz`, { agent })).headers.connection).toBe('close');
    const notFound = await request(`${server.url}/nowhere`, { agent });
    expect([notFound.status, notFound.headers.connection]).toEqual([404, 'close']);
    const unauthenticated = await request(`${server.url}/trpc/orders.list`, { agent });
    expect([unauthenticated.status, unauthenticated.headers.connection]).toEqual([401, 'close']);
    const rest = await request(`${server.url}/v1/datasets`, { agent });
    expect([rest.status, rest.headers.connection]).toEqual([401, 'close']);
  });
});
