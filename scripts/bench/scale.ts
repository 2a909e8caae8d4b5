/**
 * `--scale`: does RLS cost the same on a bigger table? The same small tenant's point lookup and
 * aggregate, runner vs the limit (both on postgres.js, so the ratio moves only with what isolation
 * costs, not with two drivers' noise), measured on the base table, then again after other tenants' orders
 * (a second prefix, removed again afterwards) grow the table tenfold. Before each measurement: VACUUM ANALYZE, and the table
 * and its indexes pre-warmed (pg_prewarm, else full scans), so both sizes are measured from memory.
 */
import { TenantReader } from '../../db/tenant-read.js';
import { openPool, drizzleOver, type Sql } from '../../db/client.js';
import { closedLoop } from './db-layer.js';
import { ensureSeed, purgeSeed } from './seed.js';
import { medianRound, ratio, round, type RunSummary } from './stats.js';
import { runVariant, type QueryName, type VariantName } from './variants.js';

export const SCALE_PREFIX = 'bulk';

export interface ScaleCell {
  totalOrders: number;
  query: QueryName;
  variant: Extract<VariantName, 'limit' | 'runner'>;
  concurrency: number;
  result: RunSummary;
}

export interface ScaleResult {
  tenant: { id: string; slug: string; orders: number };
  sizes: number[];
  cells: ScaleCell[];
  prewarm: 'pg_prewarm' | 'full scan';
  /**
   * Per query: runner / limit at each size, and the big size's p50 over the base size's
   * (`p50Growth` for the runner; `limitP50Growth` for the limit, which has no RLS: what the
   * table's size costs any query).
   */
  comparison: { query: QueryName; ratioBase?: number; ratioBig?: number; ratioDrift?: number; p50Growth?: number; limitP50Growth?: number }[];
}

export interface ScaleOptions {
  dataDir: string;
  superuserUrl: string;
  ownerUrl: string;
  appUrl: string;
  bypassUrl: string;
  baseOrders: number;
  bigOrders: number;
  durationMs: number;
  rounds: number;
  poolSize: number;
}

async function warm(su: Sql): Promise<'pg_prewarm' | 'full scan'> {
  await su.unsafe('vacuum analyze orders');
  try {
    await su.unsafe('create extension if not exists pg_prewarm');
    const rels = await su<{ rel: string }[]>`
      select c.oid::regclass::text as rel from pg_class c
      where c.oid = 'orders'::regclass or c.oid in (select indexrelid from pg_index where indrelid = 'orders'::regclass)`;
    for (const { rel } of rels) await su`select pg_prewarm(${rel}::regclass)`;
    return 'pg_prewarm';
  } catch {
    await su.unsafe('select count(*) from orders');
    return 'full scan';
  }
}

export async function runScale(
  opts: ScaleOptions,
  tenant: { id: string; slug: string; orders: number },
  log: (line: string) => void,
): Promise<ScaleResult> {
  const su = openPool(opts.superuserUrl, { max: 1, applicationName: 'palisade-bench' });
  const owner = openPool(opts.ownerUrl, { max: 2, applicationName: 'palisade-bench' });
  const bypass = openPool(opts.bypassUrl, { max: opts.poolSize, applicationName: 'palisade-bench-limit' });
  // The reader borrows this app-role pool (ended below); rls-only and naive, not measured here, share it.
  const app = openPool(opts.appUrl, { max: opts.poolSize, applicationName: 'palisade-bench-runner' });
  const runner = new TenantReader(app);
  const pools = { bypass, runner, bound: runner, rlsOnly: runner, naive: drizzleOver(app), engine: runner.engine };
  const cells: ScaleCell[] = [];
  let prewarm: ScaleResult['prewarm'] = 'full scan';
  try {
    const ids = (await bypass<{ id: string }[]>`select id from orders where tenant_id = ${tenant.id} limit 1000`).map((r) => r.id);
    const input = (query: QueryName) => () => ({ tenantId: tenant.id, id: query === 'point' ? ids[Math.floor(Math.random() * ids.length)] : undefined });
    const measure = async (totalOrders: number) => {
      prewarm = await warm(su);
      for (const query of ['point', 'aggregate'] as const) {
        for (const concurrency of [1, 8]) {
          const rounds: Record<string, RunSummary[]> = { limit: [], runner: [] };
          const pick = input(query);
          for (let r = 0; r < opts.rounds; r++) {
            for (const variant of (r % 2 ? ['runner', 'limit'] : ['limit', 'runner']) as ('limit' | 'runner')[]) {
              const { summary } = await closedLoop(() => runVariant(pools, variant, query, pick()), concurrency, opts.durationMs);
              rounds[variant]!.push(summary);
            }
          }
          for (const variant of ['limit', 'runner'] as const) cells.push({ totalOrders, query, variant, concurrency, result: medianRound(rounds[variant]!) });
        }
      }
    };
    // A run that stopped half-way may have left the extra tenants behind.
    if (await purgeSeed(owner, su, SCALE_PREFIX, opts.dataDir)) log('scale: removed the extra tenants an earlier run left');
    const [{ n: baseRows } = { n: '0' }] = await su<{ n: string }[]>`select count(*) as n from orders`;
    const base = Number(baseRows);
    log(`scale: measuring tenant ${tenant.slug} (${tenant.orders} orders) at ${base.toLocaleString('en-US')} rows`);
    await measure(base);
    const extra = opts.bigOrders - opts.baseOrders;
    await ensureSeed(owner, su, { dataDir: opts.dataDir, prefix: SCALE_PREFIX, tenants: 100, orders: extra }, log);
    const [{ n: bigRows } = { n: '0' }] = await su<{ n: string }[]>`select count(*) as n from orders`;
    const big = Number(bigRows);
    log(`scale: measuring tenant ${tenant.slug} again at ${big.toLocaleString('en-US')} rows`);
    await measure(big);
    // Back to the base size, so later runs without --scale measure what they say they do.
    log('scale: removing the extra tenants…');
    await purgeSeed(owner, su, SCALE_PREFIX, opts.dataDir);
    // FULL: a plain vacuum leaves the table at its tenfold size on disk, and the next run's plans
    // (and its pages read) would be those of a mostly empty 10M-row table.
    await su.unsafe('vacuum full analyze orders');
    const find = (total: number, query: QueryName, variant: 'limit' | 'runner', concurrency: number) =>
      cells.find((c) => c.totalOrders === total && c.query === query && c.variant === variant && c.concurrency === concurrency)?.result;
    const comparison = (['point', 'aggregate'] as const).map((query) => {
      const ratioBase = ratio(find(base, query, 'runner', 8)?.reqPerSec, find(base, query, 'limit', 8)?.reqPerSec);
      const ratioBig = ratio(find(big, query, 'runner', 8)?.reqPerSec, find(big, query, 'limit', 8)?.reqPerSec);
      return {
        query,
        ratioBase,
        ratioBig,
        ratioDrift: ratioBase && ratioBig ? round(Math.abs(ratioBig / ratioBase - 1), 3) : undefined,
        p50Growth: ratio(find(big, query, 'runner', 1)?.p50, find(base, query, 'runner', 1)?.p50),
        limitP50Growth: ratio(find(big, query, 'limit', 1)?.p50, find(base, query, 'limit', 1)?.p50),
      };
    });
    return { tenant, sizes: [base, big], cells, prewarm, comparison };
  } finally {
    await Promise.all([su.end(), owner.end(), bypass.end(), app.end()]);
  }
}
