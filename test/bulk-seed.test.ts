/**
 * The bulk seed (`palisade seed`): exact Zipf-skewed counts, rows that stay inside their tenant
 * (checked as the app role, one tenant at a time), working owner keys, determinism by seed, and
 * the refusal to seed a prefix twice unless asked to replace it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { withTenant } from '../db/tenant-tx.js';
import { bulkSeed, slugFor, zipfCounts, type BulkSeedResult } from '../src/modules/demo/bulk-seed.js';
import { resolveCredential } from '../src/modules/credentials/credentials.service.js';
import { appPool, ownerPool, randomSlug } from './harness.js';

const TODAY = new Date('2026-03-15T12:00:00Z');

let owner: Sql;
let app: Sql;
beforeAll(() => {
  owner = ownerPool(4);
  app = appPool();
});
afterAll(async () => {
  await app?.end();
  await owner?.end();
});

/** What a tenant holds, read as the app role under its own context. */
async function fingerprint(tenantId: string) {
  return withTenant(app, tenantId, async (tx) => {
    const [row] = await tx.$client`
      select
        (select count(*)::int from orders) as orders,
        (select count(*)::int from customers) as customers,
        (select sum(amount)::text from orders) as revenue,
        (select min(order_date)::text || '..' || max(order_date)::text from orders) as dates,
        (select string_agg(region || '=' || n, ',' order by region) from (select region, count(*) n from orders group by region) r) as regions,
        (select string_agg(status || '=' || n, ',' order by status) from (select status, count(*) n from orders group by status) s) as statuses,
        -- Customers by their (per-tenant) email, not their random ids.
        (select md5(string_agg(split_part(c.email, '@', 1), ',' order by o.created_at, o.amount, c.email)) from orders o join customers c on c.id = o.customer_id) as buyers,
        (select count(*)::int from orders o where not exists (select 1 from customers c where c.id = o.customer_id)) as orphans`;
    return { ...row } as { orders: number; customers: number; revenue: string; dates: string; regions: string; statuses: string; buyers: string; orphans: number };
  });
}

describe('zipfCounts', () => {
  it('splits exactly, gives everyone at least one, and never grows with rank', () => {
    for (const [count, total, skew] of [[1, 1, 1.1], [7, 7, 1.1], [20, 5000, 1.1], [1000, 1_000_000, 1.1], [333, 100_003, 2], [10, 95, 0]] as const) {
      const counts = zipfCounts(count, total, skew);
      expect(counts).toHaveLength(count);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(total);
      expect(Math.min(...counts)).toBeGreaterThanOrEqual(1);
      counts.slice(1).forEach((c, i) => expect(c).toBeLessThanOrEqual(counts[i]!));
    }
    // Skew 0 is an even split.
    expect(zipfCounts(10, 95, 0)).toEqual([10, 10, 10, 10, 10, 9, 9, 9, 9, 9]);
    expect(() => zipfCounts(5, 4, 1)).toThrow(RangeError);
  });

  it('pads slugs to the tenant count', () => {
    expect(slugFor('bench', 7, 1000)).toBe('bench-0007');
    expect(slugFor('bench', 7, 100_000)).toBe('bench-000007');
  });
});

describe('bulkSeed', () => {
  let first: BulkSeedResult;
  const started = new Date();

  beforeAll(async () => {
    first = await bulkSeed(owner, { tenants: 20, orders: 5000, prefix: randomSlug('bulk'), seed: 3 }, { today: TODAY });
  }, 60_000);

  it('loads exactly the orders asked for, skewed, every tenant at least one, all inside their tenant', async () => {
    expect(first.totals).toEqual({ tenants: 20, customers: first.tenants.reduce((a, t) => a + t.customers, 0), orders: 5000 });
    expect(first.tenants.map((t) => t.slug)).toEqual(Array.from({ length: 20 }, (_, i) => slugFor(first.prefix, i + 1, 20)));

    const prints = await Promise.all(first.tenants.map((t) => fingerprint(t.id)));
    const counts = prints.map((p) => p.orders);
    expect(counts).toEqual(first.tenants.map((t) => t.orders));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(5000);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(1);
    const median = [...counts].sort((a, b) => a - b)[10]!;
    expect(counts[0]!).toBeGreaterThanOrEqual(10 * median);
    // Every order's customer is visible under the order's own tenant: none belongs to another.
    expect(prints.map((p) => p.orphans)).toEqual(counts.map(() => 0));
    prints.forEach((p, i) => expect(p.customers).toBe(first.tenants[i]!.customers));
    // Two years back from "today", with variety.
    expect(prints[0]!.dates).toMatch(/^2024-0[34]-\d\d\.\.2026-03-1[45]$/);
    expect(prints[0]!.regions.split(',')).toHaveLength(5);
    expect(prints[0]!.statuses.split(',').map((s) => s.split('=')[0])).toEqual(['cancelled', 'paid', 'pending', 'shipped']);
  });

  it('gives each tenant an owner key that authenticates as that tenant', async () => {
    for (const t of first.tenants) {
      await expect(resolveCredential(app, t.apiKey, new Date())).resolves.toMatchObject({ kind: 'tenant', tenantId: t.id, tenantSlug: t.slug, role: 'owner' });
    }
  });

  it('analyzes the tables after loading', async () => {
    const [row] = await owner<{ fresh: boolean }[]>`
      select last_analyze >= ${started.toISOString()}::timestamptz - interval '1 second' as fresh
      from pg_stat_user_tables where relname = 'orders'`;
    expect(row!.fresh).toBe(true);
  });

  it('is deterministic: the same seed gives the same rows per tenant, another seed other values', async () => {
    const [same, other] = await Promise.all([
      bulkSeed(owner, { tenants: 20, orders: 5000, prefix: randomSlug('bulk'), seed: 3 }, { today: TODAY }),
      bulkSeed(owner, { tenants: 20, orders: 5000, prefix: randomSlug('bulk'), seed: 4 }, { today: TODAY }),
    ]);
    expect(same.tenants.map((t) => t.orders)).toEqual(first.tenants.map((t) => t.orders));
    expect(other.tenants.map((t) => t.orders)).toEqual(first.tenants.map((t) => t.orders));
    const strip = ({ orphans: _o, ...p }: Awaited<ReturnType<typeof fingerprint>>) => p;
    const [a, b, c] = await Promise.all([first, same, other].map((r) => Promise.all(r.tenants.slice(0, 3).map((t) => fingerprint(t.id).then(strip)))));
    expect(b).toEqual(a);
    expect(c!.map((p) => p.revenue)).not.toEqual(a!.map((p) => p.revenue));
  }, 60_000);

  it('refuses to seed a prefix that exists, naming --replace, and leaves it untouched', async () => {
    const error = await bulkSeed(owner, { tenants: 2, orders: 2, prefix: first.prefix }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CONFLICT', reason: 'SEED_EXISTS' });
    expect((error as Error).message).toMatch(new RegExp(`20 tenant\\(s\\) with the prefix "${first.prefix}" already exist.*--replace`));
    const [row] = await owner<{ n: number }[]>`select count(*)::int as n from tenants where slug like ${`${first.prefix}-%`}`;
    expect(row!.n).toBe(20);
  });
});

describe('bulkSeed --replace', () => {
  it('deletes the earlier tenants with their rows and keys, then seeds again', async () => {
    const prefix = randomSlug('repl');
    const before = await bulkSeed(owner, { tenants: 3, orders: 30, prefix });
    const after = await bulkSeed(owner, { tenants: 2, orders: 10, prefix, replace: true });
    expect(after.replaced).toBe(3);
    const rows = await owner<{ id: string; slug: string }[]>`select id, slug from tenants where slug like ${`${prefix}-%`} order by slug`;
    expect(rows.map((r) => ({ ...r }))).toEqual(after.tenants.map((t) => ({ id: t.id, slug: t.slug })));
    expect((await fingerprint(after.tenants[0]!.id)).orders).toBe(after.tenants[0]!.orders);
    for (const t of before.tenants) {
      expect(after.tenants.map((a) => a.id)).not.toContain(t.id);
      await expect(resolveCredential(app, t.apiKey, new Date())).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    }
  });

  it('rejects impossible sizes naming the field', async () => {
    await expect(bulkSeed(owner, { tenants: 5, orders: 4, prefix: randomSlug('bad') })).rejects.toMatchObject({
      issues: [expect.objectContaining({ path: ['orders'], message: expect.stringMatching(/at least the number of tenants \(5\)/) })],
    });
    await expect(bulkSeed(owner, { tenants: 5, orders: 5, prefix: 'x'.repeat(36) })).rejects.toMatchObject({
      issues: [expect.objectContaining({ path: ['prefix'] })],
    });
  });
});
