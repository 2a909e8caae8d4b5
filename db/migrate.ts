import { migrate } from 'drizzle-orm/postgres-js/migrator';
import { drizzleOver, openPool } from './client.js';
import { fromPackageRoot } from './package-root.js';

export const MIGRATIONS_FOLDER = fromPackageRoot('db', 'migrations');

/**
 * Applies db/migrations as the owner role, the same files and bookkeeping table that
 * `npx drizzle-kit migrate` uses. An advisory lock on the single connection keeps two servers
 * starting together from migrating at once.
 */
export async function runMigrations(ownerUrl: string): Promise<void> {
  const sql = openPool(ownerUrl, { max: 1, applicationName: 'palisade-migrate' });
  try {
    await sql`select pg_advisory_lock(hashtext('palisade:migrate'))`;
    await migrate(drizzleOver(sql), {
      migrationsFolder: MIGRATIONS_FOLDER,
      migrationsSchema: 'drizzle',
      migrationsTable: '__drizzle_migrations',
    });
  } finally {
    await sql.end();
  }
}
