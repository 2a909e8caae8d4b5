/**
 * The full stack over HTTP: bench-server.ts in one child process (cache off, then on), autocannon in
 * another (load-worker.ts), rotating over many tenants' keys and their order ids. Each full-stack
 * target is compared with the bare route running the same query with no auth and no RLS.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { fromPackageRoot } from '../../db/package-root.js';
import { buildServer, forkScript, rssMb, spawnCompiled, stopChild } from './children.js';
import type { LoadJob, LoadRequest, LoadResult } from './load-worker.js';
import type { OrderRef } from './seed.js';
import { medianRound, ratio, rotate, summarize, type RunSummary } from './stats.js';

const SERVER = fromPackageRoot('dist', 'server', 'scripts', 'bench', 'bench-server.js');
const WORKER = fileURLToPath(new URL('./load-worker.ts', import.meta.url));

export type TargetName = 'trpc orders.get' | 'bare point' | 'trpc query' | 'REST /v1/query' | 'bare revenue' | 'trpc datasets.list' | 'bare floor';

export interface HttpCell {
  target: TargetName;
  cache: 'off' | 'on';
  connections: number;
  result: RunSummary;
  rounds: RunSummary[];
  non2xx: number;
  statuses: Record<string, number>;
  /** req/s relative to the bare route for the same query (cache off) at the same connections. */
  vsBare?: number;
  /** Query targets with the cache on: req/s relative to the same target with it off. */
  vsUncached?: number;
  error?: string;
}

export interface HttpLayerResult {
  cells: HttpCell[];
  /** Max server RSS (MB) while under load, per server. */
  maxRssMb: { cacheOff?: number; cacheOn?: number };
  /** Server RSS (MB) once listening, before any request: the baseline the load adds to. */
  idleRssMb?: number;
}

export interface HttpOptions {
  appUrl: string;
  platformUrl: string;
  bypassUrl: string;
  poolMax: number;
  connections: number[];
  durationSec: number;
  rounds: number;
}

const BARE_OF: Partial<Record<TargetName, TargetName>> = {
  'trpc orders.get': 'bare point',
  'trpc query': 'bare revenue',
  'REST /v1/query': 'bare revenue',
};

const QUERY_INPUT = JSON.stringify({ dataset: 'orders', dimensions: ['region'], metrics: ['revenue'] });

/** The requests each target rotates over. */
export function targetRequests(tenants: readonly { id: string; apiKey: string }[], sample: readonly OrderRef[]): Record<TargetName, LoadRequest[]> {
  const keyOf = new Map(tenants.map((t) => [t.id, t.apiKey]));
  const auth = (tenantId: string) => ({ authorization: `Bearer ${keyOf.get(tenantId)!}` });
  const points = sample.filter((r) => keyOf.has(r.tenantId)).slice(0, 5000);
  return {
    'trpc orders.get': points.map((r) => ({ path: `/trpc/orders.get?input=${encodeURIComponent(JSON.stringify({ id: r.id }))}`, headers: auth(r.tenantId) })),
    'bare point': points.map((r) => ({ path: `/bare/orders/${r.tenantId}/${r.id}` })),
    'trpc query': tenants.map((t) => ({ path: `/trpc/query?input=${encodeURIComponent(QUERY_INPUT)}`, headers: auth(t.id) })),
    'REST /v1/query': tenants.map((t) => ({ path: '/v1/query?dataset=orders&dimensions=region&metrics=revenue', headers: auth(t.id) })),
    'bare revenue': tenants.map((t) => ({ path: `/bare/revenue/${t.id}` })),
    // Not targets but bounds (report.ts): the tenant tier with no database work, and a request
    // that does nothing at all.
    'trpc datasets.list': tenants.map((t) => ({ path: '/trpc/datasets.list', headers: auth(t.id) })),
    'bare floor': [{ path: '/bare/floor' }],
  };
}

export interface Server {
  child: ChildProcess;
  url: string;
}

/** bench-server.ts in its own process; `tenantMaxConcurrency` unset: the default (config.ts). */
export async function startServer(
  opts: Pick<HttpOptions, 'appUrl' | 'platformUrl' | 'bypassUrl' | 'poolMax'>,
  cacheTtlSeconds: number,
  settings: { tenantMaxConcurrency?: number } = {},
): Promise<Server> {
  const config = { appUrl: opts.appUrl, platformUrl: opts.platformUrl, bypassUrl: opts.bypassUrl, cacheTtlSeconds, poolMax: opts.poolMax, ...settings };
  const child = spawnCompiled(SERVER, { ...process.env, BENCH_SERVER_CONFIG: JSON.stringify(config) });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('bench server did not start within 60 s')), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"port"'));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bench server exited (code ${code}) before listening`));
    });
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

/** Sends jobs to one load-worker process, one at a time. */
export class LoadWorker {
  private readonly child = forkScript(WORKER);
  private nextId = 1;

  run(job: Omit<LoadJob, 'id'>): Promise<LoadResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onMessage = (message: LoadResult) => {
        if (message.id !== id) return;
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        resolve(message);
      };
      const onExit = (code: number | null) => reject(new Error(`load worker exited (code ${code})`));
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send({ ...job, id });
    });
  }

  stop(): Promise<void> {
    return stopChild(this.child);
  }
}

export async function runHttpLayer(
  opts: HttpOptions,
  tenants: readonly { id: string; apiKey: string }[],
  sample: readonly OrderRef[],
  log: (line: string) => void,
): Promise<HttpLayerResult> {
  const requests = targetRequests(tenants, sample);
  log('HTTP: building the server (npm run build:server)…');
  buildServer();
  const worker = new LoadWorker();
  const cells = new Map<string, HttpCell>();
  const maxRssMb: HttpLayerResult['maxRssMb'] = {};
  let idleRssMb: number | undefined;
  try {
    const phases: { cache: 'off' | 'on'; ttl: number; targets: TargetName[] }[] = [
      { cache: 'off', ttl: 0, targets: ['trpc orders.get', 'bare point', 'trpc query', 'REST /v1/query', 'bare revenue', 'trpc datasets.list', 'bare floor'] },
      { cache: 'on', ttl: 60, targets: ['trpc query', 'REST /v1/query'] },
    ];
    for (const phase of phases) {
      log(`HTTP: starting the server with the cache ${phase.cache}…`);
      const server = await startServer(opts, phase.ttl);
      idleRssMb ??= rssMb(server.child.pid!);
      let maxRss = 0;
      let sampling = false;
      const sampler = setInterval(() => {
        if (sampling) maxRss = Math.max(maxRss, rssMb(server.child.pid!) ?? 0);
      }, 200);
      try {
        const run = (target: TargetName, connections: number, durationSec: number) =>
          worker.run({ url: server.url, connections, durationSec, requests: requests[target] });
        // Warm-up: JIT, pools, plans, and (cache on) the cache itself.
        for (const target of phase.targets) await run(target, Math.max(...opts.connections), Math.min(2, opts.durationSec / 3));
        sampling = true;
        for (let round = 0; round < opts.rounds; round++) {
          for (const connections of opts.connections) {
            for (const target of rotate(phase.targets, round)) {
              log(`HTTP: ${target}, cache ${phase.cache}, ${connections} connections (round ${round + 1}/${opts.rounds})`);
              const res = await run(target, connections, opts.durationSec);
              const summary = summarize(res.latenciesMs, res.non2xx + res.errors, res.elapsedMs);
              const key = `${target}/${phase.cache}/${connections}`;
              const cell = cells.get(key) ?? { target, cache: phase.cache, connections, result: summary, rounds: [], non2xx: 0, statuses: {} };
              cell.rounds.push(summary);
              cell.non2xx += res.non2xx;
              for (const [status, n] of Object.entries(res.statuses)) cell.statuses[status] = (cell.statuses[status] ?? 0) + n;
              cell.error ??= res.error;
              cells.set(key, cell);
            }
          }
        }
      } finally {
        clearInterval(sampler);
        await stopChild(server.child);
      }
      maxRssMb[phase.cache === 'off' ? 'cacheOff' : 'cacheOn'] = maxRss || undefined;
    }
  } finally {
    await worker.stop();
  }
  for (const cell of cells.values()) cell.result = medianRound(cell.rounds);
  for (const cell of cells.values()) {
    const bare = BARE_OF[cell.target];
    if (bare) cell.vsBare = ratio(cell.result.reqPerSec, cells.get(`${bare}/off/${cell.connections}`)?.result.reqPerSec);
    if (cell.cache === 'on') cell.vsUncached = ratio(cell.result.reqPerSec, cells.get(`${cell.target}/off/${cell.connections}`)?.result.reqPerSec);
  }
  return { cells: [...cells.values()], maxRssMb, idleRssMb };
}
