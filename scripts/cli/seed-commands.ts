/**
 * `palisade seed --tenants N --orders M`: skewed demo data at scale (src/modules/demo/bulk-seed.ts).
 * The owner keys go to a 0600 JSON file under the data directory (next to the demo's
 * credentials.json), so benchmarks can reuse them; the output shows only the first few.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { bulkSeed, type BulkSeedProgress, type BulkSeedResult } from '../../src/modules/demo/bulk-seed.js';
import type { CommandGroup } from './command.js';
import { InputError, message } from './errors.js';
import { table } from './output.js';

const KEYS_SHOWN = 3;
const LARGEST_SHOWN = 10;

const num = (n: number) => n.toLocaleString('en-US');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** `<PALISADE_DATA_DIR>/seed-<prefix>.json`, unless --out names another file. */
function keysFile(out: string | undefined, prefix: string): string {
  return path.resolve(out ?? path.join(loadConfig().dataDir, `seed-${prefix}.json`));
}

/** Fails before any row is written when the keys could not be saved afterwards. */
function checkWritable(file: string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.accessSync(path.dirname(file), fs.constants.W_OK);
  } catch (error) {
    throw new InputError(`--out: cannot write ${file}: ${message(error)}`);
  }
}

function writeKeys(file: string, result: BulkSeedResult): void {
  const body = {
    format: 'palisade-seed',
    prefix: result.prefix,
    seed: result.seed,
    skew: result.skew,
    createdAt: new Date().toISOString(),
    tenants: result.tenants,
  };
  // 0600: every tenant's owner key, in clear.
  fs.writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

/** One stderr line per phase step (every 10% of orders), so a long load shows it is moving. */
function progressPrinter(write: (line: string) => void): (p: BulkSeedProgress) => void {
  const started = performance.now();
  const elapsed = () => seconds(performance.now() - started);
  let lastStep = -1;
  let lastPhase = '';
  return (p) => {
    if (p.phase !== lastPhase) {
      lastPhase = p.phase;
      lastStep = -1;
    }
    if (p.phase === 'analyze') return write(`analyzing tables… (${elapsed()})\n`);
    const [done, total, what] = p.phase === 'rows' ? [p.orders, p.totalOrders, 'orders loaded'] : [p.done, p.total, p.phase === 'purge' ? 'old tenants deleted' : 'tenants created'];
    const step = Math.floor((done / total) * 10);
    if (step === lastStep) return;
    lastStep = step;
    write(`${what}: ${num(done)} / ${num(total)} (${Math.floor((done / total) * 100)}%) ${elapsed()}\n`);
  };
}

function summary(result: BulkSeedResult, file: string): string {
  const { totals } = result;
  const largest = result.tenants.slice(0, LARGEST_SHOWN);
  const share = (orders: number) => `${((orders / totals.orders) * 100).toFixed(1)}%`;
  const rows = [
    ...largest.map((t) => ({ slug: t.slug, name: t.name, customers: num(t.customers), orders: num(t.orders), share: share(t.orders) })),
    { slug: 'TOTAL', name: `${num(totals.tenants)} tenants`, customers: num(totals.customers), orders: num(totals.orders), share: '100%' },
  ];
  const sorted = result.tenants.map((t) => t.orders).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const keys = result.tenants.slice(0, KEYS_SHOWN);
  return [
    `Seeded ${num(totals.tenants)} tenants (prefix "${result.prefix}", seed ${result.seed}, skew ${result.skew}): ` +
      `${num(totals.customers)} customers, ${num(totals.orders)} orders in ${seconds(result.elapsedMs)}` +
      (result.replaced ? ` (replacing ${num(result.replaced)} earlier tenants).` : '.'),
    `Orders per tenant: largest ${num(sorted.at(-1)!)}, median ${num(median)}, smallest ${num(sorted[0]!)}.`,
    '',
    result.tenants.length > LARGEST_SHOWN ? `The ${LARGEST_SHOWN} largest tenants:` : 'Tenants:',
    table(rows, [
      { header: 'slug', value: (r) => r.slug },
      { header: 'name', value: (r) => r.name },
      { header: 'customers', value: (r) => r.customers },
      { header: 'orders', value: (r) => r.orders },
      { header: 'share', value: (r) => r.share },
    ]).trimEnd(),
    '',
    `Owner API keys of all ${num(totals.tenants)} tenants: ${file} (mode 0600). The first ${keys.length}:`,
    ...keys.map((t) => `  ${t.slug.padEnd(keys.at(-1)!.slug.length)}  ${t.apiKey}`),
    '',
  ].join('\n');
}

function number(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value)) throw new InputError(`--${flag}: expected a number, got "${raw}"`);
  return value;
}

export const seedCommands: CommandGroup = {
  name: 'seed',
  summary: 'skewed demo data at scale',
  commands: [
    {
      name: 'seed',
      summary: 'load skewed demo tenants, customers and orders fast (a few large tenants, many small)',
      synopsis:
        '--tenants <n> --orders <n> [--customers-per-tenant <n>] [--prefix <slug>] [--seed <n>] [--skew <s>] [--replace] [--concurrency <n>] [--out <file.json>]',
      options: {
        tenants: { type: 'string', placeholder: '<n>', description: 'how many tenants: <prefix>-0001, <prefix>-0002, …' },
        orders: { type: 'string', placeholder: '<n>', description: 'orders in total, split by Zipf weights 1/rank^skew (each tenant gets at least one)' },
        'customers-per-tenant': { type: 'string', placeholder: '<n>', description: 'customers per tenant, at most its order count (default 50)' },
        prefix: { type: 'string', placeholder: '<slug>', description: 'tenant slug prefix (default bench)' },
        seed: { type: 'string', placeholder: '<n>', description: 'varies regions, statuses, amounts and dates; the same seed gives the same data (default 1)' },
        skew: { type: 'string', placeholder: '<s>', description: 'Zipf exponent: 0 even, 1.1 a few large and many small (default 1.1)' },
        replace: { type: 'boolean', description: 'delete the tenants an earlier seed with this prefix made, then seed again' },
        concurrency: { type: 'string', placeholder: '<n>', description: 'tenants loaded at once (default 2)' },
        out: { type: 'string', placeholder: '<file.json>', description: 'where to write every owner key (default <PALISADE_DATA_DIR>/seed-<prefix>.json)' },
      },
      examples: [
        'palisade seed --tenants 1000 --orders 1000000',
        'palisade seed --tenants 20 --orders 50000 --prefix trial --seed 7 --replace',
      ],
      async run(ctx, args) {
        const required = (name: string) => (args.required(name), args.integer(name)!);
        const input = {
          tenants: required('tenants'),
          orders: required('orders'),
          customersPerTenant: args.integer('customers-per-tenant'),
          prefix: args.string('prefix'),
          seed: args.integer('seed'),
          skew: number(args.string('skew'), 'skew'),
          replace: args.flag('replace'),
          concurrency: args.integer('concurrency'),
        };
        const file = keysFile(args.string('out'), input.prefix ?? 'bench');
        checkWritable(file);
        const result = await bulkSeed(ctx.pool, input, {
          actor: ctx.actor,
          today: ctx.now,
          // stderr, so stdout stays the result (and valid JSON with --json, which prints no progress).
          onProgress: args.json ? undefined : progressPrinter((line) => process.stderr.write(line)),
        });
        writeKeys(file, result);
        return {
          // Keys only in the file: a thousand secrets do not belong in a terminal or a CI log.
          json: { ...result, file, tenants: result.tenants.map(({ apiKey: _key, ...t }) => t) },
          text: summary(result, file),
        };
      },
    },
  ],
};
