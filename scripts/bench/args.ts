/**
 * `npm run bench -- [--quick] [--tenants N] [--orders M] [--scale] [--bulkhead] [--duration S] [--rounds N] [--out dir] [--data-dir dir] [--citus url]`.
 *
 * `--smoke` is for checking the bench's own code, not for measuring: a tiny seed (5 tenants × 2,000
 * orders, under its own prefix), 0.3 s DB measurements and 1 s HTTP ones, one round each, results
 * and the embedded Postgres under the temp directory (not bench/results, not bench/.data) unless
 * --out / --data-dir say otherwise. Every code path runs (DB layer, plans, HTTP); about a minute.
 *
 * `--citus <url>` runs the DB layer and the plans on a Citus cluster instead (the coordinator's
 * superuser URL), on a modest seed by default; no HTTP, no --scale.
 *
 * `--bulkhead` runs only the per-tenant bulkhead scenario (bulkhead.ts), which a full run includes.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

export interface BenchArgs {
  quick: boolean;
  /** A run that only proves the code paths work (see above); its figures mean nothing. */
  smoke: boolean;
  /** Tenants `<seedPrefix>-<n>`: `bench`, or `smoke` for --smoke (a shared DATABASE_URL keeps its bench seed). */
  seedPrefix: string;
  tenants: number;
  orders: number;
  scale: boolean;
  /** Only the per-tenant bulkhead scenario (a full run includes it). */
  bulkhead: boolean;
  /** Seconds per variant per round (DB layer). */
  dbDurationSec: number;
  /** Seconds per target per round (HTTP). */
  httpDurationSec: number;
  dbRounds: number;
  httpRounds: number;
  outDir: string;
  dataDir: string;
  /** `--citus`: a Citus coordinator's superuser URL; the run prepares, seeds and measures that database. */
  citusUrl?: string;
}

export const USAGE = `usage: npm run bench -- [--quick] [--tenants N] [--orders M] [--scale] [--bulkhead] [--duration S] [--rounds N] [--out dir] [--data-dir dir] [--citus url]

  --quick          200 tenants × 200,000 orders, short runs (under 3 minutes)
  --tenants N      tenants to seed (default 1000; --quick 200)
  --orders M       orders in total, Zipf-skewed (default 1,000,000; --quick 200,000)
  --scale          also grow the table tenfold and compare a small tenant's latency
  --bulkhead       only the per-tenant bulkhead scenario (the largest tenant floods from 32 clients, a small
                   one is measured from 2, TENANT_MAX_CONCURRENCY default vs 10,000); writes <date>-bulkhead.*
  --duration S     seconds per measurement (default 5 DB / 10 HTTP; --quick 1.5 / 3)
  --rounds N       interleaved rounds (default 3 DB, 2 HTTP; --quick 3 DB, 1 HTTP)
  --out dir        where results go (default bench/results)
  --data-dir dir   embedded Postgres and seed keys, kept between runs (default bench/.data, or BENCH_DATA_DIR)

  --smoke          checks the bench code, measures nothing: 5 tenants × 2,000 orders, 0.3 s DB / 1 s HTTP,
                   1 round; --out and --data-dir default to ${path.join(os.tmpdir(), 'palisade-bench-smoke')}

  --citus url      a Citus coordinator's superuser URL: prepares that database (owner, migrations, logins,
                   distribution), seeds 100 tenants × 100,000 orders unless told otherwise, and runs the DB
                   layer (2 s per measurement, 1 and 8 clients) and the plans (Task Count) there; no HTTP.
                   Seed keys under <data-dir>/citus. Writes <date>-citus[-quick|-smoke].json and .md

Database: DATABASE_URL (a superuser, or the owner with BENCH_SUPERUSER_URL), else embedded Postgres.`;

export class UsageError extends Error {}

function positive(raw: string | undefined, flag: string, integer: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new UsageError(`--${flag}: expected a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  return n;
}

export function parseBenchArgs(argv: string[], env: NodeJS.ProcessEnv): BenchArgs | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean' },
        smoke: { type: 'boolean' },
        tenants: { type: 'string' },
        orders: { type: 'string' },
        scale: { type: 'boolean' },
        bulkhead: { type: 'boolean' },
        duration: { type: 'string' },
        rounds: { type: 'string' },
        out: { type: 'string' },
        'data-dir': { type: 'string' },
        citus: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  const smoke = values.smoke ?? false;
  if (quick && smoke) throw new UsageError('--quick and --smoke: choose one');
  const citusUrl = values.citus;
  if (citusUrl !== undefined && !/^postgres(ql)?:\/\//.test(citusUrl)) throw new UsageError(`--citus: expected a postgres:// URL, got "${citusUrl}"`);
  const citus = citusUrl !== undefined;
  if (citus && values.scale) throw new UsageError('--citus and --scale: the scale phase runs on plain Postgres only');
  if (citus && values.bulkhead) throw new UsageError('--citus and --bulkhead: the bulkhead scenario runs on plain Postgres only');
  if (values.scale && values.bulkhead) throw new UsageError('--bulkhead runs that scenario alone; --scale needs a full run');
  const duration = positive(values.duration, 'duration', false);
  const rounds = positive(values.rounds, 'rounds', true);
  const tenants = positive(values.tenants, 'tenants', true) ?? (smoke ? 5 : citus ? 100 : quick ? 200 : 1000);
  const orders = positive(values.orders, 'orders', true) ?? (smoke ? 2_000 : citus ? 100_000 : quick ? 200_000 : 1_000_000);
  if (orders < tenants) throw new UsageError(`--orders: must be at least --tenants (${tenants}): every tenant gets an order`);
  const smokeDir = path.join(os.tmpdir(), 'palisade-bench-smoke');
  return {
    quick,
    smoke,
    seedPrefix: smoke ? 'smoke' : 'bench',
    tenants,
    orders,
    scale: values.scale ?? false,
    bulkhead: values.bulkhead ?? false,
    dbDurationSec: duration ?? (smoke ? 0.3 : quick ? 1.5 : citus ? 2 : 5),
    httpDurationSec: duration ?? (smoke ? 1 : quick ? 3 : 10),
    dbRounds: rounds ?? (smoke ? 1 : 3),
    httpRounds: rounds ?? (smoke || quick ? 1 : 2),
    outDir: path.resolve(values.out ?? (smoke ? path.join(smokeDir, 'results') : 'bench/results')),
    // --smoke does not take BENCH_DATA_DIR: that is where real runs keep their seed.
    dataDir: path.resolve(values['data-dir'] ?? (smoke ? path.join(smokeDir, 'data') : (env.BENCH_DATA_DIR ?? 'bench/.data'))),
    ...(citus ? { citusUrl } : {}),
  };
}
