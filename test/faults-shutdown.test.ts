/**
 * SIGTERM to the server process (`npm start`'s build and entry point) under load from keep-alive
 * clients: /readyz says 503 SHUTTING_DOWN at once, every request sent is answered (responses
 * carry `Connection: close`; reconnecting is refused, before anything is sent), no client sees a
 * reset, a request in flight (held up by a lock) finishes before the process exits, idle keep-
 * alive connections are closed, and the process exits 0 with every acknowledged write in place.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../db/client.js';
import { buildServerOnce, checkWrites, Load, sleep, spawnServer, summarize, type ServerProcess } from './fault-harness.js';
import { makeTenantWithOrders, ownerPool, pg, type Fixture } from './harness.js';

const CLIENTS = 8;

let server: ServerProcess;
let superuser: Sql;
let fixture: Fixture;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-faults-'));

beforeAll(async () => {
  const owner = ownerPool();
  try {
    [, fixture] = await Promise.all([buildServerOnce(), makeTenantWithOrders(owner, 3)]);
  } finally {
    await owner.end();
  }
  superuser = openPool(pg.superuserUrl, { max: 2, applicationName: 'palisade-faults' });
  server = await spawnServer({
    DATABASE_URL: pg.ownerUrl,
    APP_DATABASE_URL: pg.appUrl,
    PLATFORM_DATABASE_URL: pg.platformUrl,
    PALISADE_DATA_DIR: dataDir,
  });
}, 120_000);

afterAll(async () => {
  if (server?.alive()) server.child.kill('SIGKILL');
  await superuser?.end({ timeout: 1 });
  fs.rmSync(dataDir, { recursive: true, force: true });
});

interface Answer {
  status?: number;
  reason?: string;
  connection?: string;
  error?: string;
  at: number;
}

/** One request on `agent`; never rejects. */
function ask(agent: http.Agent, url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const body = JSON.parse(text) as { error?: { reason?: string; data?: { reason?: string } } };
        resolve({ status: res.statusCode, reason: body.error?.data?.reason ?? body.error?.reason, connection: res.headers.connection, at: performance.now() });
      });
    });
    req.setTimeout(15_000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message, at: performance.now() }));
  });
}

describe('SIGTERM under load', () => {
  it('no resets, every request answered, /readyz 503 at once, the request in flight finishes, exit 0', async () => {
    const load = new Load({ url: server.url, apiKey: fixture.tenant.apiKey, customerId: fixture.customerId, orderId: fixture.orderIds[0]! }, CLIENTS, {
      stopWhenRefused: true,
    });

    // /readyz polled on a keep-alive connection of its own, as a load balancer's health check would.
    const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const probes: Answer[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const answer = await ask(probeAgent, `${server.url}/readyz`);
        probes.push(answer);
        if (answer.error) return;
        await sleep(20);
      }
    })();

    // A keep-alive client that goes quiet: the server closes its connection after the grace.
    const idleAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await ask(idleAgent, `${server.url}/healthz`)).status).toBe(200);
    const idleSocketClosed = new Promise<number>((resolve) => {
      const socket = Object.values(idleAgent.freeSockets).flat()[0];
      if (!socket) throw new Error('expected the idle client to keep its connection');
      socket.once('close', () => resolve(performance.now()));
    });

    // A request in flight for as long as the test holds a lock on the table it reads.
    const lock = await superuser.reserve();
    await lock`begin`;
    await lock`lock table users in access exclusive mode`;
    const slowAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const slow = ask(slowAgent, `${server.url}/trpc/users.list`, { authorization: `Bearer ${fixture.tenant.apiKey}` });

    await sleep(700);
    expect(probes.at(-1)?.status).toBe(200);
    const signalled = performance.now();
    server.child.kill('SIGTERM');

    // Draining: /readyz turns 503, the load's clients get Connection: close and then a refused
    // connection; the process waits for the request in flight.
    const outcomes = await load.finished();
    await sleep(1_300);
    expect(server.alive()).toBe(true);
    const idleClosed = await idleSocketClosed;
    await lock`commit`;
    lock.release();
    const slowAnswer = await slow;
    const exitCode = await server.exited;
    const exitedAt = performance.now();
    probing = false;
    await prober;
    for (const agent of [probeAgent, idleAgent, slowAgent]) agent.destroy();

    const summary = summarize(outcomes);
    const sentBefore = outcomes.filter((o) => o.start < signalled);
    const drained = outcomes.filter((o) => o.start < signalled && o.end >= signalled);
    const afterSignal = probes.filter((p) => p.at >= signalled);
    // (A probe answered just after kill() may predate the server handling the signal.)
    const firstRefusal = afterSignal.find((p) => p.status !== 200);
    const resets = Object.entries(summary.errors).filter(([code]) => code !== 'ECONNREFUSED');
    const writes = await checkWrites(superuser, load);
    console.log(
      `[faults] shutdown: ${summary.requests} requests by ${CLIENTS} keep-alive clients, statuses ${JSON.stringify(summary.statuses)}, ` +
        `connection errors ${JSON.stringify(summary.errors)} (resets: ${resets.reduce((n, [, count]) => n + count, 0)}); ${drained.length} in flight at the signal, all answered; ` +
        `/readyz after the signal: ${firstRefusal?.status} ${firstRefusal?.reason} ${Math.round((firstRefusal?.at ?? NaN) - signalled)} ms after it; ` +
        `idle keep-alive connection closed ${Math.round(idleClosed - signalled)} ms after it; the locked request answered ${slowAnswer.status}; ` +
        `exit ${exitCode} ${Math.round(exitedAt - signalled)} ms after the signal; acknowledged writes ${writes.acknowledged}, ` +
        `each present once: ${writes.acknowledgedOnce === writes.acknowledged}, duplicates ${writes.duplicates.length}`,
    );

    // No resets: every request a client sent got its answer; the only failures are refused
    // connections, after the server said Connection: close, when nothing was sent.
    expect(resets).toEqual([]);
    expect(sentBefore.every((o) => o.status !== undefined)).toBe(true);
    expect(Object.keys(summary.statuses)).toEqual(['200']);
    expect(summary.errors.ECONNREFUSED).toBe(CLIENTS);
    // Each client's last answer closed its connection: that is why it reconnected (and was refused).
    for (let client = 0; client < CLIENTS; client++) {
      expect(outcomes.filter((o) => o.client === client && o.status !== undefined).at(-1)?.connection).toBe('close');
    }
    expect(drained.length).toBeGreaterThan(0);
    // /readyz: 503 SHUTTING_DOWN on the next probe, then the closed listener refuses.
    expect(firstRefusal).toMatchObject({ status: 503, reason: 'SHUTTING_DOWN', connection: 'close' });
    expect(firstRefusal!.at - signalled).toBeLessThan(200);
    expect(afterSignal.slice(afterSignal.indexOf(firstRefusal!) + 1).every((p) => p.error === 'ECONNREFUSED')).toBe(true);
    // The idle connection was closed after the grace (1 s), not at once and not at the timeout.
    expect(idleClosed - signalled).toBeGreaterThanOrEqual(900);
    expect(idleClosed - signalled).toBeLessThan(2_000);
    // The request in flight finished; then the process stopped cleanly.
    expect(slowAnswer).toMatchObject({ status: 200, connection: 'close' });
    expect(exitCode).toBe(0);
    expect(server.stderr()).toContain('"message":"stopped"');
    expect(writes.acknowledgedOnce).toBe(writes.acknowledged);
    expect(writes.duplicates).toEqual([]);
    expect(writes.strangers).toEqual([]);
  });
});
