/**
 * What the fault suites (test/faults-*.test.ts) share: the server built and started as `npm start`
 * starts it, a private PostgreSQL the test may stop and start, keep-alive clients that drive a mix
 * of reads and writes and record every outcome, and the checks every scenario makes on them.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { openPool, type Sql } from '../db/client.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded-postgres.js';
import { ensureOwnerAndDatabase, OWNER_ROLE } from '../db/roles.js';
import { startNodeArgs } from '../scripts/start-command.js';
import { withLogin } from '../src/database.js';

const root = path.resolve(import.meta.dirname, '..');
const { flags, entry } = startNodeArgs();

// ---- the build ---------------------------------------------------------------------------------

const SOURCES = ['src', 'db', 'scripts'];
const STAMP = path.join(root, 'dist', 'server', '.fault-tests-built');
const LOCK = path.join(os.tmpdir(), `palisade-build-${Buffer.from(root).toString('hex').slice(-24)}.lock`);

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (full !== path.join(root, 'src', 'web')) newest = Math.max(newest, newestSource(full));
    } else if (entry.name.endsWith('.ts')) {
      newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  }
  return newest;
}

/**
 * `npm start`'s build step (npm run build:server), once for all fault files of a run: they take a
 * lock, and skip the build when nothing changed since the last one they made.
 */
export async function buildServerOnce(): Promise<void> {
  for (;;) {
    try {
      fs.mkdirSync(LOCK);
      break;
    } catch {
      // A lock older than any build is left over from a killed run.
      if (Date.now() - fs.statSync(LOCK, { throwIfNoEntry: false })!.mtimeMs > 180_000) fs.rmSync(LOCK, { recursive: true, force: true });
      await sleep(200);
    }
  }
  try {
    const newest = Math.max(...SOURCES.map((dir) => newestSource(path.join(root, dir))));
    const built = fs.existsSync(STAMP) ? Number(fs.readFileSync(STAMP, 'utf8')) : 0;
    if (built >= newest && fs.existsSync(entry)) return;
    execFileSync('npm', ['run', 'build:server', '--silent'], { cwd: root, stdio: 'inherit' });
    fs.writeFileSync(STAMP, String(newest));
  } finally {
    fs.rmSync(LOCK, { recursive: true, force: true });
  }
}

// ---- the server process ------------------------------------------------------------------------

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  stderr(): string;
  /** The exit code, once it has exited. */
  exited: Promise<number | null>;
  alive(): boolean;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
}

/** The compiled entry point with `npm start`'s node flags, as test/server-process.test.ts starts it. */
export async function spawnServer(env: Record<string, string>): Promise<ServerProcess> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'APP_DATABASE_URL', 'PLATFORM_DATABASE_URL', 'PORT', 'SEED_DEMO', 'REDIS_URL'].includes(k)),
  );
  const child = spawn(process.execPath, [...flags, entry], {
    cwd: root,
    env: { ...base, PORT: '0', HOST: '127.0.0.1', SEED_DEMO: 'false', TENANT_RATE_LIMIT: '1000000/minute', ...env },
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const started = Date.now();
  for (;;) {
    const match = /Palisade is listening on (http:\/\/\S+)/.exec(out);
    if (match?.[1] && out.includes('\n\n', match.index)) {
      const url = match[1].replace('localhost', '127.0.0.1');
      return {
        url,
        child,
        stderr: () => err,
        exited,
        alive: () => child.exitCode === null && child.signalCode === null,
        stop: () => (child.kill('SIGTERM'), exited),
      };
    }
    if (child.exitCode !== null) throw new Error(`server exited early:\n${err}`);
    if (Date.now() - started > 60_000) throw new Error(`server did not start:\n${out}\n${err}`);
    await sleep(50);
  }
}

/** The server's JSON log lines from stderr offset `from` on, with `message` starting with `prefix`. */
export function logLines(server: ServerProcess, prefix = '', from = 0): Record<string, unknown>[] {
  return server
    .stderr()
    .slice(from)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => String(line.message).startsWith(prefix));
}

/** Waits (up to `timeoutMs`) for a log line with `message` starting with `prefix`, from stderr offset `from` on. */
export async function waitForLog(server: ServerProcess, prefix: string, from = 0, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (logLines(server, prefix, from).length === 0 && Date.now() < until) await sleep(50);
}

/** How many log lines of each level and message (from stderr offset `from` on). */
export function logCounts(server: ServerProcess, from = 0): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of logLines(server, '', from)) {
    const key = `${String(line.level)}: ${String(line.message)}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

// ---- a private PostgreSQL ----------------------------------------------------------------------

export interface PrivatePostgres {
  port: number;
  /** Owner credentials on the `palisade` database: the server's DATABASE_URL. */
  ownerUrl: string;
  /** Superuser on the `palisade` database: sees every tenant's rows (no RLS). */
  superuserUrl: string;
  /** Fast shutdown (SIGINT): backends are told to exit, connections close. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it (if running) and removes its files. */
  destroy(): Promise<void>;
}

/** An embedded PostgreSQL of this test's own, on a free port, with the owner role and database. */
export async function privatePostgres(): Promise<PrivatePostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-faults-pg-'));
  let embedded: EmbeddedPostgres | undefined = await startEmbeddedPostgres(dir);
  const { port } = embedded;
  const ownerPassword = randomBytes(16).toString('hex');
  const su = openPool(embedded.superuserUrl('postgres'), { max: 1 });
  try {
    await ensureOwnerAndDatabase(su, 'palisade', ownerPassword);
  } finally {
    await su.end();
  }
  const superuserUrl = embedded.superuserUrl('palisade');
  return {
    port,
    ownerUrl: withLogin(superuserUrl, OWNER_ROLE, ownerPassword),
    superuserUrl,
    async stop() {
      await embedded?.stop();
      embedded = undefined;
    },
    async start() {
      embedded = await startEmbeddedPostgres(dir);
      if (embedded.port !== port) throw new Error(`Postgres came back on port ${embedded.port}, not ${port}`);
    },
    async destroy() {
      await embedded?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- load ----------------------------------------------------------------------------------------

export type Op = 'list' | 'get' | 'create';

export interface Outcome {
  client: number;
  op: Op;
  /** performance.now() when the request was sent and when it settled. */
  start: number;
  end: number;
  status?: number;
  reason?: string;
  retryAfter?: string;
  connection?: string;
  /** Set when no response came: the error's code (ECONNREFUSED, ECONNRESET, …) or TIMEOUT. */
  error?: string;
  /** orders.create: the order's unique region, to find it in the database. */
  marker?: string;
}

export interface LoadTarget {
  url: string;
  apiKey: string;
  customerId: string;
  orderId: string;
}

/** Longer than any wait the server may impose (DB_CONNECT_WAIT_MS + DB_CONNECT_TIMEOUT_MS): hitting it is a failure. */
const CLIENT_TIMEOUT_MS = 10_000;

/**
 * `clients` concurrent clients, each on its own keep-alive connection, each sending one request
 * after another: `orders.get` (tRPC's direct path), `orders.list` (through tRPC's adapter) and
 * `orders.create` in turn. A client stops when told, or when its connection is refused
 * (`stopWhenRefused`: the server is shutting down).
 */
export class Load {
  readonly outcomes: Outcome[] = [];
  readonly runId = randomBytes(4).toString('hex');
  private stopped = false;
  private readonly running: Promise<void>[];
  private sequence = 0;

  constructor(
    private readonly target: LoadTarget,
    clients: number,
    private readonly options: { stopWhenRefused?: boolean } = {},
  ) {
    this.running = Array.from({ length: clients }, (_, i) => this.client(i));
  }

  /** Stops every client after its current request; resolves when all have. */
  async stop(): Promise<Outcome[]> {
    this.stopped = true;
    await Promise.all(this.running);
    return this.outcomes;
  }

  /** Resolves when every client has stopped by itself (refused connections). */
  async finished(): Promise<Outcome[]> {
    await Promise.all(this.running);
    return this.outcomes;
  }

  private async client(index: number): Promise<void> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ops: Op[] = ['get', 'list', 'create'];
    try {
      for (let n = index; !this.stopped; n++) {
        const outcome = await this.send(agent, index, ops[n % ops.length]!);
        this.outcomes.push(outcome);
        if (outcome.error === 'ECONNREFUSED' && this.options.stopWhenRefused) return;
        // A little slower while refused, as a client reading Retry-After would be (and so the
        // outage does not become a busy loop on two cores); often enough to see recovery at once.
        await sleep(outcome.status === 503 ? 20 : 1);
      }
    } finally {
      agent.destroy();
    }
  }

  private send(agent: http.Agent, client: number, op: Op): Promise<Outcome> {
    const { url, apiKey, customerId, orderId } = this.target;
    const headers: Record<string, string> = { authorization: `Bearer ${apiKey}` };
    let target: string;
    let body: string | undefined;
    let marker: string | undefined;
    if (op === 'get') {
      target = `${url}/trpc/orders.get?input=${encodeURIComponent(JSON.stringify({ id: orderId }))}`;
    } else if (op === 'list') {
      target = `${url}/trpc/orders.list?input=${encodeURIComponent(JSON.stringify({ limit: 5 }))}`;
      headers['trpc-accept'] = 'application/json';
    } else {
      target = `${url}/trpc/orders.create`;
      marker = `fault-${this.runId}-${this.sequence++}`;
      headers['content-type'] = 'application/json';
      body = JSON.stringify({ customerId, region: marker, amount: '12.34', orderDate: '2026-03-01' });
    }
    const outcome: Outcome = { client, op, start: performance.now(), end: 0, marker };
    return new Promise((resolve) => {
      const done = (fields: Partial<Outcome>) => resolve(Object.assign(outcome, { end: performance.now() }, fields));
      const req = http.request(target, { method: body === undefined ? 'GET' : 'POST', headers, agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('error', (error: NodeJS.ErrnoException) => done({ error: error.code ?? error.message }));
        res.on('end', () => {
          let reason: string | undefined;
          try {
            reason = (JSON.parse(text) as { error?: { data?: { reason?: string } } }).error?.data?.reason;
          } catch {
            reason = 'NOT_JSON';
          }
          done({
            status: res.statusCode,
            reason,
            retryAfter: header(res.headers['retry-after']),
            connection: header(res.headers.connection),
          });
        });
      });
      req.setTimeout(CLIENT_TIMEOUT_MS, () => {
        outcome.error = 'TIMEOUT';
        req.destroy();
      });
      req.on('error', (error: NodeJS.ErrnoException) => done({ error: outcome.error ?? error.code ?? error.message }));
      req.end(body);
    });
  }
}

const header = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(', ') : value);

// ---- checks --------------------------------------------------------------------------------------

export interface Summary {
  requests: number;
  statuses: Record<string, number>;
  reasons: Record<string, number>;
  errors: Record<string, number>;
  /** 503s without Retry-After, or with a reason other than DATABASE_*. */
  badRefusals: Outcome[];
}

export function summarize(outcomes: readonly Outcome[]): Summary {
  const count = (keys: (string | undefined)[]) =>
    keys.reduce<Record<string, number>>((acc, key) => (key === undefined ? acc : ((acc[key] = (acc[key] ?? 0) + 1), acc)), {});
  return {
    requests: outcomes.length,
    statuses: count(outcomes.map((o) => (o.status === undefined ? undefined : String(o.status)))),
    reasons: count(outcomes.map((o) => (o.status === 503 ? o.reason : undefined))),
    errors: count(outcomes.map((o) => o.error)),
    badRefusals: outcomes.filter(
      (o) => o.status === 503 && (!o.retryAfter || !/^\d+$/.test(o.retryAfter) || (o.reason !== 'DATABASE_UNAVAILABLE' && o.reason !== 'DATABASE_BUSY')),
    ),
  };
}

/** How long after `since` the first 200 came that ended after it (ms); undefined if none. */
export function firstSuccessAfter(outcomes: readonly Outcome[], since: number): number | undefined {
  const ends = outcomes.filter((o) => o.status === 200 && o.end >= since).map((o) => o.end - since);
  return ends.length ? Math.min(...ends) : undefined;
}

export interface WriteCheck {
  acknowledged: number;
  /** Acknowledged writes found exactly once. */
  acknowledgedOnce: number;
  /** Writes answered 503 (or not answered) that were applied anyway: allowed, once. */
  refusedButApplied: number;
  /** Any marker in more than one row, or a row whose marker was never sent. */
  duplicates: string[];
  strangers: string[];
}

/** Every order this load created, counted as a superuser (no RLS), against what the clients were told. */
export async function checkWrites(superuser: Sql, load: Load): Promise<WriteCheck> {
  const rows = await superuser<{ region: string; n: number }[]>`
    select region, count(*)::int as n from orders where region like ${`fault-${load.runId}-%`} group by region`;
  const found = new Map(rows.map((r) => [r.region, r.n]));
  const creates = load.outcomes.filter((o) => o.op === 'create');
  const sent = new Set(creates.map((o) => o.marker));
  const acknowledged = creates.filter((o) => o.status === 200);
  return {
    acknowledged: acknowledged.length,
    acknowledgedOnce: acknowledged.filter((o) => found.get(o.marker!) === 1).length,
    refusedButApplied: creates.filter((o) => o.status !== 200 && found.has(o.marker!)).length,
    duplicates: rows.filter((r) => r.n > 1).map((r) => r.region),
    strangers: rows.filter((r) => !sent.has(r.region)).map((r) => r.region),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
