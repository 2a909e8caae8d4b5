/**
 * Per-tenant bulkheads (issue 22): does a small tenant keep its latency while a big one floods?
 * The largest tenant sends its revenue-by-region query from 32 clients while the median (small)
 * tenant sends its own from 2, both over REST with the cache off, against two servers that differ
 * only in TENANT_MAX_CONCURRENCY: the default for the pool (on) and 10,000 (off). The small
 * tenant is also measured alone on each server: its p99 under the flood is reported against that
 * baseline, measured in the same run on the same server. Rounds alternate the servers.
 */
import type { SeededTenant } from '../../src/modules/demo/bulk-seed.js';
import { defaultTenantMaxConcurrency, loadConfig } from '../../src/config.js';
import { buildServer, stopChild } from './children.js';
import { LoadWorker, startServer, type Server } from './http-layer.js';
import type { LoadRequest, LoadResult } from './load-worker.js';
import { medianRound, ratio, rotate, summarize, type RunSummary } from './stats.js';

export const FLOOD_CONNECTIONS = 32;
export const SMALL_CONNECTIONS = 2;
/** TENANT_MAX_CONCURRENCY with the bulkhead in effect off: more than any client count here. */
const OFF = 10_000;
/** How long the flood runs before the small tenant's measurement starts (steady state). */
const FLOOD_LEAD_SEC = 1;

export type BulkheadMode = 'on' | 'off';

export interface BulkheadCell {
  mode: BulkheadMode;
  load: 'alone' | 'flood';
  /** The small tenant's median round (by req/s). */
  small: RunSummary;
  smallRounds: RunSummary[];
  smallStatuses: Record<string, number>;
  /** The flooding tenant's median round, under the flood. */
  flood?: RunSummary;
  floodStatuses?: Record<string, number>;
}

export interface BulkheadResult {
  poolMax: number;
  floodConnections: number;
  smallConnections: number;
  /** TENANT_MAX_CONCURRENCY with the bulkhead on (the default for the pool). */
  permits: number;
  /** TENANT_BUSY_WAIT_MS (the default). */
  waitMs: number;
  durationSec: number;
  rounds: number;
  floodTenant: { slug: string; orders: number };
  smallTenant: { slug: string; orders: number };
  cells: BulkheadCell[];
  /** The small tenant's p99 under the flood / alone, on the same server. */
  p99Ratio: Partial<Record<BulkheadMode, number>>;
}

export interface BulkheadOptions {
  appUrl: string;
  platformUrl: string;
  bypassUrl: string;
  poolMax: number;
  durationSec: number;
  rounds: number;
}

function revenueOf(tenant: SeededTenant): LoadRequest[] {
  return [{ path: '/v1/query?dataset=orders&dimensions=region&metrics=revenue', headers: { authorization: `Bearer ${tenant.apiKey}` } }];
}

function addStatuses(into: Record<string, number>, from: LoadResult): void {
  for (const [status, n] of Object.entries(from.statuses)) into[status] = (into[status] ?? 0) + n;
}

/** `flood` is the tenant that floods (the largest), `small` the one measured. */
export async function runBulkhead(opts: BulkheadOptions, flood: SeededTenant, small: SeededTenant, log: (line: string) => void): Promise<BulkheadResult> {
  const permits = defaultTenantMaxConcurrency(opts.poolMax);
  const floodRequests = revenueOf(flood);
  const smallRequests = revenueOf(small);
  log('bulkhead: building the server (npm run build:server)…');
  buildServer();
  // Two load generators: the flood's and the small tenant's run at the same time.
  const smallWorker = new LoadWorker();
  const floodWorker = new LoadWorker();
  const servers: Partial<Record<BulkheadMode, Server>> = {};
  const cells = new Map<string, BulkheadCell & { floodRounds: RunSummary[] }>();
  try {
    // Cache off: every request reaches the database.
    servers.on = await startServer(opts, 0);
    servers.off = await startServer(opts, 0, { tenantMaxConcurrency: OFF });
    const measure = async (mode: BulkheadMode, load: 'alone' | 'flood', durationSec: number) => {
      const url = servers[mode]!.url;
      let flooding: Promise<LoadResult> | undefined;
      if (load === 'flood') {
        flooding = floodWorker.run({ url, connections: FLOOD_CONNECTIONS, durationSec: durationSec + FLOOD_LEAD_SEC, requests: floodRequests });
        await new Promise((resolve) => setTimeout(resolve, FLOOD_LEAD_SEC * 1000));
      }
      const measured = await smallWorker.run({ url, connections: SMALL_CONNECTIONS, durationSec, requests: smallRequests });
      return { measured, flooded: await flooding };
    };
    for (const mode of ['on', 'off'] as const) {
      log(`bulkhead: warming up the server with the bulkhead ${mode}`);
      await measure(mode, 'flood', Math.min(2, opts.durationSec / 2));
    }
    for (let round = 0; round < opts.rounds; round++) {
      for (const mode of rotate(['on', 'off'] as const, round)) {
        for (const load of ['alone', 'flood'] as const) {
          log(`bulkhead: small tenant ${load === 'alone' ? 'alone' : `under a ${FLOOD_CONNECTIONS}-client flood`}, bulkhead ${mode} (round ${round + 1}/${opts.rounds})`);
          const { measured, flooded } = await measure(mode, load, opts.durationSec);
          const key = `${mode}/${load}`;
          const small = summarize(measured.latenciesMs, measured.non2xx + measured.errors, measured.elapsedMs);
          const cell = cells.get(key) ?? { mode, load, small, smallRounds: [], smallStatuses: {}, floodRounds: [] };
          cell.smallRounds.push(small);
          addStatuses(cell.smallStatuses, measured);
          if (flooded) {
            cell.floodRounds.push(summarize(flooded.latenciesMs, flooded.non2xx + flooded.errors, flooded.elapsedMs));
            addStatuses((cell.floodStatuses ??= {}), flooded);
          }
          cells.set(key, cell);
        }
      }
    }
  } finally {
    await Promise.all([servers.on && stopChild(servers.on.child), servers.off && stopChild(servers.off.child), smallWorker.stop(), floodWorker.stop()]);
  }
  const result: BulkheadCell[] = [...cells.values()].map(({ floodRounds, ...cell }) => ({
    ...cell,
    small: medianRound(cell.smallRounds),
    ...(floodRounds.length ? { flood: medianRound(floodRounds) } : {}),
  }));
  const p99 = (mode: BulkheadMode, load: 'alone' | 'flood') => result.find((c) => c.mode === mode && c.load === load)?.small.p99;
  const p99Ratio: BulkheadResult['p99Ratio'] = {};
  for (const mode of ['on', 'off'] as const) {
    const r = ratio(p99(mode, 'flood'), p99(mode, 'alone'));
    if (r !== undefined) p99Ratio[mode] = r;
  }
  return {
    poolMax: opts.poolMax,
    floodConnections: FLOOD_CONNECTIONS,
    smallConnections: SMALL_CONNECTIONS,
    permits,
    waitMs: loadConfig({}).tenantBusyWaitMs,
    durationSec: opts.durationSec,
    rounds: opts.rounds,
    floodTenant: { slug: flood.slug, orders: flood.orders },
    smallTenant: { slug: small.slug, orders: small.orders },
    cells: result,
    p99Ratio,
  };
}
