/**
 * The bench's database: DATABASE_URL (a superuser, or the owner plus BENCH_SUPERUSER_URL), else an
 * embedded Postgres under the bench's data directory; migrated, roles able to log in, and the
 * `palisade_bench_bypass` role that runs the explicit-WHERE baseline. The data directory persists,
 * so a second run reuses the seed instead of loading it again.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { openPool, type Sql } from '../../db/client.js';
import { startEmbeddedPostgres } from '../../db/embedded-postgres.js';
import { runMigrations } from '../../db/migrate.js';
import { APP_ROLE, enableLogin, ensureOwnerAndDatabase, OWNER_ROLE, PLATFORM_ROLE } from '../../db/roles.js';
import { withLogin } from '../../src/database.js';

export const BYPASS_ROLE = 'palisade_bench_bypass';
const BENCH_DATABASE = 'palisade_bench';

export interface BenchDatabase {
  /** `citus`: `--citus <url>` (prepare-citus.ts). */
  kind: 'embedded' | 'DATABASE_URL' | 'citus';
  /** Superuser on the bench database: roles, VACUUM, pg_prewarm, counting across tenants. */
  superuserUrl: string;
  ownerUrl: string;
  appUrl: string;
  platformUrl: string;
  /** NOSUPERUSER BYPASSRLS, SELECT on orders only: the limit. */
  bypassUrl: string;
  /** Turns the bypass role's login off again and stops an embedded server. */
  stop(): Promise<void>;
}

interface Secrets {
  ownerPassword: string;
  appPassword: string;
  platformPassword: string;
  bypassPassword: string;
}

export function loadSecrets(dataDir: string): Secrets {
  const file = path.join(dataDir, 'bench-secrets.json');
  let stored: Partial<Secrets> = {};
  try {
    stored = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Secrets>;
  } catch {
    // first run
  }
  const fresh = () => randomBytes(18).toString('hex');
  const secrets: Secrets = {
    ownerPassword: stored.ownerPassword ?? fresh(),
    appPassword: stored.appPassword ?? fresh(),
    platformPassword: stored.platformPassword ?? fresh(),
    bypassPassword: stored.bypassPassword ?? fresh(),
  };
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

function onDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function isSuperuser(url: string): Promise<boolean> {
  const sql = openPool(url, { max: 1, applicationName: 'palisade-bench' });
  try {
    const [row] = await sql<{ rolsuper: boolean }[]>`select rolsuper from pg_roles where rolname = current_user`;
    return row?.rolsuper ?? false;
  } finally {
    await sql.end();
  }
}

/** Starts or connects, migrates, and creates the bypass role. */
export async function prepareBenchDatabase(dataDir: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<BenchDatabase> {
  const secrets = loadSecrets(dataDir);
  let stopEmbedded: (() => Promise<void>) | undefined;
  try {
    let superuserUrl: string;
    let ownerUrl: string;
    let kind: BenchDatabase['kind'];
    const given = env.DATABASE_URL;
    if (given && !(await isSuperuser(given))) {
      kind = 'DATABASE_URL';
      if (!env.BENCH_SUPERUSER_URL) {
        throw new Error(
          'DATABASE_URL is not a superuser, so the bench cannot create its BYPASSRLS baseline role: set BENCH_SUPERUSER_URL to a superuser on the same database, or give a superuser DATABASE_URL.',
        );
      }
      superuserUrl = env.BENCH_SUPERUSER_URL;
      ownerUrl = given;
    } else {
      let maintenanceUrl: string;
      let database: string;
      if (given) {
        kind = 'DATABASE_URL';
        maintenanceUrl = given;
        database = BENCH_DATABASE;
      } else {
        kind = 'embedded';
        log(`starting embedded Postgres in ${dataDir}…`);
        const embedded = await startEmbeddedPostgres(dataDir);
        stopEmbedded = () => embedded.stop();
        maintenanceUrl = embedded.superuserUrl('postgres');
        database = 'palisade';
      }
      const maintenance = openPool(maintenanceUrl, { max: 1, applicationName: 'palisade-bench' });
      try {
        await ensureOwnerAndDatabase(maintenance, database, secrets.ownerPassword);
      } finally {
        await maintenance.end();
      }
      superuserUrl = onDatabase(maintenanceUrl, database);
      ownerUrl = withLogin(superuserUrl, OWNER_ROLE, secrets.ownerPassword);
    }
    await runMigrations(ownerUrl);
    const owner = openPool(ownerUrl, { max: 1, applicationName: 'palisade-bench' });
    try {
      await enableLogin(owner, APP_ROLE, secrets.appPassword);
      await enableLogin(owner, PLATFORM_ROLE, secrets.platformPassword);
    } finally {
      await owner.end();
    }
    const su = openPool(superuserUrl, { max: 1, applicationName: 'palisade-bench' });
    try {
      await createBypassRole(su, secrets.bypassPassword);
    } finally {
      await su.end();
    }
    return {
      kind,
      superuserUrl,
      ownerUrl,
      appUrl: withLogin(ownerUrl, APP_ROLE, secrets.appPassword),
      platformUrl: withLogin(ownerUrl, PLATFORM_ROLE, secrets.platformPassword),
      bypassUrl: withLogin(ownerUrl, BYPASS_ROLE, secrets.bypassPassword),
      async stop() {
        await disableBypassLogin(superuserUrl);
        await stopEmbedded?.();
      },
    };
  } catch (error) {
    await stopEmbedded?.();
    throw error;
  }
}

/** The baseline's role: ignores policies by attribute (BYPASSRLS), not by owning or being superuser. */
export async function createBypassRole(su: Sql, password: string): Promise<void> {
  if (!/^[a-f0-9]{16,}$/.test(password)) throw new Error('bench bypass password must be hex');
  const [role] = await su`select 1 from pg_roles where rolname = ${BYPASS_ROLE}`;
  await su.unsafe(`${role ? 'alter' : 'create'} role ${BYPASS_ROLE} login nosuperuser bypassrls nocreatedb nocreaterole password '${password}'`);
  await su.unsafe(`grant usage on schema public to ${BYPASS_ROLE}`);
  await su.unsafe(`grant select on public.orders to ${BYPASS_ROLE}`);
}

/** A BYPASSRLS login must not outlive the run on a shared server. */
export async function disableBypassLogin(superuserUrl: string): Promise<void> {
  const sql = openPool(superuserUrl, { max: 1, applicationName: 'palisade-bench' });
  await sql.unsafe(`alter role ${BYPASS_ROLE} nologin`).catch(() => undefined);
  await sql.end();
}
