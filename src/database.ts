/**
 * Getting a database ready to serve: start embedded Postgres when no DATABASE_URL is given,
 * migrate as the owner, and work out how the app role logs in.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { openPool } from '../db/client.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded-postgres.js';
import { runMigrations } from '../db/migrate.js';
import { APP_ROLE, enableAppLogin, ensureOwnerAndDatabase, OWNER_ROLE } from '../db/roles.js';
import type { Config } from './config.js';

export interface PreparedDatabase {
  /** Owner/migrator credentials. */
  ownerUrl: string;
  /** The app role's credentials: what the server connects as. */
  appUrl: string;
  stop(): Promise<void>;
}

interface Secrets {
  ownerPassword: string;
  appPassword: string;
}

const EMBEDDED_DATABASE = 'palisade';

/** Role passwords we generated, kept in the data directory (0600) so restarts reuse them. */
function loadSecrets(dataDir: string): Secrets {
  const file = path.join(dataDir, 'secrets.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Secrets;
  } catch {
    const secrets = { ownerPassword: randomBytes(18).toString('hex'), appPassword: randomBytes(18).toString('hex') };
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
    return secrets;
  }
}

export function withLogin(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

export async function prepareDatabase(config: Config): Promise<PreparedDatabase> {
  const secrets = loadSecrets(config.dataDir);
  let embedded: EmbeddedPostgres | undefined;
  let ownerUrl = config.databaseUrl;
  try {
    if (!ownerUrl) {
      embedded = await startEmbeddedPostgres(config.dataDir);
      const superSql = openPool(embedded.superuserUrl('postgres'), { max: 1 });
      try {
        await ensureOwnerAndDatabase(superSql, EMBEDDED_DATABASE, secrets.ownerPassword);
      } finally {
        await superSql.end();
      }
      ownerUrl = withLogin(embedded.superuserUrl(EMBEDDED_DATABASE), OWNER_ROLE, secrets.ownerPassword);
    }
    await runMigrations(ownerUrl);
    let appUrl = config.appDatabaseUrl;
    if (!appUrl) {
      // No app credentials given: the owner (which created palisade_app) lets it log in.
      const ownerSql = openPool(ownerUrl, { max: 1 });
      try {
        await enableAppLogin(ownerSql, secrets.appPassword);
      } finally {
        await ownerSql.end();
      }
      appUrl = withLogin(ownerUrl, APP_ROLE, secrets.appPassword);
    }
    return { ownerUrl, appUrl, stop: async () => embedded?.stop() };
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}
