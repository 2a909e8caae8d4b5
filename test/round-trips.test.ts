/**
 * Round trips per request, counted on the wire through a TCP proxy: a "flight" is the client
 * writing after it has heard back from the server. The README quotes these numbers.
 */
import net from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../db/client.js';
import { orders, sessions, users } from '../db/schema/index.js';
import { TenantReader } from '../db/tenant-read.js';
import { withTenant } from '../db/tenant-tx.js';
import { generateSessionToken } from '../src/lib/api-key.js';
import { resolveCredential } from '../src/modules/credentials.service.js';
import { makeTenantWithOrders, ownerPool, pg, type Fixture } from './harness.js';

let proxy: net.Server;
let flights = 0;
let pool: Sql;
let reader: TenantReader;
let owner: Sql;
let fixture: Fixture;

beforeAll(async () => {
  const target = new URL(pg.appUrl);
  proxy = net.createServer((client) => {
    const server = net.connect(Number(target.port || 5432), target.hostname);
    let lastFromClient = false;
    client.on('data', (chunk) => {
      if (!lastFromClient) flights++;
      lastFromClient = true;
      server.write(chunk);
    });
    server.on('data', (chunk) => {
      lastFromClient = false;
      client.write(chunk);
    });
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const viaProxy = new URL(pg.appUrl);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String((proxy.address() as net.AddressInfo).port);
  pool = openPool(viaProxy.toString(), { max: 1 });
  reader = new TenantReader(viaProxy.toString(), { connections: 1 });
  owner = ownerPool();
  fixture = await makeTenantWithOrders(owner, 2);
});
afterAll(async () => {
  await Promise.all([pool.end(), reader.end(), owner.end()]);
  await new Promise((resolve) => proxy.close(resolve));
});

/** Flights used by `run`, after one warm-up call (connection set up, statements prepared). */
async function measure(run: () => Promise<unknown>): Promise<number> {
  await run();
  flights = 0;
  await run();
  return flights;
}

describe('round trips', () => {
  it('a single-statement tenant transaction costs 2 (BEGIN + setting + statement, then COMMIT)', async () => {
    expect(await measure(() => withTenant(pool, fixture.tenant.id, (tx) => tx.select().from(orders)))).toBe(2);
  });

  it('a one-statement tenant read costs 1 (setting and prepared statement in one message), its first use included', async () => {
    const read = (limit: number) => reader.read(fixture.tenant.id, (db) => db.select().from(orders).limit(limit));
    await read(1); // the connection is set up
    flights = 0;
    await reader.read(fixture.tenant.id, (db) => db.select({ id: orders.id }).from(orders).where(eq(orders.status, 'paid'))); // PREPARE and EXECUTE
    expect(flights).toBe(1);
    expect(await measure(() => read(2))).toBe(1);
  });

  it('each further awaited statement adds 1', async () => {
    const twoStatements = () =>
      withTenant(pool, fixture.tenant.id, async (tx) => {
        await tx.select().from(orders);
        return tx.select().from(orders);
      });
    expect(await measure(twoStatements)).toBe(3);
  });

  it('resolving an API key costs 1', async () => {
    expect(await measure(() => resolveCredential(pool, fixture.tenant.apiKey, new Date()))).toBe(1);
  });

  it('resolving a session token costs 1', async () => {
    const token = generateSessionToken(fixture.tenant.slug);
    const userId = (await withTenant(owner, fixture.tenant.id, (tx) =>
      tx.insert(users).values({ email: 'rt@x.example', name: 'rt', role: 'viewer', passwordHash: 'x' }).returning({ id: users.id }),
    ))[0]!.id;
    await withTenant(owner, fixture.tenant.id, (tx) =>
      tx.insert(sessions).values({ userId, tokenHash: token.hash, expiresAt: new Date(Date.now() + 3_600_000) }),
    );
    expect(await measure(() => resolveCredential(pool, token.secret, new Date()))).toBe(1);
  });
});
