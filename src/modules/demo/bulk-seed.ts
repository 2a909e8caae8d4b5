/**
 * Skewed demo data at scale, for benchmarks and for trying the query API on real volumes
 * (`palisade seed`): a few large tenants and many small ones, sized by Zipf weights 1/rank^s.
 *
 * Fast because rows are generated inside Postgres: per tenant, one `insert … select … from
 * generate_series` for customers and one for orders, run under `withTenant` (FORCE RLS applies to
 * the owner too), a few tenants at a time. Deterministic: every varied value is a hash of
 * (seed, tenant index, row number), never random(), so the same seed gives the same data.
 */
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Sql } from '../../../db/client.js';
import { tenantOf, withTenant, type TenantDb } from '../../../db/tenant-tx.js';
import { AppError } from '../../lib/errors.js';
import type { Actor } from '../audit-log/audit.service.js';
import { NO_CACHES_TO_REPORT, tenantSlug } from '../tenants/tenant-admin.service.js';
import { purgeTenant } from '../tenants/tenant-data.service.js';
import { provisionTenant, SYSTEM_ACTOR } from '../tenants/tenants.service.js';

const MAX_SLUG = 40;

export const bulkSeedInput = z
  .object({
    tenants: z.number().int().min(1).max(100_000),
    orders: z.number().int().min(1).max(100_000_000),
    customersPerTenant: z.number().int().min(1).max(100_000).default(50),
    prefix: tenantSlug.default('bench'),
    seed: z.number().int().min(0).max(2_147_483_647).default(1),
    /** Zipf exponent: 0 is even, ~1.1 is "a few large, many small", higher is steeper. */
    skew: z.number().min(0).max(4).default(1.1),
    /** Purge existing `<prefix>-<n>` tenants first instead of refusing. */
    replace: z.boolean().default(false),
    /** Tenants loaded at once, each on its own pooled connection. */
    concurrency: z.number().int().min(1).max(16).default(2),
  })
  .superRefine((input, ctx) => {
    if (input.orders < input.tenants) {
      ctx.addIssue({ code: 'custom', path: ['orders'], message: `must be at least the number of tenants (${input.tenants}): every tenant gets an order` });
    }
    const longest = slugFor(input.prefix, input.tenants, input.tenants).length;
    if (longest > MAX_SLUG) {
      ctx.addIssue({ code: 'custom', path: ['prefix'], message: `too long: "${slugFor(input.prefix, input.tenants, input.tenants)}" exceeds ${MAX_SLUG} characters` });
    }
  });
export type BulkSeedInput = z.input<typeof bulkSeedInput>;

export interface SeededTenant {
  id: string;
  slug: string;
  name: string;
  /** The owner API key, in clear: the only time it is known. */
  apiKey: string;
  customers: number;
  orders: number;
}

export interface BulkSeedResult {
  prefix: string;
  seed: number;
  skew: number;
  /** Tenants purged first (with `replace`). */
  replaced: number;
  /** Largest first: tenant `<prefix>-1` has rank 1. */
  tenants: SeededTenant[];
  totals: { tenants: number; customers: number; orders: number };
  elapsedMs: number;
}

export type BulkSeedProgress =
  | { phase: 'purge'; done: number; total: number }
  | { phase: 'tenants'; done: number; total: number }
  | { phase: 'rows'; orders: number; totalOrders: number; tenants: number; totalTenants: number }
  | { phase: 'analyze' };

export interface BulkSeedOptions {
  actor?: Actor;
  /** "Today" for order dates: orders span the two years before it. */
  today?: Date;
  onProgress?: (progress: BulkSeedProgress) => void;
}

/** `bench-0042`: zero-padded to at least 4 digits, or to the digits of the tenant count. */
export function slugFor(prefix: string, n: number, tenants: number): string {
  return `${prefix}-${String(n).padStart(Math.max(4, String(tenants).length), '0')}`;
}

/**
 * Splits `total` over `count` tenants by Zipf weights 1/rank^skew: every tenant gets at least one,
 * the rest goes by largest remainder, so the sum is exactly `total` and rank order holds.
 */
export function zipfCounts(count: number, total: number, skew: number): number[] {
  if (total < count) throw new RangeError(`zipfCounts: ${total} cannot give each of ${count} at least one`);
  const weights = Array.from({ length: count }, (_, i) => 1 / (i + 1) ** skew);
  const sum = weights.reduce((a, b) => a + b, 0);
  const spare = total - count;
  const shares = weights.map((w) => (spare * w) / sum);
  const counts = shares.map((s) => 1 + Math.floor(s));
  let left = total - counts.reduce((a, b) => a + b, 0);
  // Ties go to the lower rank, so counts never increase with rank.
  const byRemainder = shares.map((s, i) => ({ i, r: s - Math.floor(s) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of byRemainder) {
    if (left-- <= 0) break;
    counts[i]!++;
  }
  return counts;
}

const COMPANIES = ['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Vandelay', 'Stark', 'Wonka', 'Tyrell', 'Soylent', 'Cyberdyne', 'Oscorp'];
const KINDS = ['Corp', 'Inc', 'Group', 'Labs', 'Ltd', 'Co'];

function nameFor(n: number, slug: string): string {
  return `${COMPANIES[(n - 1) % COMPANIES.length]} ${KINDS[Math.floor((n - 1) / COMPANIES.length) % KINDS.length]} ${slug.slice(slug.lastIndexOf('-') + 1)}`;
}

/** A text-array literal bound as one parameter (Drizzle replaces the driver's array serializer). */
const REGIONS = '{north,south,east,west,central}';
const REGION_COUNT = 5;

/**
 * Seeds `tenants` tenants `<prefix>-<n>` with `orders` orders in total (Zipf-skewed), each with an
 * owner API key and up to `customersPerTenant` customers (never more than it has orders). Refuses
 * with 409 SEED_EXISTS when tenants with that prefix exist, unless `replace` purges them first.
 * Ends with ANALYZE, so plans see the new sizes. Needs the owner's pool (it writes `tenants`).
 */
export async function bulkSeed(ownerPool: Sql, rawInput: BulkSeedInput, options: BulkSeedOptions = {}): Promise<BulkSeedResult> {
  const input = bulkSeedInput.parse(rawInput);
  const actor = options.actor ?? SYSTEM_ACTOR;
  const today = (options.today ?? new Date()).toISOString().slice(0, 10);
  const progress = options.onProgress ?? (() => undefined);
  const started = performance.now();

  const existing = await existingSeedTenants(ownerPool, input.prefix);
  if (existing.length && !input.replace) {
    const sample = existing.slice(0, 3).map((t) => t.slug).join(', ');
    throw new AppError(
      'SEED_EXISTS',
      `${existing.length} tenant(s) with the prefix "${input.prefix}" already exist (${sample}${existing.length > 3 ? ', …' : ''}); pass --replace to delete and reseed them, or choose another --prefix.`,
    );
  }
  let purged = 0;
  await inParallel(existing, input.concurrency, async (tenant) => {
    await purgeTenant(ownerPool, { tenantId: tenant.id, confirm: tenant.slug }, actor, NO_CACHES_TO_REPORT);
    progress({ phase: 'purge', done: ++purged, total: existing.length });
  });

  const counts = zipfCounts(input.tenants, input.orders, input.skew);
  const specs = counts.map((orders, i) => {
    const slug = slugFor(input.prefix, i + 1, input.tenants);
    return { index: i + 1, slug, name: nameFor(i + 1, slug), orders, customers: Math.min(input.customersPerTenant, orders) };
  });

  // The tenant, its owner key and their audit events, as every other tenant gets them.
  const provisioned = new Map<number, { id: string; apiKey: string }>();
  await inParallel(specs, input.concurrency, async (spec) => {
    const tenant = await provisionTenant(ownerPool, { slug: spec.slug, name: spec.name }, actor);
    provisioned.set(spec.index, { id: tenant.id, apiKey: tenant.apiKey });
    progress({ phase: 'tenants', done: provisioned.size, total: specs.length });
  });

  let loadedOrders = 0;
  let loadedTenants = 0;
  // Largest first (specs are in rank order), so the longest load starts at once.
  await inParallel(specs, input.concurrency, async (spec) => {
    const { id } = provisioned.get(spec.index)!;
    await withTenant(ownerPool, id, (tx) => loadTenantRows(tx, { ...spec, seed: input.seed, today }));
    loadedOrders += spec.orders;
    progress({ phase: 'rows', orders: loadedOrders, totalOrders: input.orders, tenants: ++loadedTenants, totalTenants: specs.length });
  });

  progress({ phase: 'analyze' });
  await ownerPool.unsafe('analyze tenants, api_keys, customers, orders');

  const tenants = specs.map((spec) => ({ id: provisioned.get(spec.index)!.id, slug: spec.slug, name: spec.name, apiKey: provisioned.get(spec.index)!.apiKey, customers: spec.customers, orders: spec.orders }));
  return {
    prefix: input.prefix,
    seed: input.seed,
    skew: input.skew,
    replaced: existing.length,
    tenants,
    totals: { tenants: tenants.length, customers: tenants.reduce((a, t) => a + t.customers, 0), orders: input.orders },
    elapsedMs: Math.round(performance.now() - started),
  };
}

/** Tenants named `<prefix>-<digits>`: what an earlier seed with this prefix created. */
async function existingSeedTenants(ownerPool: Sql, prefix: string): Promise<{ id: string; slug: string }[]> {
  // `tenants` is a platform table the owner reads directly. The prefix is compared, not pattern-matched.
  return ownerPool<{ id: string; slug: string }[]>`
    select id, slug from tenants
    where left(slug, ${prefix.length + 1}) = ${`${prefix}-`} and substr(slug, ${prefix.length + 2}) ~ '^[0-9]+$'
    order by slug`;
}

/**
 * Customers, then orders, generated server-side. Each order's values come from hashes of
 * (tenant index, row number) salted by the seed: uniform numbers u1…u6 in [0, 1), bent by powers
 * to skew them (recent dates, small amounts, a dominant region per tenant, some busy customers).
 */
async function loadTenantRows(
  tx: TenantDb,
  spec: { index: number; slug: string; name: string; customers: number; orders: number; seed: number; today: string },
): Promise<void> {
  // `on conflict … do nothing` never fires (fresh ids); on Citus it keeps INSERT … SELECT off the COPY path RLS refuses.
  await tx.execute(sql`
    insert into customers (name, email)
    select ${spec.name} || ' customer ' || g, 'customer' || g || '@' || ${spec.slug} || '.example'
    from generate_series(1, ${spec.customers}::int) g
    on conflict (tenant_id, id) do nothing`);
  // 2^53 - 1: the hash's low 53 bits fit a double exactly, giving u in [0, 1). The tenant is
  // named as well as left to the policy: a superuser owner (a bench on DATABASE_URL) bypasses RLS.
  await tx.execute(sql`
    with c as (select array_agg(id order by email) as ids, count(*)::int as n from customers where tenant_id = ${tenantOf(tx)}::uuid)
    insert into orders (customer_id, region, amount, order_date, status, created_at)
    select
      c.ids[1 + floor(c.n * power(u.u1, 2))::int],
      (${REGIONS}::text[])[1 + (${spec.index}::int + floor(${REGION_COUNT}::int * power(u.u2, 1.8))::int) % ${REGION_COUNT}::int],
      round((5 + 1995 * power(u.u3, 4))::numeric, 2),
      d.day,
      case when u.u4 < 0.55 then 'paid' when u.u4 < 0.80 then 'shipped' when u.u4 < 0.92 then 'pending' else 'cancelled' end,
      d.day + make_interval(secs => floor(u.u6 * 86400))
    from c, generate_series(1, ${spec.orders}::int) g
    cross join lateral (select (${spec.index}::bigint << 32) | g as k) key
    cross join lateral (
      select
        (hashint8extended(key.k, ${spec.seed}::bigint * 8 + 1) & 9007199254740991)::float8 / 9007199254740992 as u1,
        (hashint8extended(key.k, ${spec.seed}::bigint * 8 + 2) & 9007199254740991)::float8 / 9007199254740992 as u2,
        (hashint8extended(key.k, ${spec.seed}::bigint * 8 + 3) & 9007199254740991)::float8 / 9007199254740992 as u3,
        (hashint8extended(key.k, ${spec.seed}::bigint * 8 + 4) & 9007199254740991)::float8 / 9007199254740992 as u4,
        (hashint8extended(key.k, ${spec.seed}::bigint * 8 + 5) & 9007199254740991)::float8 / 9007199254740992 as u5,
        (hashint8extended(key.k, ${spec.seed}::bigint * 8 + 6) & 9007199254740991)::float8 / 9007199254740992 as u6
    ) u
    cross join lateral (select ${spec.today}::date - floor(730 * power(u.u5, 1.5))::int as day) d
    on conflict (tenant_id, id) do nothing`);
}

/**
 * Runs `fn` over `items` in order, at most `limit` at a time. A failure stops new starts; the
 * calls in flight are awaited before it is rethrown, so nothing still runs on the pool after.
 */
async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failure = results.find((r) => r.status === 'rejected');
  if (failure) throw failure.reason;
}
