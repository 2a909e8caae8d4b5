/**
 * Two server processes (`npm start`'s build and entry point) on one database, as an operator runs
 * them behind a load balancer, without Redis and with it: a key revoked through A is refused by B,
 * a tenant suspended through the API or the CLI is refused by both, and a write through A shows in
 * B's cached dataset result, each within a second. With Redis the tenant's rate budget is shared.
 * Without Redis, Postgres carries all of it (migration 0012's NOTIFY, src/platform/change-feed.ts).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTRPCClient, httpLink } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { createPlatformAdminKey } from '../src/modules/tenants/tenants.service.js';
import type { AppRouter } from '../src/trpc/app-router.js';
import { buildServerOnce, spawnServer, type ServerProcess } from './fault-harness.js';
import { addApiKey, makeTenantWithOrders, ownerPool, pg } from './harness.js';
import { testRedis } from './redis.js';

const root = path.resolve(import.meta.dirname, '..');
const LIMIT_MS = 1_000;
const revenue = { dataset: 'orders', dimensions: [], metrics: ['order_count'] };

let owner: Sql;
let adminKey: string;
const redis = await testRedis();

beforeAll(async () => {
  owner = ownerPool();
  [adminKey] = await Promise.all([createPlatformAdminKey(owner, 'two-instances test'), buildServerOnce()]);
}, 180_000);

afterAll(async () => {
  await owner?.end();
});

function client(server: ServerProcess, key: string) {
  return createTRPCClient<AppRouter>({ links: [httpLink({ url: `${server.url}/trpc`, headers: { authorization: `Bearer ${key}` } })] });
}

const accepted = (call: Promise<unknown>) => call.then(() => true, () => false);

/** Polls `refusedNow` every 20 ms; the ms until it held, or fails past LIMIT_MS. */
async function timeUntil(refusedNow: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await refusedNow()) return performance.now() - started;
    const elapsed = performance.now() - started;
    if (elapsed > LIMIT_MS) throw new Error(`still not seen after ${elapsed.toFixed(0)} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The CLI as an operator runs it, with the owner's URL (and REDIS_URL when the servers have one). */
function cli(args: string[], env: Record<string, string>): Promise<number | null> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'REDIS_URL', 'PALISADE_DATA_DIR'].includes(k)));
  const child = spawn(process.execPath, ['scripts/palisade.mjs', ...args], { cwd: root, env: { ...base, DATABASE_URL: pg.ownerUrl, ...env }, stdio: 'ignore' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
}

function twoInstances(label: string, extraEnv: () => Record<string, string>) {
  describe(label, () => {
    let a: ServerProcess;
    let b: ServerProcess;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-two-'));
    const env = () => ({
      DATABASE_URL: pg.ownerUrl,
      APP_DATABASE_URL: pg.appUrl,
      PLATFORM_DATABASE_URL: pg.platformUrl,
      PALISADE_DATA_DIR: dataDir,
      TENANT_RATE_LIMIT: '20/minute',
      ...extraEnv(),
    });

    beforeAll(async () => {
      [a, b] = await Promise.all([spawnServer(env()), spawnServer(env())]);
    }, 120_000);

    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it('a key revoked through A is refused by B within a second', async () => {
      const { tenant } = await makeTenantWithOrders(owner, 1);
      const extra = await addApiKey(owner, tenant);
      expect(await accepted(client(b, extra).orders.list.query({}))).toBe(true); // cached on B
      const { items } = await client(a, tenant.apiKey).apiKeys.list.query({});
      const keyId = items.find((k) => k.name === 'extra')!.id;
      await client(a, tenant.apiKey).apiKeys.revoke.mutate({ keyId });
      const ms = await timeUntil(async () => !(await accepted(client(b, extra).orders.list.query({}))));
      console.log(`[two-instances ${label}] revoke through A refused by B after ${ms.toFixed(0)} ms`);
    });

    it('a tenant suspended through the API, then with the CLI, is refused by both within a second', async () => {
      const { tenant } = await makeTenantWithOrders(owner, 1);
      const both = () => Promise.all([a, b].map((s) => accepted(client(s, tenant.apiKey).orders.list.query({}))));
      expect(await both()).toEqual([true, true]);
      await client(a, adminKey).tenants.suspend.mutate({ tenantId: tenant.id });
      const api = await timeUntil(async () => (await both()).every((ok) => !ok));

      await client(a, adminKey).tenants.resume.mutate({ tenantId: tenant.id });
      await timeUntil(async () => (await both()).every((ok) => ok));
      const redisUrl = extraEnv().REDIS_URL;
      expect(await cli(['tenant', 'suspend', tenant.slug], redisUrl ? { REDIS_URL: redisUrl } : {})).toBe(0);
      const byCli = await timeUntil(async () => (await both()).every((ok) => !ok));
      console.log(`[two-instances ${label}] suspension refused by both after: API ${api.toFixed(0)} ms, CLI ${byCli.toFixed(0)} ms (after the CLI exited)`);
    });

    it('a write through A shows in B’s cached dataset result within a second', async () => {
      const { tenant, customerId } = await makeTenantWithOrders(owner, 2);
      const onB = client(b, tenant.apiKey);
      await onB.query.query(revenue);
      expect(await onB.query.query(revenue)).toMatchObject({ cached: true, rows: [{ order_count: 2 }] });
      await client(a, tenant.apiKey).orders.create.mutate({ customerId, region: 'x', amount: 1, orderDate: '2026-03-01' });
      const ms = await timeUntil(async () => (await onB.query.query(revenue)).rows[0]?.order_count === 3);
      console.log(`[two-instances ${label}] write through A seen in B's result after ${ms.toFixed(0)} ms`);
    });

    it(`keeps a rate budget of 20/minute ${extraEnv().REDIS_URL ? 'shared by both (Redis)' : 'per instance (no Redis)'}`, async () => {
      const { tenant } = await makeTenantWithOrders(owner, 1);
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) {
        const server = i % 2 === 0 ? a : b;
        const response = await fetch(`${server.url}/v1/datasets`, { headers: { authorization: `Bearer ${tenant.apiKey}` } });
        statuses.push(response.status);
      }
      const limited = statuses.filter((s) => s === 429).length;
      expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
      // Shared: 20 of 30 pass. Per instance: each saw 15, under its own 20.
      expect(limited).toBe(extraEnv().REDIS_URL ? 10 : 0);
    });
  });
}

twoInstances('without Redis', () => ({}));

if (redis.url) twoInstances('with Redis', () => ({ REDIS_URL: redis.url! }));
else it.skip(`two instances with Redis: ${redis.skip}`, () => undefined);
