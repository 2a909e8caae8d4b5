/**
 * Round trips per request, counted on the wire through a TCP proxy (the bench's flight counter,
 * scripts/bench/round-trips.ts): a "flight" is the client writing after it has heard back from
 * the server. The README quotes these numbers.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../db/client.js';
import { orders, sessions, users } from '../db/schema/index.js';
import { TenantReader } from '../db/tenant-read.js';
import { withTenant } from '../db/tenant-tx.js';
import { generateSessionToken } from '../src/lib/api-key.js';
import { resolveCredential } from '../src/modules/credentials/credentials.service.js';
import { startFlightCounter, type FlightCounter } from '../scripts/bench/round-trips.js';
import { makeTenantWithOrders, ownerPool, pg, type Fixture } from './harness.js';

let counter: FlightCounter;
let pool: Sql;
let reader: TenantReader;
let readerPool: Sql;
let owner: Sql;
let fixture: Fixture;

beforeAll(async () => {
  counter = await startFlightCounter(pg.appUrl);
  pool = openPool(counter.via(pg.appUrl), { max: 1 });
  readerPool = openPool(counter.via(pg.appUrl), { max: 1 });
  reader = new TenantReader(readerPool);
  owner = ownerPool();
  fixture = await makeTenantWithOrders(owner, 2);
});
afterAll(async () => {
  await Promise.all([pool.end(), readerPool.end(), owner.end()]);
  await counter.close();
});

/** Flights used by `run`, after one warm-up call (connection set up, statements prepared). */
async function measure(run: () => Promise<unknown>): Promise<number> {
  await run();
  counter.reset();
  await run();
  return counter.flights;
}

describe('round trips', () => {
  it('a single-statement tenant transaction costs 2 (BEGIN + setting + statement, then COMMIT)', async () => {
    expect(await measure(() => withTenant(pool, fixture.tenant.id, (tx) => tx.select().from(orders)))).toBe(2);
  });

  it('a one-statement tenant read costs 1 (setting and prepared statement in one batch); a statement the pool has never seen costs 1 more, once', async () => {
    const read = (limit: number) => reader.read(fixture.tenant.id, (db) => db.select().from(orders).limit(limit));
    await read(1); // the connection is set up
    counter.reset();
    // postgres.js 4 asks the server for a new statement's parameter types once per pool (Parse +
    // Describe), then sends Bind/Execute of the setting and the statement before one Sync.
    const paid = () => reader.read(fixture.tenant.id, (db) => db.select({ id: orders.id }).from(orders).where(eq(orders.status, 'paid')));
    await paid();
    expect(counter.flights).toBeLessThanOrEqual(2);
    counter.reset();
    await paid();
    expect(counter.flights).toBe(1);
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
