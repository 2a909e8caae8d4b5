/**
 * Once per run: find a Postgres, create a fresh database owned by palisade_owner, migrate it as
 * the owner, and let palisade_app log in. Test files connect as the app role, so RLS is in force.
 */
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { openPool } from '../db/client.js';
import { runMigrations } from '../db/migrate.js';
import { APP_ROLE, enableLogin, ensureOwnerAndDatabase, OWNER_ROLE, PLATFORM_ROLE } from '../db/roles.js';
import { withLogin } from '../src/database.js';
import type { Engine } from '../db/citus.js';
import { prepareCitusDatabase } from './citus-database.js';
import { startTestPostgres } from './postgres-server.js';

export interface TestDatabase {
  kind: string;
  database: string;
  /** Superuser on the test database (for tests that must create roles or databases). */
  superuserUrl: string;
  /** Superuser on the maintenance database `postgres`. */
  maintenanceUrl: string;
  ownerUrl: string;
  appUrl: string;
  /** The platform-admin path's role. */
  platformUrl: string;
  /** `citus` with TEST_ENGINE=citus: the suites run on the cluster at CITUS_TEST_URL. */
  engine: Engine;
}

declare module 'vitest' {
  export interface ProvidedContext {
    pg: TestDatabase;
  }
}

export default async function setup(project: TestProject) {
  if (process.env['TEST_ENGINE'] === 'citus') return setupCitus(project);
  const server = await startTestPostgres();
  const database = `palisade_test_${randomBytes(4).toString('hex')}`;
  const ownerPassword = randomBytes(16).toString('hex');
  const appPassword = randomBytes(16).toString('hex');
  const platformPassword = randomBytes(16).toString('hex');
  const maintenance = openPool(server.superuserUrl('postgres'), { max: 1 });
  try {
    await ensureOwnerAndDatabase(maintenance, database, ownerPassword);
  } finally {
    await maintenance.end();
  }
  const ownerUrl = withLogin(server.superuserUrl(database), OWNER_ROLE, ownerPassword);
  await runMigrations(ownerUrl);
  const owner = openPool(ownerUrl, { max: 1 });
  try {
    await enableLogin(owner, APP_ROLE, appPassword);
    await enableLogin(owner, PLATFORM_ROLE, platformPassword);
  } finally {
    await owner.end();
  }
  project.provide('pg', {
    kind: server.kind,
    database,
    superuserUrl: server.superuserUrl(database),
    maintenanceUrl: server.superuserUrl('postgres'),
    ownerUrl,
    appUrl: withLogin(ownerUrl, APP_ROLE, appPassword),
    platformUrl: withLogin(ownerUrl, PLATFORM_ROLE, platformPassword),
    engine: 'postgres',
  });
  process.stdout.write(`\n[palisade tests] PostgreSQL from ${server.kind}, database ${database}\n`);

  return async () => {
    const sql = openPool(server.superuserUrl('postgres'), { max: 1 });
    try {
      await sql.unsafe(`drop database if exists ${database} with (force)`);
    } finally {
      await sql.end();
    }
    await server.stop();
  };
}

/**
 * TEST_ENGINE=citus: the cluster's database, migrated and distributed (test/citus-database.ts).
 * Not dropped afterwards: it is the cluster's own database, and every suite makes random tenants.
 */
async function setupCitus(project: TestProject) {
  const url = process.env['CITUS_TEST_URL'];
  if (!url) throw new Error('TEST_ENGINE=citus needs CITUS_TEST_URL (the coordinator superuser URL citus-cluster.sh prints)');
  const prepared = await prepareCitusDatabase(url);
  project.provide('pg', {
    kind: 'citus',
    database: prepared.database,
    superuserUrl: url,
    maintenanceUrl: url,
    ownerUrl: prepared.ownerUrl,
    appUrl: prepared.appUrl,
    platformUrl: prepared.platformUrl,
    engine: 'citus',
  });
  process.stdout.write(`\n[palisade tests] Citus coordinator at CITUS_TEST_URL, database ${prepared.database}\n`);
}
