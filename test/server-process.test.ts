/**
 * The server as users run it: `npm start`'s build (npm run build:server) and its compiled entry
 * point in a child process. Covers the
 * fresh-machine path (embedded Postgres, migrations, demo seed, credentials.json, psql-level
 * isolation with those credentials, graceful shutdown with a request in flight, restart) and the startup refusal.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool } from '../db/client.js';
import { findAppRoleProblems } from '../db/roles.js';
import type { CredentialsFile } from '../src/demo-credentials.js';
import { pg } from './harness.js';
import { buildServer, listening, ordersSeenByEachDemoTenant, startServerProcess, stop } from './server-process.js';

beforeAll(buildServer, 120_000);
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

describe('npm start without DATABASE_URL (embedded Postgres)', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-start-'));
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  let credentials: CredentialsFile;

  it('starts Postgres, migrates, seeds the demo, prints URL and keys, writes credentials.json (0600)', async () => {
    const server = startServerProcess({ PALISADE_DATA_DIR: dataDir });
    cleanups.push(() => void server.child.kill('SIGKILL'));
    const url = await listening(server);
    const file = path.join(dataDir, 'credentials.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    credentials = JSON.parse(fs.readFileSync(file, 'utf8')) as CredentialsFile;
    expect(credentials.url).toBe(url);
    expect(credentials.tenants.map((t) => t.name)).toEqual(['Acme Corp', 'Globex Inc', 'Wayne Enterprises']);
    for (const t of credentials.tenants) expect(server.stdout()).toContain(t.apiKey);
    expect(server.stdout()).toContain(credentials.adminKey);
    expect(new URL(credentials.databaseUrl).port).not.toBe('5432');

    // The must-show: Acme's key lists only Acme's orders.
    const counts = await ordersSeenByEachDemoTenant(url, credentials);
    expect(counts.get('acme')).toBeGreaterThan(counts.get('wayne')!);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    // Each demo owner can sign in with the temporary password from credentials.json.
    const acme = credentials.tenants[0]!;
    const login = await fetch(`${url}/trpc/auth.login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: acme.slug, email: acme.owner!.email, password: acme.owner!.temporaryPassword }),
    });
    expect(login.status).toBe(200);
    const session = (await login.json()) as { result: { data: { token: string; mustChangePassword: boolean } } };
    expect(session.result.data).toMatchObject({ mustChangePassword: true, token: expect.stringMatching(/^ps_acme_/) as unknown });

    // psql-level: the app role from credentials.json sees one tenant per setting, none without.
    const app = openPool(credentials.appDatabaseUrl, { max: 1 });
    try {
      expect(await findAppRoleProblems(app)).toEqual([]);
      const acme = credentials.tenants[0]!;
      const seen = await app.begin(async (tx) => {
        await tx`select set_config('app.tenant_id', ${acme.id}, true)`;
        return tx`select 'customers' as t, tenant_id from customers union all select 'orders', tenant_id from orders
                  union all select 'api_keys', tenant_id from api_keys`;
      });
      expect(new Set(seen.map((r) => r.t))).toEqual(new Set(['customers', 'orders', 'api_keys']));
      expect(new Set(seen.map((r) => r.tenant_id))).toEqual(new Set([acme.id]));
      const none = await app`select 1 from customers union all select 1 from orders union all select 1 from api_keys`;
      expect(none).toHaveLength(0);
    } finally {
      await app.end();
    }

    // Graceful shutdown: a request held up by a lock is still answered after SIGTERM.
    const owner = openPool(credentials.databaseUrl, { max: 1 });
    let inFlight: Promise<Response> | undefined;
    await owner.begin(async (tx) => {
      await tx`lock table orders in access exclusive mode`;
      inFlight = fetch(`${url}/trpc/orders.list`, { headers: { authorization: `Bearer ${credentials.tenants[2]!.apiKey}` } });
      await new Promise((r) => setTimeout(r, 300)); // the request is now waiting on the lock
      server.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      expect(server.child.exitCode).toBeNull(); // still draining
    }); // commit: the lock goes, the request can finish
    await owner.end();
    const answered = await inFlight!;
    expect(answered.status).toBe(200);
    const page = (await answered.json()) as { result: { data: { items: unknown[] } } };
    expect(page.result.data.items.length).toBeGreaterThan(0);

    const port = Number(new URL(credentials.databaseUrl).port);
    expect(await server.exited).toBe(0);
    expect(server.stderr()).toContain('"message":"stopped"');
    expect(await portOpen(port)).toBe(false);
  });

  it('restarts on the same data without seeding again', async () => {
    const server = startServerProcess({ PALISADE_DATA_DIR: dataDir });
    cleanups.push(() => void server.child.kill('SIGKILL'));
    await listening(server);
    const again = JSON.parse(fs.readFileSync(path.join(dataDir, 'credentials.json'), 'utf8')) as CredentialsFile;
    expect(again.tenants).toEqual(credentials.tenants);
    const res = await fetch(`${again.url}/trpc/auth.whoami`, { headers: { authorization: `Bearer ${again.tenants[1]!.apiKey}` } });
    expect(((await res.json()) as { result: { data: { tenantId: string } } }).result.data.tenantId).toBe(again.tenants[1]!.id);
    const owner = openPool(again.databaseUrl, { max: 1 });
    try {
      expect((await owner`select count(*)::int as n from tenants`)[0]).toEqual({ n: 3 });
    } finally {
      await owner.end();
    }
    expect(await stop(server)).toBe(0);
  });
});

describe('startup refusal', () => {
  it('refuses to serve when the app role can bypass RLS', async () => {
    const role = `palisade_bypass_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    const su = openPool(pg.superuserUrl, { max: 1 });
    await su.unsafe(`create role ${role} login bypassrls password '${password}' in role palisade_app`);
    cleanups.push(async () => {
      await su.unsafe(`drop role if exists ${role}`);
      await su.end();
    });
    const appUrl = new URL(pg.appUrl);
    appUrl.username = role;
    appUrl.password = password;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-refuse-'));
    cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const server = startServerProcess({
      DATABASE_URL: pg.ownerUrl,
      APP_DATABASE_URL: appUrl.toString(),
      // Given, so the server does not reset the shared test role's password.
      PLATFORM_DATABASE_URL: pg.platformUrl,
      PALISADE_DATA_DIR: dataDir,
    });
    expect(await server.exited).toBe(1);
    expect(server.stderr()).toContain('Refusing to serve');
    expect(server.stderr()).toContain('BYPASSRLS');
    expect(server.stdout()).not.toContain('listening');
  });

  it('names superusers and table owners too', async () => {
    const su = openPool(pg.superuserUrl, { max: 1 });
    const owner = openPool(pg.ownerUrl, { max: 1 });
    try {
      expect((await findAppRoleProblems(su)).join('\n')).toMatch(/SUPERUSER/);
      expect((await findAppRoleProblems(owner)).join('\n')).toMatch(/owns .*orders/);
    } finally {
      await Promise.all([su.end(), owner.end()]);
    }
  });

  const withCatalog = (text: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-catalog-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(dir, 'catalog.yaml'), text);
    return startServerProcess({
      DATABASE_URL: pg.ownerUrl,
      APP_DATABASE_URL: pg.appUrl,
      PLATFORM_DATABASE_URL: pg.platformUrl,
      PALISADE_DATA_DIR: dir,
      CATALOG_PATH: path.join(dir, 'catalog.yaml'),
    });
  };

  it('refuses to serve a catalog whose dataset reads a table without forced RLS', async () => {
    const table = `unprotected_${randomBytes(4).toString('hex')}`;
    const su = openPool(pg.superuserUrl, { max: 1 });
    await su.unsafe(`create table ${table} (tenant_id uuid not null, amount numeric)`);
    await su.unsafe(`grant select on ${table} to palisade_app`);
    cleanups.push(async () => {
      await su.unsafe(`drop table if exists ${table}`);
      await su.end();
    });
    const server = withCatalog(`datasets:
  - name: leaky
    table: ${table}
    description: A table nobody protected
    dimensions: []
    metrics:
      - { name: total, aggregation: sum, column: amount, label: Total }
`);
    expect(await server.exited).toBe(1);
    expect(server.stderr()).toContain('leaky');
    expect(server.stderr()).toContain(table);
    expect(server.stderr()).toMatch(/ROW LEVEL SECURITY/);
    expect(server.stdout()).not.toContain('listening');
  });

  it('refuses to start with an invalid catalog, naming the file, the path and the reason', async () => {
    const server = withCatalog(`datasets:
  - name: orders
    table: orders
    description: Orders
    dimensions: []
    metrics:
      - { name: revenue, aggregation: total, column: amount, label: Revenue }
`);
    expect(await server.exited).toBe(1);
    expect(server.stderr()).toMatch(/catalog\.yaml: datasets\[0\]\.metrics\[0\]\.aggregation: /);
    expect(server.stdout()).not.toContain('listening');
  });
});
