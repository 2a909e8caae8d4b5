/**
 * `npm start` with DATABASE_URL at a Citus coordinator (after `palisade citus distribute`), as an
 * operator runs it: the banner names Citus, the demo is seeded, every demo tenant sees its own
 * orders over HTTP, and the app role at SQL level sees one tenant per setting and none without.
 * Skipped, saying so, unless CITUS_TEST_URL names the coordinator's superuser URL.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool } from '../../db/client.js';
import type { CredentialsFile } from '../../src/demo-credentials.js';
import { freshCitusDatabase, prepareCitusDatabase, type CitusDatabase } from '../citus-database.js';
import { buildServer, listening, ordersSeenByEachDemoTenant, root, startServerProcess, stop, type Running } from '../server-process.js';

const url = process.env['CITUS_TEST_URL'];
if (!url) process.stdout.write('\n[palisade tests] Citus npm start test skipped: set CITUS_TEST_URL to a coordinator superuser URL\n');

describe.skipIf(!url)('npm start on a Citus coordinator', () => {
  // Made in beforeAll: a directory made while collecting would outlive a skipped suite.
  let dataDir = '';
  let prepared: CitusDatabase;
  let server: Running | undefined;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-citus-start-'));
    buildServer();
    // Its own database: the demo is seeded only into a database with no tenants yet.
    prepared = await prepareCitusDatabase(await freshCitusDatabase(url!, 'palisade_npm_start'));
  }, 180_000);

  afterAll(async () => {
    if (server) await stop(server);
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the demo: Citus in the banner and /readyz, each tenant its own orders over HTTP and at SQL level', async () => {
    // The logins are given, so the server does not reset the roles' passwords under other suites.
    server = startServerProcess({
      DATABASE_URL: prepared.ownerUrl,
      APP_DATABASE_URL: prepared.appUrl,
      PLATFORM_DATABASE_URL: prepared.platformUrl,
      SEED_DEMO: 'true',
      PALISADE_DATA_DIR: dataDir,
    });
    const serverUrl = await listening(server, 120_000);
    expect(server.stdout()).toContain('Database: Citus');
    expect(await (await fetch(`${serverUrl}/readyz`)).json()).toEqual({ status: 'ready', engine: 'citus' });

    const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, 'credentials.json'), 'utf8')) as CredentialsFile;
    expect(credentials.tenants.map((t) => t.slug)).toEqual(['acme', 'globex', 'wayne']);
    const counts = await ordersSeenByEachDemoTenant(serverUrl, credentials);

    const app = openPool(prepared.appUrl, { max: 1 });
    try {
      for (const t of credentials.tenants) {
        // set_tenant inside a transaction block: the form Citus passes on to the workers.
        const seen = await app.begin(async (tx) => {
          await tx`select public.set_tenant(${t.id})`;
          return tx<{ tenant_id: string; n: number }[]>`select tenant_id, count(*)::int as n from orders group by tenant_id`;
        });
        expect(seen.map((r) => r.tenant_id)).toEqual([t.id]);
        expect(seen[0]!.n).toBeGreaterThanOrEqual(counts.get(t.slug)!);
      }
      expect(await app`select count(*)::int as n from orders`).toEqual([{ n: 0 }]);
    } finally {
      await app.end();
    }
  }, 180_000);

  it('refuses to serve without citus.propagate_set_commands; `palisade citus distribute` puts it back', async () => {
    if (server) await stop(server);
    const superuser = openPool(url!, { max: 1 });
    try {
      await superuser.unsafe(`alter database ${prepared.database} reset citus.propagate_set_commands`);
    } finally {
      await superuser.end();
    }
    const env = { DATABASE_URL: prepared.ownerUrl, APP_DATABASE_URL: prepared.appUrl, PLATFORM_DATABASE_URL: prepared.platformUrl, PALISADE_DATA_DIR: dataDir };
    const refused = startServerProcess(env);
    expect(await refused.exited).toBe(1);
    expect(refused.stderr()).toMatch(/citus\.propagate_set_commands is 'none'.*\n.*palisade -- citus distribute/);

    const cli = spawnSync(process.execPath, ['scripts/palisade.mjs', 'citus', 'distribute'], { cwd: root, env: { ...process.env, DATABASE_URL: prepared.ownerUrl }, encoding: 'utf8' });
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/Distributed \(tenant_id\): +–/);
    expect(cli.stdout).toContain('Already in place:');
    server = startServerProcess(env);
    await listening(server, 120_000);
  }, 180_000);
});

