/**
 * `npm run bench`: measures the whole request path against its limits, in one run, side by side
 * (issue 6). Prepares a database with the fast skewed seed, then: the DB layer (limit vs tenant
 * runner, explicit and RLS-only, vs naive transaction), plan checks, the full stack over HTTP
 * (server and load generator in their own processes) and, with --scale, a tenfold larger table.
 * With --citus the DB layer and the plans run on a Citus cluster instead (issue 21). The per-tenant
 * bulkhead scenario (issue 22) runs after the HTTP layer, or alone with --bulkhead. Writes
 * bench/results/<date>.json and .md and prints the markdown. Children and embedded Postgres are
 * stopped on every exit path.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Engine } from '../db/citus.js';
import { openPool, type Sql } from '../db/client.js';
import { parseBenchArgs, USAGE, UsageError, type BenchArgs } from './bench/args.js';
import { runBulkhead } from './bench/bulkhead.js';
import { killAllChildrenNow, stopAllChildren } from './bench/children.js';
import { runDbLayer } from './bench/db-layer.js';
import { runHttpLayer } from './bench/http-layer.js';
import { describeMachine } from './bench/machine.js';
import { checkPlans, type PlanCase, type PlanCheck } from './bench/plans.js';
import { prepareBenchDatabase, type BenchDatabase } from './bench/prepare.js';
import { prepareCitusBenchDatabase } from './bench/prepare-citus.js';
import { evaluateTargets, renderMarkdown, type BenchResults } from './bench/report.js';
import { runScale } from './bench/scale.js';
import { ensureSeed, sampleOrders, type OrderRef, type SeedInfo } from './bench/seed.js';
import { tenantQuery, type QueryForm, type VariantName } from './bench/variants.js';

const POOL_SIZE = 10;
const CONCURRENCIES = [8, 32];
const POINT_SAMPLE = 20_000;
// Citus: one client shows the latency of a fan-out against a routed read; 8 the throughput. 32
// clients of three pools fanning out to every shard would spend the run opening worker connections.
const CITUS_CONCURRENCIES = [1, 8];
// Naive is left out on Citus: its transaction style is not what issue 21 is about, and time is short.
const CITUS_VARIANTS: readonly VariantName[] = ['limit', 'runner', 'rls-only'];

const started = performance.now();
const log = (line: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);

let database: BenchDatabase | undefined;
const pools: Sql[] = [];

async function cleanup(): Promise<void> {
  await stopAllChildren();
  await Promise.allSettled(pools.splice(0).map((p) => p.end({ timeout: 2 })));
  const db = database;
  database = undefined;
  await db?.stop();
}

function localDate(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** Seeds (or reuses the seed), samples point lookups and describes the machine. */
async function seedAndSample(db: BenchDatabase, args: BenchArgs, dataDir: string) {
  const su = openPool(db.superuserUrl, { max: 1, applicationName: 'palisade-bench' });
  const owner = openPool(db.ownerUrl, { max: 2, applicationName: 'palisade-bench' });
  const bypass = openPool(db.bypassUrl, { max: 2, applicationName: 'palisade-bench' });
  pools.push(su, owner, bypass);

  if (args.smoke) log(`--smoke: checking the code paths, not measuring; results go to ${args.outDir}`);
  const seed = await ensureSeed(owner, su, { dataDir, prefix: args.seedPrefix, tenants: args.tenants, orders: args.orders }, log);
  const [{ n } = { n: '0' }] = await su<{ n: string }[]>`select count(*) as n from orders`;
  const otherOrders = Number(n) - seed.totalOrders;
  if (otherOrders > 0) log(`note: orders also holds ${otherOrders.toLocaleString('en-US')} rows of other tenants`);
  const sample = await sampleOrders(bypass, seed.tenants, POINT_SAMPLE);
  const machine = await describeMachine(su);
  log(`sampled ${sample.length} orders for point lookups`);
  return { seed, sample, otherOrders, machine, workload: { tenantIds: seed.tenants.map((t) => t.id), sample } };
}

/** Point, a small tenant's and the largest tenant's aggregate, each as production sends it and RLS-only. */
async function runPlans(appUrl: string, engine: Engine, seed: SeedInfo, sample: OrderRef[]): Promise<PlanCheck[]> {
  // Tenants are in rank order: the first is the largest, the median one is small.
  const largest = seed.tenants[0]!;
  const small = seed.tenants[Math.floor(seed.tenants.length / 2)]!;
  const point = sample[0]!;
  const label: Record<QueryForm, string> = { explicit: 'explicit tenant_id = $1', setting: 'tenant_id = the setting', 'rls-only': 'RLS only' };
  const cases: PlanCase[] = [];
  // On plain Postgres dataset queries name the tenant by the setting (variants.ts, productionForm).
  const forms: QueryForm[] = engine === 'citus' ? ['explicit', 'rls-only'] : ['explicit', 'setting', 'rls-only'];
  for (const form of forms) {
    cases.push(
      { name: `point lookup, ${label[form]}`, tenantId: point.tenantId, form, query: tenantQuery(form, 'point', point) },
      { name: `aggregate, small tenant (${small.orders} orders), ${label[form]}`, tenantId: small.id, form, query: tenantQuery(form, 'aggregate', { tenantId: small.id }) },
      { name: `aggregate, largest tenant (${largest.orders} orders), ${label[form]}`, tenantId: largest.id, form, query: tenantQuery(form, 'aggregate', { tenantId: largest.id }) },
    );
  }
  log('checking plans');
  return checkPlans(appUrl, cases, engine);
}

/** The settings every run reports the same way. */
function settingsOf(args: BenchArgs, seed: SeedInfo, sample: OrderRef[], otherOrders: number) {
  return {
    quick: args.quick,
    smoke: args.smoke,
    tenants: args.tenants,
    orders: args.orders,
    seedReused: !seed.seeded,
    seedMs: seed.seedMs,
    poolSize: POOL_SIZE,
    dbRounds: args.dbRounds,
    dbDurationMs: args.dbDurationSec * 1000,
    pointSample: sample.length,
    otherOrders,
  };
}

function writeResults(partial: Omit<BenchResults, 'targets'>, base: string): void {
  const results: BenchResults = { ...partial, targets: evaluateTargets(partial) };
  const markdown = renderMarkdown(results);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(`${base}.md`, markdown);
  process.stdout.write(`\n${markdown}\n`);
  const failed = results.targets.filter((t) => !t.pass).length;
  log(`wrote ${base}.json and .md; ${results.targets.length - failed}/${results.targets.length} targets met`);
}

async function run(args: BenchArgs): Promise<void> {
  const startedAt = new Date().toISOString();
  fs.mkdirSync(args.outDir, { recursive: true });
  database = await prepareBenchDatabase(args.dataDir, process.env, log);
  const db = database;
  const { seed, sample, otherOrders, machine, workload } = await seedAndSample(db, args, args.dataDir);

  const dbCells = await runDbLayer(
    { appUrl: db.appUrl, bypassUrl: db.bypassUrl, engine: 'postgres' },
    workload,
    { poolSize: POOL_SIZE, concurrencies: CONCURRENCIES, rounds: args.dbRounds, durationMs: args.dbDurationSec * 1000 },
    log,
  );

  const plans = await runPlans(db.appUrl, 'postgres', seed, sample);
  // Tenants are in rank order: the median one is small.
  const small = seed.tenants[Math.floor(seed.tenants.length / 2)]!;

  const http = await runHttpLayer(
    { appUrl: db.appUrl, platformUrl: db.platformUrl, bypassUrl: db.bypassUrl, poolMax: POOL_SIZE, connections: CONCURRENCIES, durationSec: args.httpDurationSec, rounds: args.httpRounds },
    seed.tenants,
    sample,
    log,
  );
  const bulkhead = await bulkheadScenario(db, args, seed);

  const skipped: Record<string, string> = {};
  let scale;
  if (args.scale) {
    scale = await runScale(
      {
        dataDir: args.dataDir,
        superuserUrl: db.superuserUrl,
        ownerUrl: db.ownerUrl,
        appUrl: db.appUrl,
        bypassUrl: db.bypassUrl,
        baseOrders: args.orders,
        bigOrders: args.orders * 10,
        durationMs: args.dbDurationSec * 1000,
        rounds: args.dbRounds,
        poolSize: POOL_SIZE,
      },
      { id: small.id, slug: small.slug, orders: small.orders },
      log,
    );
  } else {
    skipped.scale = `run with --scale to grow the table to ${(args.orders * 10).toLocaleString('en-US')} rows and compare (seeds ${(args.orders * 9).toLocaleString('en-US')} more orders; minutes)`;
    log(`scale: skipped (${skipped.scale})`);
  }

  const date = localDate();
  const partial: Omit<BenchResults, 'targets'> = {
    date,
    startedAt,
    elapsedSec: Math.round((performance.now() - started) / 1000),
    machine,
    settings: {
      ...settingsOf(args, seed, sample, otherOrders),
      database: db.kind,
      concurrencies: CONCURRENCIES,
      httpConnections: CONCURRENCIES,
      httpRounds: args.httpRounds,
      httpDurationSec: args.httpDurationSec,
    },
    db: dbCells,
    http,
    plans,
    scale,
    bulkhead,
    skipped,
  };
  // A quick run must not overwrite the day's full results, nor a run without --scale its scale figures.
  writeResults(partial, path.join(args.outDir, `${date}${args.quick ? '-quick' : ''}${args.smoke ? '-smoke' : ''}${args.scale ? '-scale' : ''}`));
}

/** The largest tenant floods, the median (small) one is measured: bench/bulkhead.ts. */
function bulkheadScenario(db: BenchDatabase, args: BenchArgs, seed: SeedInfo) {
  return runBulkhead(
    { appUrl: db.appUrl, platformUrl: db.platformUrl, bypassUrl: db.bypassUrl, poolMax: POOL_SIZE, durationSec: args.httpDurationSec, rounds: args.httpRounds },
    seed.tenants[0]!,
    seed.tenants[Math.floor(seed.tenants.length / 2)]!,
    log,
  );
}

/** `--bulkhead`: the per-tenant bulkhead scenario alone (issue 22). */
async function runBulkheadOnly(args: BenchArgs): Promise<void> {
  const startedAt = new Date().toISOString();
  fs.mkdirSync(args.outDir, { recursive: true });
  database = await prepareBenchDatabase(args.dataDir, process.env, log);
  const db = database;
  const { seed, sample, otherOrders, machine } = await seedAndSample(db, args, args.dataDir);
  const bulkhead = await bulkheadScenario(db, args, seed);
  const date = localDate();
  const partial: Omit<BenchResults, 'targets'> = {
    date,
    startedAt,
    elapsedSec: Math.round((performance.now() - started) / 1000),
    machine,
    settings: { ...settingsOf(args, seed, sample, otherOrders), database: db.kind, concurrencies: [], httpConnections: [], httpRounds: args.httpRounds, httpDurationSec: args.httpDurationSec },
    db: [],
    plans: [],
    bulkhead,
    skipped: { db: '--bulkhead', http: '--bulkhead', plans: '--bulkhead', scale: '--bulkhead' },
  };
  writeResults(partial, path.join(args.outDir, `${date}-bulkhead${args.quick ? '-quick' : ''}${args.smoke ? '-smoke' : ''}`));
}

/** `--citus <url>`: the DB layer and the plans on a Citus cluster (issue 21); no HTTP, no scale. */
async function runCitus(args: BenchArgs, citusUrl: string): Promise<void> {
  const startedAt = new Date().toISOString();
  fs.mkdirSync(args.outDir, { recursive: true });
  // Its own seed keys: the cluster's seed is not the embedded database's.
  const dataDir = path.join(args.dataDir, 'citus');
  database = await prepareCitusBenchDatabase(citusUrl, dataDir, log);
  const db = database;
  const { seed, sample, otherOrders, machine, workload } = await seedAndSample(db, args, dataDir);

  const dbCells = await runDbLayer(
    { appUrl: db.appUrl, bypassUrl: db.bypassUrl, engine: 'citus' },
    workload,
    { variants: CITUS_VARIANTS, poolSize: POOL_SIZE, concurrencies: CITUS_CONCURRENCIES, rounds: args.dbRounds, durationMs: args.dbDurationSec * 1000 },
    log,
  );
  const plans = await runPlans(db.appUrl, 'citus', seed, sample);

  const date = localDate();
  const skipped = {
    http: 'not on Citus: the DB layer and the plans are what issue 21 measures there',
    naive: 'not on Citus (its transaction style is measured on plain Postgres)',
    scale: 'not on Citus',
  };
  const partial: Omit<BenchResults, 'targets'> = {
    date,
    startedAt,
    elapsedSec: Math.round((performance.now() - started) / 1000),
    machine,
    settings: {
      ...settingsOf(args, seed, sample, otherOrders),
      database: 'citus',
      concurrencies: CITUS_CONCURRENCIES,
      httpConnections: [],
      httpRounds: 0,
      httpDurationSec: 0,
    },
    db: dbCells,
    plans,
    skipped,
  };
  writeResults(partial, path.join(args.outDir, `${date}-citus${args.quick ? '-quick' : ''}${args.smoke ? '-smoke' : ''}`));
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseBenchArgs(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  process.on('exit', killAllChildrenNow);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    await (args.citusUrl !== undefined ? runCitus(args, args.citusUrl) : args.bulkhead ? runBulkheadOnly(args) : run(args));
    return 0;
  } catch (error) {
    process.stderr.write(`\nbench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  } finally {
    await cleanup();
  }
}

process.exitCode = await main();
