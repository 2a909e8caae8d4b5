/**
 * `npm run bench`: measures the whole request path against its limits, in one run, side by side
 * (issue 6). Prepares a database with the fast skewed seed, then: the DB layer (limit vs tenant
 * runner vs naive transaction), plan checks, the full stack over HTTP (server and load generator in
 * their own processes) and, with --scale, a tenfold larger table. Writes bench/results/<date>.json
 * and .md and prints the markdown. Children and embedded Postgres are stopped on every exit path.
 */
import fs from 'node:fs';
import path from 'node:path';
import { openPool, type Sql } from '../db/client.js';
import { parseBenchArgs, USAGE, UsageError, type BenchArgs } from './bench/args.js';
import { killAllChildrenNow, stopAllChildren } from './bench/children.js';
import { runDbLayer } from './bench/db-layer.js';
import { runHttpLayer } from './bench/http-layer.js';
import { describeMachine } from './bench/machine.js';
import { checkPlans } from './bench/plans.js';
import { prepareBenchDatabase, type BenchDatabase } from './bench/prepare.js';
import { evaluateTargets, renderMarkdown, type BenchResults } from './bench/report.js';
import { runScale } from './bench/scale.js';
import { ensureSeed, sampleOrders } from './bench/seed.js';
import { tenantQuery } from './bench/variants.js';

const POOL_SIZE = 10;
const CONCURRENCIES = [8, 32];
const POINT_SAMPLE = 20_000;

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

async function run(args: BenchArgs): Promise<void> {
  const startedAt = new Date().toISOString();
  fs.mkdirSync(args.outDir, { recursive: true });
  database = await prepareBenchDatabase(args.dataDir, process.env, log);
  const db = database;
  const su = openPool(db.superuserUrl, { max: 1, applicationName: 'palisade-bench' });
  const owner = openPool(db.ownerUrl, { max: 2, applicationName: 'palisade-bench' });
  const bypass = openPool(db.bypassUrl, { max: 2, applicationName: 'palisade-bench' });
  pools.push(su, owner, bypass);

  if (args.smoke) log(`--smoke: checking the code paths, not measuring; results go to ${args.outDir}`);
  const seed = await ensureSeed(owner, su, { dataDir: args.dataDir, prefix: args.seedPrefix, tenants: args.tenants, orders: args.orders }, log);
  const [{ n } = { n: '0' }] = await su<{ n: string }[]>`select count(*) as n from orders`;
  const otherOrders = Number(n) - seed.totalOrders;
  if (otherOrders > 0) log(`note: orders also holds ${otherOrders.toLocaleString('en-US')} rows of other tenants`);
  const sample = await sampleOrders(bypass, seed.tenants, POINT_SAMPLE);
  const machine = await describeMachine(su);
  log(`sampled ${sample.length} orders for point lookups`);

  const workload = { tenantIds: seed.tenants.map((t) => t.id), sample };
  const dbCells = await runDbLayer(
    { appUrl: db.appUrl, bypassUrl: db.bypassUrl },
    workload,
    { poolSize: POOL_SIZE, concurrencies: CONCURRENCIES, rounds: args.dbRounds, durationMs: args.dbDurationSec * 1000 },
    log,
  );

  // Tenants are in rank order: the first is the largest, the median one is small.
  const largest = seed.tenants[0]!;
  const small = seed.tenants[Math.floor(seed.tenants.length / 2)]!;
  const point = sample[0]!;
  log('checking plans');
  const plans = await checkPlans(db.appUrl, [
    { name: 'point lookup', tenantId: point.tenantId, query: tenantQuery('point', point) },
    { name: `aggregate, small tenant (${small.orders} orders)`, tenantId: small.id, query: tenantQuery('aggregate', { tenantId: small.id }) },
    { name: `aggregate, largest tenant (${largest.orders} orders)`, tenantId: largest.id, query: tenantQuery('aggregate', { tenantId: largest.id }) },
  ]);

  const http = await runHttpLayer(
    { appUrl: db.appUrl, platformUrl: db.platformUrl, bypassUrl: db.bypassUrl, poolMax: POOL_SIZE, connections: CONCURRENCIES, durationSec: args.httpDurationSec, rounds: args.httpRounds },
    seed.tenants,
    sample,
    log,
  );

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
      quick: args.quick,
      smoke: args.smoke,
      database: db.kind,
      tenants: args.tenants,
      orders: args.orders,
      seedReused: !seed.seeded,
      seedMs: seed.seedMs,
      poolSize: POOL_SIZE,
      concurrencies: CONCURRENCIES,
      dbRounds: args.dbRounds,
      dbDurationMs: args.dbDurationSec * 1000,
      httpConnections: CONCURRENCIES,
      httpRounds: args.httpRounds,
      httpDurationSec: args.httpDurationSec,
      pointSample: sample.length,
      otherOrders,
    },
    db: dbCells,
    http,
    plans,
    scale,
    skipped,
  };
  const results: BenchResults = { ...partial, targets: evaluateTargets(partial) };
  const markdown = renderMarkdown(results);
  // A quick run must not overwrite the day's full results, nor a run without --scale its scale figures.
  const base = path.join(args.outDir, `${date}${args.quick ? '-quick' : ''}${args.smoke ? '-smoke' : ''}${args.scale ? '-scale' : ''}`);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(`${base}.md`, markdown);
  process.stdout.write(`\n${markdown}\n`);
  const failed = results.targets.filter((t) => !t.pass).length;
  log(`wrote ${base}.json and .md; ${results.targets.length - failed}/${results.targets.length} targets met`);
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
    await run(args);
    return 0;
  } catch (error) {
    process.stderr.write(`\nbench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  } finally {
    await cleanup();
  }
}

process.exitCode = await main();
