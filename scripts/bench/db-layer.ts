/**
 * The DB layer: limit, runner, rls-only and naive (variants.ts) on pools of the same size, at each
 * concurrency, interleaved in rounds so machine noise hits every variant alike; the median round
 * is reported. Round trips per request are counted on the wire separately (round-trips.ts).
 */
import type { Engine } from '../../db/citus.js';
import { drizzleOver, openPool, type Sql } from '../../db/client.js';
import { TenantReader } from '../../db/tenant-read.js';
import { startFlightCounter, flightsPerCall } from './round-trips.js';
import type { OrderRef } from './seed.js';
import { medianRound, ratio, rotate, summarize, type RunSummary } from './stats.js';
import { QUERIES, runVariant, VARIANTS, type QueryInput, type QueryName, type VariantName, type VariantPools } from './variants.js';

export interface DbCell {
  query: QueryName;
  concurrency: number;
  variant: VariantName;
  /** The median round by throughput. */
  result: RunSummary;
  rounds: RunSummary[];
  /** Round trips per request, counted on the wire. */
  roundTrips?: number;
  /** req/s relative to `limit` at the same query and concurrency. */
  vsLimit?: number;
  /** The runner and bound only: req/s relative to `rls-only` (a tenant predicate vs none) at the same query and concurrency. */
  vsRlsOnly?: number;
  firstError?: string;
}

export interface DbLayerOptions {
  /** Which variants, in this order (default: all). */
  variants?: readonly VariantName[];
  poolSize: number;
  concurrencies: number[];
  rounds: number;
  durationMs: number;
}

export interface Workload {
  /** Tenants for the aggregate, picked uniformly. */
  tenantIds: string[];
  /** (tenant, order) pairs for point lookups. */
  sample: OrderRef[];
}

export interface LoopResult {
  summary: RunSummary;
  firstError?: string;
}

/** `concurrency` workers calling `fn` back to back until `durationMs` has passed. */
export async function closedLoop(fn: () => Promise<unknown>, concurrency: number, durationMs: number): Promise<LoopResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + durationMs;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t = performance.now();
      try {
        await fn();
        latencies.push(performance.now() - t);
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { summary: summarize(latencies, errors, performance.now() - started), firstError };
}

export function inputPicker(query: QueryName, workload: Workload): () => QueryInput {
  const { tenantIds, sample } = workload;
  if (query === 'point') {
    if (sample.length === 0) throw new Error('no orders sampled for point lookups');
    return () => sample[Math.floor(Math.random() * sample.length)]!;
  }
  return () => ({ tenantId: tenantIds[Math.floor(Math.random() * tenantIds.length)]! });
}

export interface DbUrls {
  appUrl: string;
  bypassUrl: string;
  /** What the URLs talk to: the readers send a read inside BEGIN … COMMIT on Citus. */
  engine: Engine;
}

/** Each variant on a pool of its own, all of size `max`; a reader borrows its app-role pool, so that pool is ended here. */
function openVariantPools(urls: DbUrls, max: number): { pools: VariantPools; close: () => Promise<void> } {
  const bypass = openPool(urls.bypassUrl, { max, applicationName: 'palisade-bench-limit' });
  const runnerPool = openPool(urls.appUrl, { max, applicationName: 'palisade-bench-runner' });
  const boundPool = openPool(urls.appUrl, { max, applicationName: 'palisade-bench-bound' });
  const rlsOnlyPool = openPool(urls.appUrl, { max, applicationName: 'palisade-bench-rls-only' });
  const naive: Sql = openPool(urls.appUrl, { max, applicationName: 'palisade-bench-naive' });
  const engine = { engine: urls.engine };
  return {
    pools: {
      bypass,
      runner: new TenantReader(runnerPool, engine),
      bound: new TenantReader(boundPool, engine),
      rlsOnly: new TenantReader(rlsOnlyPool, engine),
      naive: drizzleOver(naive),
      engine: urls.engine,
    },
    close: async () => {
      await Promise.all([bypass.end(), runnerPool.end(), boundPool.end(), rlsOnlyPool.end(), naive.end()]);
    },
  };
}

export async function runDbLayer(urls: DbUrls, workload: Workload, opts: DbLayerOptions, log: (line: string) => void): Promise<DbCell[]> {
  const variants = opts.variants ?? VARIANTS;
  const { pools, close } = openVariantPools(urls, opts.poolSize);
  const cells = new Map<string, DbCell>();
  const key = (q: QueryName, c: number, v: VariantName) => `${q}/${c}/${v}`;
  try {
    // Warm-up: connections opened, statements prepared, pages cached, for every variant.
    for (const query of QUERIES) {
      const pick = inputPicker(query, workload);
      for (const variant of variants) {
        await closedLoop(() => runVariant(pools, variant, query, pick()), Math.max(...opts.concurrencies), Math.min(1000, opts.durationMs / 2));
      }
    }
    for (let round = 0; round < opts.rounds; round++) {
      log(`DB layer: round ${round + 1}/${opts.rounds}`);
      for (const query of QUERIES) {
        const pick = inputPicker(query, workload);
        for (const concurrency of opts.concurrencies) {
          for (const variant of rotate(variants, round)) {
            const { summary, firstError } = await closedLoop(() => runVariant(pools, variant, query, pick()), concurrency, opts.durationMs);
            const cell = cells.get(key(query, concurrency, variant)) ?? { query, concurrency, variant, result: summary, rounds: [] };
            cell.rounds.push(summary);
            cell.firstError ??= firstError;
            cells.set(key(query, concurrency, variant), cell);
          }
        }
      }
    }
  } finally {
    await close();
  }
  const trips = await countRoundTrips(urls, workload, variants);
  for (const cell of cells.values()) {
    cell.result = medianRound(cell.rounds);
    cell.roundTrips = trips.get(`${cell.query}/${cell.variant}`);
  }
  const rps = (cell: DbCell, variant: VariantName) => cells.get(key(cell.query, cell.concurrency, variant))?.result.reqPerSec;
  for (const cell of cells.values()) {
    cell.vsLimit = ratio(cell.result.reqPerSec, rps(cell, 'limit'));
    if (cell.variant === 'runner' || cell.variant === 'bound') cell.vsRlsOnly = ratio(cell.result.reqPerSec, rps(cell, 'rls-only'));
  }
  return [...cells.values()];
}

/** Flights per request of each variant and query, each on its own one-connection pool through the proxy. */
async function countRoundTrips(urls: DbUrls, workload: Workload, variants: readonly VariantName[]): Promise<Map<string, number>> {
  const counter = await startFlightCounter(urls.appUrl);
  const { pools, close } = openVariantPools({ ...urls, appUrl: counter.via(urls.appUrl), bypassUrl: counter.via(urls.bypassUrl) }, 1);
  const trips = new Map<string, number>();
  try {
    for (const query of QUERIES) {
      const pick = inputPicker(query, workload);
      for (const variant of variants) {
        trips.set(`${query}/${variant}`, await flightsPerCall(counter, () => runVariant(pools, variant, query, pick())));
      }
    }
  } finally {
    await close();
    await counter.close();
  }
  return trips;
}
