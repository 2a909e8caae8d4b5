/**
 * The bench's data: the fast skewed seed (src/modules/demo/bulk-seed.ts), reused when the prefix already
 * holds the requested sizes and its keys file is at hand, and a sample of (tenant, order) pairs
 * for point lookups, read once through the bypass role.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Sql } from '../../db/client.js';
import { bulkSeed, type BulkSeedProgress, type SeededTenant } from '../../src/modules/demo/bulk-seed.js';
import { NO_CACHES_TO_REPORT } from '../../src/modules/tenants/tenant-admin.service.js';
import { purgeTenant } from '../../src/modules/tenants/tenant-data.service.js';
import { SYSTEM_ACTOR } from '../../src/modules/tenants/tenants.service.js';

export interface SeedInfo {
  prefix: string;
  tenants: SeededTenant[];
  totalOrders: number;
  /** False when an earlier run's seed was reused. */
  seeded: boolean;
  seedMs: number;
  keysFile: string;
}

interface KeysFile {
  format: 'palisade-seed';
  prefix: string;
  tenants: SeededTenant[];
}

export function keysFilePath(dataDir: string, prefix: string): string {
  return path.join(dataDir, `seed-${prefix}.json`);
}

function readKeys(file: string): KeysFile | undefined {
  try {
    const body = JSON.parse(fs.readFileSync(file, 'utf8')) as KeysFile;
    return body.format === 'palisade-seed' && Array.isArray(body.tenants) ? body : undefined;
  } catch {
    return undefined;
  }
}

/** Tenants `<prefix>-<n>` and their orders, counted as the superuser (across tenants). */
async function existing(su: Sql, prefix: string): Promise<{ ids: Set<string>; orders: number }> {
  const rows = await su<{ id: string }[]>`
    select id from tenants
    where left(slug, ${prefix.length + 1}) = ${`${prefix}-`} and substr(slug, ${prefix.length + 2}) ~ '^[0-9]+$'`;
  // Counted in a second statement: Citus refuses a correlated subquery on orders under `tenants` (a reference table there).
  const [{ n } = { n: '0' }] = await su<{ n: string }[]>`select count(*) as n from orders where tenant_id = any(${`{${rows.map((r) => r.id).join(',')}}`}::uuid[])`;
  return { ids: new Set(rows.map((r) => r.id)), orders: Number(n) };
}

/**
 * `tenants` × `orders` under `prefix`: reused when the database and the keys file agree with the
 * request, otherwise (re)seeded with `replace` and the keys file rewritten (0600: owner keys in clear).
 */
export async function ensureSeed(
  owner: Sql,
  su: Sql,
  opts: { dataDir: string; prefix: string; tenants: number; orders: number },
  log: (line: string) => void,
): Promise<SeedInfo> {
  const file = keysFilePath(opts.dataDir, opts.prefix);
  const have = await existing(su, opts.prefix);
  const keys = readKeys(file);
  const matches =
    keys !== undefined &&
    have.ids.size === opts.tenants &&
    have.orders === opts.orders &&
    keys.tenants.length === opts.tenants &&
    keys.tenants.every((t) => have.ids.has(t.id));
  if (matches) {
    log(`reusing seed "${opts.prefix}": ${opts.tenants} tenants, ${opts.orders} orders`);
    return { prefix: opts.prefix, tenants: keys.tenants, totalOrders: opts.orders, seeded: false, seedMs: 0, keysFile: file };
  }
  log(`seeding "${opts.prefix}": ${opts.tenants} tenants × ${opts.orders} orders${have.ids.size ? ` (replacing ${have.ids.size} tenants)` : ''}…`);
  const result = await bulkSeed(
    owner,
    { tenants: opts.tenants, orders: opts.orders, prefix: opts.prefix, replace: true, concurrency: 2 },
    { onProgress: progressLogger(log) },
  );
  const body: KeysFile = { format: 'palisade-seed', prefix: result.prefix, tenants: result.tenants };
  fs.writeFileSync(file, `${JSON.stringify(body)}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  // A replaced seed leaves its old rows dead in the table: without a vacuum the planner sees a
  // bloated table (a sequential scan for the largest tenant) and every variant reads dead pages.
  // FULL, because a plain vacuum keeps the pages: after a --scale run (10M rows) a --quick seed of
  // 200,000 rows sat in a table of 10M rows' pages and its largest tenant's plan changed.
  if (have.ids.size) await su.unsafe('vacuum full analyze orders');
  log(`seeded in ${(result.elapsedMs / 1000).toFixed(1)} s`);
  return { prefix: opts.prefix, tenants: result.tenants, totalOrders: opts.orders, seeded: true, seedMs: result.elapsedMs, keysFile: file };
}

function progressLogger(log: (line: string) => void): (p: BulkSeedProgress) => void {
  let lastStep = -1;
  return (p) => {
    if (p.phase !== 'rows') return;
    const step = Math.floor((p.orders / p.totalOrders) * 4);
    if (step === lastStep) return;
    lastStep = step;
    log(`  orders loaded: ${p.orders.toLocaleString('en-US')} / ${p.totalOrders.toLocaleString('en-US')}`);
  };
}

export interface OrderRef {
  tenantId: string;
  id: string;
}

/**
 * Up to `size` (tenant, order id) pairs of the given tenants, sampled uniformly over their orders,
 * shuffled. Read through the bypass role: the sample is input, not something being measured.
 */
export async function sampleOrders(bypass: Sql, tenants: readonly { id: string; orders: number }[], size: number): Promise<OrderRef[]> {
  const total = tenants.reduce((a, t) => a + t.orders, 0);
  const percent = Math.min(100, ((size * 1.3) / Math.max(1, total)) * 100);
  // A text literal with a cast: arrays are not passed as raw bound parameters (README, Drizzle serializers).
  const ids = `{${tenants.map((t) => t.id).join(',')}}`;
  const rows = await bypass<{ tenant_id: string; id: string }[]>`
    select tenant_id, id from orders tablesample bernoulli (${percent}::float4)
    where tenant_id = any(${ids}::uuid[])`;
  const refs = rows.map((r) => ({ tenantId: r.tenant_id, id: r.id }));
  // Shuffled before cutting: a LIMIT in SQL would keep the rows stored first (the largest tenants).
  for (let i = refs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [refs[i], refs[j]] = [refs[j]!, refs[i]!];
  }
  return refs.slice(0, size);
}

/** Deletes the tenants `<prefix>-<n>` and their rows (the scale phase's extra tenants); returns how many. */
export async function purgeSeed(owner: Sql, su: Sql, prefix: string, dataDir: string): Promise<number> {
  const { ids } = await existing(su, prefix);
  const slugs = await owner<{ id: string; slug: string }[]>`select id, slug from tenants where id = any(${`{${[...ids].join(',')}}`}::uuid[])`;
  for (const t of slugs) await purgeTenant(owner, { tenantId: t.id, confirm: t.slug }, SYSTEM_ACTOR, NO_CACHES_TO_REPORT);
  fs.rmSync(keysFilePath(dataDir, prefix), { force: true });
  return slugs.length;
}
