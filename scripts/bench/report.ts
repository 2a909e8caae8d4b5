/**
 * Pure: the bench's results → the issue's targets (✓/✗) and the markdown report. No I/O, so
 * test/bench-stats.test.ts checks it on made-up numbers.
 */
import type { BulkheadResult } from './bulkhead.js';
import type { DbCell } from './db-layer.js';
import type { HttpLayerResult } from './http-layer.js';
import type { PlanCheck } from './plans.js';
import type { ScaleResult } from './scale.js';
import { ratio } from './stats.js';

export interface Machine {
  cpuModel: string;
  cores: number;
  ramGb: number;
  os: string;
  node: string;
  postgres: string;
  sharedBuffers: string;
  /** The Citus extension's version, on a Citus coordinator. */
  citus?: string;
}

export interface Settings {
  quick: boolean;
  /** --smoke: a check of the bench code on a tiny seed; its figures mean nothing. */
  smoke?: boolean;
  /** `citus`: `--citus <url>`, the DB layer and plans only, on the cluster. */
  database: 'embedded' | 'DATABASE_URL' | 'citus';
  tenants: number;
  orders: number;
  seedReused: boolean;
  seedMs: number;
  poolSize: number;
  concurrencies: number[];
  dbRounds: number;
  dbDurationMs: number;
  httpConnections: number[];
  httpRounds: number;
  httpDurationSec: number;
  pointSample: number;
  /** Orders of tenants outside the bench prefix (normally 0). */
  otherOrders: number;
}

export interface BenchResults {
  date: string;
  startedAt: string;
  elapsedSec: number;
  machine: Machine;
  settings: Settings;
  db: DbCell[];
  http?: HttpLayerResult;
  plans: PlanCheck[];
  scale?: ScaleResult;
  /** One tenant flooding, a small one measured, the per-tenant bulkhead on and off (bulkhead.ts). */
  bulkhead?: BulkheadResult;
  /** Why a phase did not run (e.g. `--scale` not given). */
  skipped: Record<string, string>;
  targets: TargetCheck[];
}

export interface TargetCheck {
  name: string;
  goal: string;
  measured: string;
  pass: boolean;
}

const fmt = (n: number | undefined, digits = 2) => (n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(digits));
const num = (n: number) => Math.round(n).toLocaleString('en-US');
const mark = (pass: boolean) => (pass ? '✓' : '✗');

/** The report's "Targets" section: one row per target, ✓ or ✗. */
function targetLines(targets: readonly TargetCheck[]): string[] {
  return ['## Targets', '', '| | target | goal | measured |', '|---|---|---|---|', ...targets.map((t) => `| ${mark(t.pass)} | ${t.name} | ${t.goal} | ${t.measured} |`)];
}
const clients = (n: number) => `${n} client${n === 1 ? '' : 's'}`;

function atLeast(name: string, goal: number, measured: number | undefined, unit = '×'): TargetCheck {
  return { name, goal: `≥ ${goal}${unit}`, measured: `${fmt(measured)}${unit}`, pass: measured !== undefined && measured >= goal };
}

function atMost(name: string, goal: number, measured: number | undefined, unit: string, digits = 2): TargetCheck {
  return { name, goal: `≤ ${goal}${unit}`, measured: `${fmt(measured, digits)}${unit}`, pass: measured !== undefined && measured <= goal };
}

/** The issue's targets, each against the figures measured in this run. */
export function evaluateTargets(r: Omit<BenchResults, 'targets'>): TargetCheck[] {
  const checks: TargetCheck[] = [];
  // The runner and the limit share the driver (postgres.js), so what is left is the setting and RLS.
  for (const cell of r.db.filter((c) => c.variant === 'runner')) {
    checks.push(atLeast(`runner / limit, ${cell.query}, ${clients(cell.concurrency)}`, 0.95, cell.vsLimit));
  }
  // Issue 21: naming the tenant next to RLS costs nothing measurable (on Citus it should win).
  for (const cell of r.db.filter((c) => c.variant === 'runner' && r.db.some((o) => o.variant === 'rls-only'))) {
    checks.push(atLeast(`runner / rls-only, ${cell.query}, ${clients(cell.concurrency)}`, 0.95, cell.vsRlsOnly));
  }
  const dbErrors = r.db.reduce((a, c) => a + c.result.errors, 0);
  // `--bulkhead` runs that scenario alone: no DB layer.
  if (r.db.length) checks.push({ name: 'DB layer errors', goal: '0', measured: String(dbErrors), pass: dbErrors === 0 });
  if (r.http) {
    for (const cell of r.http.cells.filter((c) => c.cache === 'off' && c.vsBare !== undefined)) {
      checks.push(atLeast(`${cell.target} / bare, ${cell.connections} connections`, 0.8, cell.vsBare));
    }
    for (const cell of r.http.cells.filter((c) => c.cache === 'on')) {
      checks.push(atLeast(`${cell.target} cached / uncached, ${cell.connections} connections`, 5, cell.vsUncached));
    }
    const non2xx = r.http.cells.reduce((a, c) => a + c.non2xx, 0);
    checks.push({ name: 'HTTP non-2xx responses', goal: '0', measured: String(non2xx), pass: non2xx === 0 });
    const rss = Math.max(r.http.maxRssMb.cacheOff ?? 0, r.http.maxRssMb.cacheOn ?? 0);
    checks.push(atMost('server RSS under load', 200, rss || undefined, ' MB', 0));
  }
  for (const plan of r.plans.filter((p) => p.goal !== undefined)) {
    const measured = plan.taskCount === undefined ? (plan.pass ? 'yes' : 'no') : `Task Count: ${plan.taskCount}`;
    checks.push({ name: `plan: ${plan.name}`, goal: plan.goal!, measured, pass: plan.pass });
  }
  if (r.scale) {
    for (const c of r.scale.comparison) {
      checks.push(atMost(`scale: runner/limit drift, ${c.query}`, 5, c.ratioDrift === undefined ? undefined : c.ratioDrift * 100, '%', 1));
      checks.push(atMost(`scale: small-tenant p50 growth, ${c.query}`, 1.2, c.p50Growth, '×'));
    }
  }
  if (r.bulkhead) {
    const b = r.bulkhead;
    checks.push(atMost(`bulkhead on: small tenant p99 under a ${b.floodConnections}-client flood / alone`, 2, b.p99Ratio.on, '×'));
    const refused = Object.values(b.cells.find((c) => c.mode === 'on' && c.load === 'flood')?.smallStatuses ?? {}).reduce((a, n) => a + n, 0);
    checks.push({ name: 'bulkhead on: small tenant non-2xx under the flood', goal: '0', measured: String(refused), pass: refused === 0 });
  }
  return checks;
}

/** The bulkhead scenario as markdown lines. */
export function bulkheadLines(b: BulkheadResult): string[] {
  const statuses = (s: Record<string, number> | undefined) => (s && Object.keys(s).length ? Object.entries(s).map(([k, n]) => `${num(n)}× ${k}`).join(', ') : '—');
  const order = (c: { mode: string; load: string }) => (c.mode === 'on' ? 0 : 2) + (c.load === 'alone' ? 0 : 1);
  return [
    `The largest tenant (${b.floodTenant.slug}, ${num(b.floodTenant.orders)} orders) sends its revenue-by-region query over REST from ${b.floodConnections} clients while a small one (${b.smallTenant.slug}, ${num(b.smallTenant.orders)} orders) sends its own from ${b.smallConnections}; cache off, pool ${b.poolMax}. ` +
      `Bulkhead on: TENANT_MAX_CONCURRENCY ${b.permits} (the default for the pool), TENANT_BUSY_WAIT_MS ${b.waitMs}; off: TENANT_MAX_CONCURRENCY 10,000. ${b.rounds} round(s) × ${b.durationSec} s, the two servers alternating; median round (by req/s) shown. × alone: the small tenant's p99 over its p99 alone on the same server in the same run.`,
    '',
    '| bulkhead | small tenant | req/s | p50 ms | p95 ms | p99 ms | p99 × alone | non-2xx | flood req/s | flood p99 ms | flood answers other than 2xx |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...[...b.cells]
      .sort((x, y) => order(x) - order(y))
      .map((c) => {
        const r = c.small;
        const vsAlone = c.load === 'flood' ? `${fmt(b.p99Ratio[c.mode])}×` : '1.00×';
        const non2xx = Object.values(c.smallStatuses).reduce((a, n) => a + n, 0);
        return `| ${c.mode} | ${c.load === 'alone' ? 'alone' : 'under the flood'} | ${num(r.reqPerSec)} | ${fmt(r.p50)} | ${fmt(r.p95)} | ${fmt(r.p99)} | ${vsAlone} | ${non2xx} | ${c.flood ? num(c.flood.reqPerSec) : '—'} | ${c.flood ? fmt(c.flood.p99) : '—'} | ${statuses(c.floodStatuses)} |`;
      }),
  ];
}

export interface HttpBound {
  name: string;
  /** What the bound caps. */
  caps: string;
  /** Per connection count: the bound's ratio. */
  values: { connections: number; ratio: number | undefined }[];
}

/**
 * Ceilings measured in the same run, that no optimisation of the measured path can beat: the
 * tenant tier answering with no database work at all, against the bare point route that does
 * query the database; and a request that does nothing, against an uncached query.
 */
export function httpBounds(http: HttpLayerResult): HttpBound[] {
  const rps = (target: string, connections: number, cache: 'off' | 'on' = 'off') =>
    http.cells.find((c) => c.target === target && c.cache === cache && c.connections === connections)?.result.reqPerSec;
  const connections = [...new Set(http.cells.map((c) => c.connections))].sort((a, b) => a - b);
  const bound = (name: string, caps: string, top: string, base: string): HttpBound => ({
    name,
    caps,
    values: connections.map((n) => ({ connections: n, ratio: ratio(rps(top, n), rps(base, n)) })),
  });
  return [
    bound('tenant tier with no database work (`trpc datasets.list`) / bare point route', 'trpc orders.get / bare point', 'trpc datasets.list', 'bare point'),
    bound('request doing nothing (`bare floor`: no auth, no database) / uncached trpc query', 'trpc query cached / uncached', 'bare floor', 'trpc query'),
    bound('request doing nothing / uncached REST /v1/query', 'REST /v1/query cached / uncached', 'bare floor', 'REST /v1/query'),
  ].filter((b) => b.values.some((v) => v.ratio !== undefined));
}

export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const s = r.settings;
  // `--bulkhead`: that scenario alone, nothing else to show.
  if (r.bulkhead && r.db.length === 0 && !r.http) {
    return `${[
      `# Palisade benchmark, ${r.date}: per-tenant bulkheads (--bulkhead${s.quick ? ', --quick' : ''}${s.smoke ? ', --smoke' : ''})`,
      '',
      ...(s.smoke ? ['**--smoke: a check that the bench code runs. The figures and ✓/✗ below mean nothing.**', ''] : []),
      `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGb} GB RAM, ${m.os}; Node ${m.node}; PostgreSQL ${m.postgres} (${s.database}, shared_buffers ${m.sharedBuffers}).`,
      `Data: ${num(s.tenants)} tenants, ${num(s.orders)} orders (Zipf-skewed${s.seedReused ? ', reused seed' : `, seeded in ${(s.seedMs / 1000).toFixed(1)} s`}). Total ${Math.round(r.elapsedSec)} s.`,
      '',
      ...targetLines(r.targets),
      '',
      '## Per-tenant bulkheads',
      '',
      ...bulkheadLines(r.bulkhead),
    ].join('\n')}\n`;
  }
  const lines: string[] = [
    `# Palisade benchmark, ${r.date}${s.database === 'citus' ? ' (--citus)' : ''}${s.quick ? ' (--quick)' : ''}${s.smoke ? ' (--smoke)' : ''}`,
    '',
    ...(s.smoke ? ['**--smoke: a check that the bench code runs, on a tiny seed with 0.3 s measurements. The figures and ✓/✗ below mean nothing.**', ''] : []),
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGb} GB RAM, ${m.os}; Node ${m.node}; PostgreSQL ${m.postgres} (${s.database}${m.citus ? ` ${m.citus}, coordinator` : ''}, shared_buffers ${m.sharedBuffers}).`,
    `Data: ${num(s.tenants)} tenants, ${num(s.orders)} orders (Zipf-skewed${s.seedReused ? ', reused seed' : `, seeded in ${(s.seedMs / 1000).toFixed(1)} s`})${s.otherOrders ? `, plus ${num(s.otherOrders)} orders of other tenants` : ''}.`,
    `DB layer: pool ${s.poolSize} per variant, ${s.concurrencies.join(' and ')} concurrent clients, ${s.dbRounds} interleaved rounds × ${(s.dbDurationMs / 1000).toFixed(1)} s per variant, median round shown. ` +
      `${r.http ? `HTTP: ${s.httpConnections.join(' and ')} connections, ${s.httpRounds} round(s) × ${s.httpDurationSec} s. ` : ''}Total ${Math.round(r.elapsedSec)} s.`,
    '',
    ...targetLines(r.targets),
    ...(r.bulkhead ? ['', '## Per-tenant bulkheads', '', ...bulkheadLines(r.bulkhead)] : []),
    '',
    '## DB layer',
    '',
    'limit: the statement with an explicit `WHERE tenant_id = $1`, as a BYPASSRLS role, no transaction, prepared, on postgres.js. ' +
      `runner: the statement as production sends it (the tenant bound as $1; on plain Postgres the aggregate, like dataset queries, names it by the setting instead) through the production tenant reader (\`TenantReader\`) as the app role, RLS in force too: ${s.database === 'citus' ? '`BEGIN`, `select public.set_tenant($1)`, the statement and `COMMIT` in one flight on a reserved connection (Citus propagates the setting only inside a transaction block)' : '`select public.set_tenant($1)` and the statement in one `sql.batch` on a postgres.js pool'}. ` +
      'bound (plain Postgres): the runner with the tenant bound in both statements (the aggregate then re-plans on every execution). ' +
      'rls-only: the runner with no tenant predicate in the statement, RLS alone supplying it (what the runner sent before issue 21). ' +
      'naive: Drizzle `db.transaction` + awaited `select public.set_tenant($1)` + the runner\'s statement. ' +
      'Each on its own pool of the same size; the runner and the limit share the driver, so × limit is what the setting and RLS cost; the runner and rls-only differ only in the tenant predicate, so × rls-only is what naming the tenant costs or saves. Round trips counted on the wire.',
    '',
    '| query | clients | variant | req/s | p50 ms | p95 ms | p99 ms | errors | round trips | × limit | × rls-only |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.db.map(
      (c) =>
        `| ${c.query} | ${c.concurrency} | ${c.variant} | ${num(c.result.reqPerSec)} | ${fmt(c.result.p50)} | ${fmt(c.result.p95)} | ${fmt(c.result.p99)} | ${c.result.errors} | ${fmt(c.roundTrips, 1)} | ${fmt(c.vsLimit)} | ${c.vsRlsOnly === undefined ? '' : fmt(c.vsRlsOnly)} |`,
    ),
  ];
  const errors = r.db.filter((c) => c.firstError);
  if (errors.length) lines.push('', ...errors.map((c) => `- ${c.query}/${c.variant}/${c.concurrency}: first error: ${c.firstError}`));
  lines.push('', '## Full stack over HTTP', '');
  if (r.http) {
    lines.push(
      'Server and load generator (autocannon) in separate processes; tRPC and REST with API-key auth and RLS vs bare Hono routes running the explicit-WHERE query with no auth.',
      '',
      '| target | cache | connections | req/s | p50 ms | p95 ms | p99 ms | non-2xx | × bare | × uncached |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...r.http.cells.map(
        (c) =>
          `| ${c.target} | ${c.cache} | ${c.connections} | ${num(c.result.reqPerSec)} | ${fmt(c.result.p50)} | ${fmt(c.result.p95)} | ${fmt(c.result.p99)} | ${c.non2xx} | ${fmt(c.vsBare)} | ${fmt(c.vsUncached)} |`,
      ),
      '',
      `Server RSS under load (max): ${r.http.maxRssMb.cacheOff ?? '—'} MB with the cache off, ${r.http.maxRssMb.cacheOn ?? '—'} MB with it on (${r.http.idleRssMb ?? '—'} MB idle after start; the server runs compiled, as \`npm start\` runs it).`,
    );
    const bounds = httpBounds(r.http);
    if (bounds.length) {
      const ns = bounds[0]!.values.map((v) => v.connections);
      lines.push(
        '',
        'Bounds from the same run: a target cannot beat the ratio of the path it is a superset of. `trpc orders.get` is the tenant tier *plus* a read, so it stays under the tier alone; a cache hit still authenticates, rate-limits, audits and answers over HTTP, so it stays under a request doing nothing.',
        '',
        `| bound | caps | ${ns.map((n) => `${n} conn.`).join(' | ')} |`,
        `|---|---|${ns.map(() => '---:').join('|')}|`,
        ...bounds.map((b) => `| ${b.name} | ${b.caps} | ${b.values.map((v) => `${fmt(v.ratio)}×`).join(' | ')} |`),
      );
    }
    const odd = r.http.cells.filter((c) => Object.keys(c.statuses).length || c.error);
    if (odd.length) lines.push('', ...odd.map((c) => `- ${c.target} (cache ${c.cache}, ${c.connections}): statuses ${JSON.stringify(c.statuses)}${c.error ? `; ${c.error}` : ''}`));
  } else {
    lines.push(`Skipped: ${r.skipped.http ?? 'not run'}.`);
  }
  lines.push('', `## Plans (EXPLAIN ANALYZE as the app role, in a tenant transaction${s.database === 'citus' ? '; Citus `Task Count`: the shards the statement ran on' : ''})`, '');
  // A plan without a goal is there to compare with: `·`, neither pass nor fail.
  lines.push(...r.plans.map((p) => `- ${p.goal === undefined ? '·' : mark(p.pass)} ${p.name}: ${p.detail}${p.executionMs === undefined ? '' : ` (${fmt(p.executionMs, 3)} ms)`}`));
  lines.push('', '## Scale', '');
  if (r.scale) {
    const sc = r.scale;
    lines.push(
      `Tenant ${sc.tenant.slug} (${num(sc.tenant.orders)} orders) at ${sc.sizes.map(num).join(' and ')} total rows; table pre-warmed with ${sc.prewarm}.`,
      '',
      '| rows | query | variant | clients | req/s | p50 ms | p95 ms | p99 ms |',
      '|---:|---|---|---:|---:|---:|---:|---:|',
      ...sc.cells.map((c) => `| ${num(c.totalOrders)} | ${c.query} | ${c.variant} | ${c.concurrency} | ${num(c.result.reqPerSec)} | ${fmt(c.result.p50)} | ${fmt(c.result.p95)} | ${fmt(c.result.p99)} |`),
      '',
      '| query | runner / limit (small) | runner / limit (big) | drift | p50 big/small (1 client): runner · limit |',
      '|---|---:|---:|---:|---:|',
      ...sc.comparison.map(
        (c) => `| ${c.query} | ${fmt(c.ratioBase)} | ${fmt(c.ratioBig)} | ${c.ratioDrift === undefined ? '—' : `${(c.ratioDrift * 100).toFixed(1)}%`} | ${fmt(c.p50Growth)} · ${fmt(c.limitP50Growth)} |`,
      ),
    );
  } else {
    lines.push(`Skipped: ${r.skipped.scale ?? 'not run'}.`);
  }
  return `${lines.join('\n')}\n`;
}
