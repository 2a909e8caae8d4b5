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
}

declare module 'vitest' {
  export interface ProvidedContext {
    pg: TestDatabase;
  }
}

export default async function setup(project: TestProject) {
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
