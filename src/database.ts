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
import { APP_ROLE, enableLogin, ensureOwnerAndDatabase, OWNER_ROLE, PLATFORM_ROLE } from '../db/roles.js';
import type { Config } from './config.js';

export interface PreparedDatabase {
  /** Owner/migrator credentials. */
  ownerUrl: string;
  /** The app role's credentials: what the server connects as. */
  appUrl: string;
  /** The platform role's credentials: the platform-admin path. */
  platformUrl: string;
  stop(): Promise<void>;
}

interface Secrets {
  ownerPassword: string;
  appPassword: string;
  platformPassword: string;
}

const newSecret = () => randomBytes(18).toString('hex');

const EMBEDDED_DATABASE = 'palisade';

/** Role passwords we generated, kept in the data directory (0600) so restarts reuse them. */
function loadSecrets(dataDir: string): Secrets {
  const file = path.join(dataDir, 'secrets.json');
  let stored: Partial<Secrets> = {};
  try {
    stored = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Secrets>;
  } catch {
    // first run: generate below
  }
  const secrets: Secrets = {
    ownerPassword: stored.ownerPassword ?? newSecret(),
    appPassword: stored.appPassword ?? newSecret(),
    // Data directories from before the platform role existed lack this one.
    platformPassword: stored.platformPassword ?? newSecret(),
  };
  if (Object.keys(stored).length < Object.keys(secrets).length) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  }
  return secrets;
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
    // Credentials not given: the owner (which created both roles) lets them log in.
    const ownerSql = openPool(ownerUrl, { max: 1 });
    try {
      if (!config.appDatabaseUrl) await enableLogin(ownerSql, APP_ROLE, secrets.appPassword);
      if (!config.platformDatabaseUrl) await enableLogin(ownerSql, PLATFORM_ROLE, secrets.platformPassword);
    } finally {
      await ownerSql.end();
    }
    return {
      ownerUrl,
      appUrl: config.appDatabaseUrl ?? withLogin(ownerUrl, APP_ROLE, secrets.appPassword),
      platformUrl: config.platformDatabaseUrl ?? withLogin(ownerUrl, PLATFORM_ROLE, secrets.platformPassword),
      stop: async () => embedded?.stop(),
    };
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}
