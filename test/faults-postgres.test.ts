/**
 * The server process (`npm start`'s build and entry point) under load while its PostgreSQL goes
 * away: a private embedded PostgreSQL stopped and started again, and the app's backends
 * terminated over and over. Every answer is 200 or 503 (with Retry-After and a DATABASE_* reason),
 * every request is answered, the first 200 comes within a second of Postgres being back, every
 * acknowledged write is in the database exactly once, and the process lives through it all.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../db/client.js';
import { APP_ROLE } from '../db/roles.js';
import {
  buildServerOnce,
  checkWrites,
  firstSuccessAfter,
  Load,
  logCounts,
  logLines,
  privatePostgres,
  sleep,
  spawnServer,
  summarize,
  type Outcome,
  type PrivatePostgres,
  type ServerProcess,
  waitForLog,
} from './fault-harness.js';
import { makeTenantWithOrders, type Fixture } from './harness.js';

const CLIENTS = 8;

let postgres: PrivatePostgres;
let server: ServerProcess;
let superuser: Sql;
let fixture: Fixture;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  [, postgres] = await Promise.all([buildServerOnce(), privatePostgres()]);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-faults-'));
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  server = await spawnServer({ DATABASE_URL: postgres.ownerUrl, PALISADE_DATA_DIR: dataDir });
  superuser = openPool(postgres.superuserUrl, { max: 2, applicationName: 'palisade-faults' });
  const owner = openPool(postgres.ownerUrl, { max: 2, applicationName: 'palisade-faults' });
  try {
    fixture = await makeTenantWithOrders(owner, 3);
  } finally {
    await owner.end();
  }
}, 120_000);

afterAll(async () => {
  if (server?.alive()) await server.stop();
  await superuser?.end({ timeout: 1 });
  await postgres?.destroy();
  for (const cleanup of cleanups) cleanup();
});

function target() {
  return { url: server.url, apiKey: fixture.tenant.apiKey, customerId: fixture.customerId, orderId: fixture.orderIds[0]! };
}

interface Probe {
  start: number;
  end: number;
  status?: number;
  reason?: string;
}

/** /readyz every 100 ms on a keep-alive connection of its own, as a load balancer would. */
function pollReadyz() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const probes: Probe[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const start = performance.now();
      const probe = await new Promise<Probe>((resolve) => {
        const req = http.get(`${server.url}/readyz`, { agent }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            const reason = (JSON.parse(text) as { error?: { reason?: string } }).error?.reason;
            resolve({ start, end: performance.now(), status: res.statusCode, reason });
          });
        });
        req.setTimeout(5_000, () => req.destroy());
        req.on('error', () => resolve({ start, end: performance.now() }));
      });
      probes.push(probe);
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      agent.destroy();
      return probes;
    },
  };
}

/** What every scenario asserts about its outcomes and the database. */
async function expectHandled(load: Load, outcomes: Outcome[]) {
  const summary = summarize(outcomes);
  // Every request answered (no reset, no timeout), and only with 200 or 503.
  expect(summary.errors).toEqual({});
  expect(Object.keys(summary.statuses).sort()).toEqual(expect.arrayContaining(['200']));
  for (const status of Object.keys(summary.statuses)) expect(['200', '503']).toContain(status);
  expect(summary.badRefusals).toEqual([]);
  const writes = await checkWrites(superuser, load);
  expect(writes.acknowledged).toBeGreaterThan(0);
  expect(writes.acknowledgedOnce).toBe(writes.acknowledged);
  expect(writes.duplicates).toEqual([]);
  expect(writes.strangers).toEqual([]);
  expect(server.alive()).toBe(true);
  return { summary, writes };
}

describe('Postgres under load', () => {
  it('stopped (fast shutdown) and started again: 503s during, 200 within a second after', async () => {
    const logFrom = server.stderr().length;
    const load = new Load(target(), CLIENTS);
    const readiness = pollReadyz();
    await sleep(700);
    const stopping = performance.now();
    await postgres.stop();
    const stopped = performance.now();
    await sleep(1_500);
    await postgres.start();
    const back = performance.now();
    await sleep(1_500);
    const outcomes = await load.stop();
    const probes = await readiness.stop();

    const { summary, writes } = await expectHandled(load, outcomes);
    expect(summary.reasons.DATABASE_UNAVAILABLE).toBeGreaterThan(0);
    // /readyz: within a second every time; 503 DATABASE_UNAVAILABLE while down, ready again after.
    const whileDown = probes.filter((p) => p.start > stopped && p.end < back);
    expect(whileDown.length).toBeGreaterThan(0);
    for (const probe of whileDown) expect([probe.status, probe.reason]).toEqual([503, 'DATABASE_UNAVAILABLE']);
    expect(probes.at(-1)?.status).toBe(200);
    const slowestProbe = Math.max(...probes.map((p) => p.end - p.start));
    expect(slowestProbe).toBeLessThan(1_000);
    const recovery = firstSuccessAfter(outcomes, back);
    const recoveryOfWrites = firstSuccessAfter(outcomes.filter((o) => o.op === 'create'), back);
    const slowest = Math.max(...outcomes.map((o) => o.end - o.start));
    console.log(
      `[faults] restart: ${summary.requests} requests by ${CLIENTS} keep-alive clients, statuses ${JSON.stringify(summary.statuses)}, ` +
        `503 reasons ${JSON.stringify(summary.reasons)}, resets/timeouts 0; Postgres down ${Math.round(back - stopping)} ms ` +
        `(stop took ${Math.round(stopped - stopping)} ms); first 200 ${Math.round(recovery ?? NaN)} ms after Postgres accepted connections ` +
        `(first acknowledged write ${Math.round(recoveryOfWrites ?? NaN)} ms); slowest answer ${Math.round(slowest)} ms; ` +
        `acknowledged writes ${writes.acknowledged}, each present once: ${writes.acknowledgedOnce === writes.acknowledged}; ` +
        `refused writes applied anyway ${writes.refusedButApplied}, duplicates ${writes.duplicates.length}; ` +
        `/readyz: ${probes.length} probes, ${whileDown.length} while down (all 503 DATABASE_UNAVAILABLE), slowest ${Math.round(slowestProbe)} ms`,
    );
    // The outage's end is logged once the probe has answered for a second with no refusal.
    await waitForLog(server, 'database available again', logFrom);
    console.log(`[faults] restart: the server's log meanwhile ${JSON.stringify(logCounts(server, logFrom))}`);
    expect(recovery).toBeLessThanOrEqual(1_000);
    // Logged once when it began and once when it ended, not per request.
    expect(logLines(server, 'database unavailable', logFrom)).toHaveLength(1);
    expect(logLines(server, 'database available again', logFrom)).toHaveLength(1);
    expect(logLines(server, 'procedure failed', logFrom)).toEqual([]);
    // The change feed listens again after the restart and drops its caches (it may have missed changes).
    await waitForLog(server, 'change feed reconnected', logFrom);
    expect(logLines(server, 'change feed reconnected', logFrom).length).toBeGreaterThanOrEqual(1);
  });

  it("the app's backends terminated every 0.4 s for 3 s: the process lives, every answer 200 or 503", async () => {
    const logFrom = server.stderr().length;
    const load = new Load(target(), CLIENTS);
    await sleep(500);
    const kills: number[] = [];
    let terminated = 0;
    for (let i = 0; i < 8; i++) {
      const rows = await superuser`select pg_terminate_backend(pid) as gone from pg_stat_activity where usename = ${APP_ROLE}`;
      kills.push(performance.now());
      terminated += rows.filter((r) => r.gone).length;
      await sleep(400);
    }
    await sleep(1_000);
    const outcomes = await load.stop();

    const { summary, writes } = await expectHandled(load, outcomes);
    // The first 200 sent after each termination: how long after it.
    const recoveries = kills.map((kill) => {
      const after = outcomes.filter((o) => o.status === 200 && o.start >= kill).map((o) => o.end - kill);
      return after.length ? Math.min(...after) : Infinity;
    });
    console.log(
      `[faults] terminate: ${terminated} backends terminated in ${kills.length} rounds; ${summary.requests} requests, ` +
        `statuses ${JSON.stringify(summary.statuses)}, 503 reasons ${JSON.stringify(summary.reasons)}, resets/timeouts 0; ` +
        `first 200 after each round within ${Math.round(Math.max(...recoveries))} ms; acknowledged writes ${writes.acknowledged}, ` +
        `each present once: ${writes.acknowledgedOnce === writes.acknowledged}; refused writes applied anyway ${writes.refusedButApplied}, ` +
        `duplicates ${writes.duplicates.length}`,
    );
    await waitForLog(server, 'database available again', logFrom);
    console.log(`[faults] terminate: the server's log meanwhile ${JSON.stringify(logCounts(server, logFrom))}`);
    expect(terminated).toBeGreaterThan(0);
    expect(Math.max(...recoveries)).toBeLessThanOrEqual(1_000);
    expect(logLines(server, 'procedure failed', logFrom)).toEqual([]);
    expect(logLines(server, 'unhandled error', logFrom)).toEqual([]);
    // At most one line per termination round for its start, and one for its end.
    expect(logLines(server, 'database unavailable', logFrom).length).toBeLessThanOrEqual(kills.length);
  });
});
