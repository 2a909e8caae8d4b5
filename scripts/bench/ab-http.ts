/**
 * A/B of server variants over HTTP, for differences the `--quick` bench cannot resolve (its 3 s cells
 * move ±15–50% between runs of the same code). Each variant is a copy of the repository with
 * `npm run build:server` done; its compiled bench-server (cache on, TTL 60 s) runs on the bench's
 * database (`npm run bench` prepares and seeds it first) and the same target is loaded on each in
 * turn, ABBA per round, so drift and other load hit all alike. Besides req/s it reads each server's
 * CPU (user + system, /proc) per request, which moves far less with other load than req/s does.
 * Start one variant twice (an A/A pair) to see the noise.
 *
 *   npx tsx scripts/bench/ab-http.ts <data-dir> <rounds> <seconds> <name=dir> <name=dir> ...
 *
 * AB_TARGETS (comma-separated target names, as in http-layer.ts), AB_CONNECTIONS (default 8,32),
 * AB_RESTART=1 (fresh server processes every round, started in a rotating order: a process's own JIT
 * and heap move its figures by up to ±20%, and the first one started has measured slowest).
 * The seed must be the `--quick` one (200 tenants × 200,000 orders) unless AB_TENANTS/AB_ORDERS say otherwise.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPool } from '../../db/client.js';
import { forkScript, spawnCompiled, stopAllChildren, stopChild } from './children.js';
import { targetRequests, type TargetName } from './http-layer.js';
import type { LoadJob, LoadResult } from './load-worker.js';
import { prepareBenchDatabase } from './prepare.js';
import { ensureSeed, sampleOrders } from './seed.js';
import { percentile } from './stats.js';

const [dataDir, roundsArg, secondsArg, ...variantArgs] = process.argv.slice(2);
const rounds = Number(roundsArg);
const seconds = Number(secondsArg);
const variants = variantArgs.map((v) => {
  const [name, dir] = v.split('=');
  return { name: name!, dir: path.resolve(dir!) };
});
if (!dataDir || !(rounds > 0) || !(seconds > 0) || variants.length < 2 || variants.some((v) => !v.name || !v.dir)) {
  process.stderr.write('usage: npx tsx scripts/bench/ab-http.ts <data-dir> <rounds> <seconds> <name=dir> <name=dir> ...\n');
  process.exit(2);
}
const TARGETS = (process.env.AB_TARGETS?.split(',') as TargetName[] | undefined) ?? ['trpc query', 'trpc datasets.list', 'trpc orders.get', 'REST /v1/query', 'bare floor'];
const CONNECTIONS = (process.env.AB_CONNECTIONS ?? '8,32').split(',').map(Number);
const RESTART = process.env.AB_RESTART === '1';
const SEED = { tenants: Number(process.env.AB_TENANTS ?? 200), orders: Number(process.env.AB_ORDERS ?? 200_000) };

const started = performance.now();
const log = (line: string) => process.stderr.write(`[ab-http ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);

const worker = forkScript(fileURLToPath(new URL('./load-worker.ts', import.meta.url)));
let nextId = 1;
function load(job: Omit<LoadJob, 'id'>): Promise<LoadResult> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const onMessage = (m: LoadResult) => {
      if (m.id !== id) return;
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      resolve(m);
    };
    const onExit = (code: number | null) => reject(new Error(`load worker exited (code ${code})`));
    worker.on('message', onMessage);
    worker.once('exit', onExit);
    worker.send({ ...job, id });
  });
}

interface Server {
  child: ChildProcess;
  url: string;
}

async function startServer(dir: string, config: object): Promise<Server> {
  const child = spawnCompiled(path.join(dir, 'dist', 'server', 'scripts', 'bench', 'bench-server.js'), { ...process.env, BENCH_SERVER_CONFIG: JSON.stringify(config) });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"port"'));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`server in ${dir} exited (code ${code}) before listening`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

/** User + system CPU of a process, in ms (Linux: clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => {
  const s = sorted(xs);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const db = await prepareBenchDatabase(dataDir!, process.env, log);
  const owner = openPool(db.ownerUrl, { max: 2 });
  const su = openPool(db.superuserUrl, { max: 1 });
  const bypass = openPool(db.bypassUrl, { max: 2 });
  const servers: Server[] = [];
  try {
    const seed = await ensureSeed(owner, su, { dataDir: dataDir!, prefix: 'bench', ...SEED }, log);
    const requests = targetRequests(seed.tenants, await sampleOrders(bypass, seed.tenants, 20_000));
    const config = { appUrl: db.appUrl, platformUrl: db.platformUrl, bypassUrl: db.bypassUrl, cacheTtlSeconds: 60, poolMax: 10 };
    let starts = 0;
    const startAll = async () => {
      for (const s of servers.splice(0)) await stopChild(s.child);
      const fresh = new Array<Server>(variants.length);
      for (let k = 0; k < variants.length; k++) {
        const i = (k + starts) % variants.length;
        fresh[i] = await startServer(variants[i]!.dir, config);
      }
      starts++;
      servers.push(...fresh);
      // Warm-up: JIT, pools, the cache.
      for (const s of servers) for (const t of TARGETS) await load({ url: s.url, connections: Math.max(...CONNECTIONS), durationSec: 2, requests: requests[t] });
    };
    await startAll();
    const reqPerSec = new Map<string, number[]>(); // `${variant}/${target}/${connections}`, one per round
    const cpuUs = new Map<string, number[]>(); // server CPU µs per request, same keys
    const push = (map: Map<string, number[]>, key: string, value: number) => map.set(key, [...(map.get(key) ?? []), value]);
    for (let round = 0; round < rounds; round++) {
      if (RESTART && round > 0) await startAll();
      for (const connections of CONNECTIONS) {
        for (const target of TARGETS) {
          const order = variants.map((_, i) => (round % 2 === 0 ? i : variants.length - 1 - i));
          const line: string[] = [];
          for (const i of order) {
            const pid = servers[i]!.child.pid!;
            const cpu0 = cpuMs(pid);
            const res = await load({ url: servers[i]!.url, connections, durationSec: seconds, requests: requests[target] });
            const us = ((cpuMs(pid) - cpu0) * 1000) / res.latenciesMs.length;
            const rps = (res.latenciesMs.length / res.elapsedMs) * 1000;
            if (res.non2xx || res.errors) log(`  ${variants[i]!.name} ${target}: ${res.non2xx} non-2xx, ${res.errors} errors ${JSON.stringify(res.statuses)}`);
            const key = `${variants[i]!.name}/${target}/${connections}`;
            push(reqPerSec, key, rps);
            push(cpuUs, key, us);
            line.push(`${variants[i]!.name} ${rps.toFixed(0)} req/s ${us.toFixed(1)} µs`);
          }
          log(`round ${round + 1} ${target} c${connections}: ${line.join(', ')}`);
        }
      }
    }
    const base = variants[0]!.name;
    const others = variants.slice(1);
    const table = (title: string, map: Map<string, number[]>, unit: string, digits: number) => {
      const out = [
        title,
        '',
        `| target | conn | ${variants.map((v) => `${v.name} ${unit} (median · p25)`).join(' | ')} | ${others.map((v) => `${v.name} / ${base} (median of rounds)`).join(' | ')} |`,
        `|---|---:|${variants.map(() => '---:').join('|')}|${others.map(() => '---:').join('|')}|`,
      ];
      for (const target of TARGETS) {
        for (const connections of CONNECTIONS) {
          const of = (name: string) => map.get(`${name}/${target}/${connections}`)!;
          const cols = variants.map((v) => `${median(of(v.name)).toFixed(digits)} · ${percentile(sorted(of(v.name)), 0.25).toFixed(digits)}`);
          const ratios = others.map((v) => median(of(v.name).map((x, r) => x / of(base)[r]!)).toFixed(3));
          out.push(`| ${target} | ${connections} | ${cols.join(' | ')} | ${ratios.join(' | ')} |`);
        }
      }
      return out.join('\n');
    };
    process.stdout.write(
      [
        `${rounds} rounds × ${seconds} s per variant, target and connection count${RESTART ? ', fresh server processes every round' : ''}.`,
        '',
        table('Server CPU per request (µs, user + system of the server process):', cpuUs, 'µs', 1),
        '',
        table('Requests per second:', reqPerSec, 'req/s', 0),
        '',
        `raw: ${JSON.stringify({ cpuUs: Object.fromEntries(cpuUs), reqPerSec: Object.fromEntries(reqPerSec) })}`,
        '',
      ].join('\n'),
    );
  } finally {
    for (const s of servers) await stopChild(s.child);
    await stopChild(worker);
    await stopAllChildren();
    await Promise.allSettled([owner.end(), su.end(), bypass.end()]);
    await db.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
