/**
 * Prepares a Citus coordinator's database as a fresh install would be: the owner role owning the
 * database and schema, migrations as the owner, the app and platform roles' logins, then
 * `palisade citus distribute`. Idempotent, so suites can run again on the same cluster (their
 * tenants are random). Used by the Citus suite and by global setup with TEST_ENGINE=citus.
 */
import { createHash } from 'node:crypto';
import { distributeSchema } from '../db/citus.js';
import { openPool } from '../db/client.js';
import { runMigrations } from '../db/migrate.js';
import { APP_ROLE, enableLogin, ensureOwnerAndDatabase, OWNER_ROLE, PLATFORM_ROLE } from '../db/roles.js';
import { withLogin } from '../src/database.js';

export interface CitusDatabase {
  database: string;
  ownerUrl: string;
  appUrl: string;
  platformUrl: string;
}

export async function prepareCitusDatabase(superuserUrl: string): Promise<CitusDatabase> {
  const database = new URL(superuserUrl).pathname.slice(1);
  // The same passwords for every caller on this cluster (roles are the cluster's, not the
  // database's): suites preparing it at the same time must not log each other's pools out.
  const cluster = new URL(superuserUrl).host;
  const password = (role: string) => createHash('sha256').update(`palisade-citus-test ${role} ${cluster}`).digest('hex').slice(0, 32);
  const [ownerPassword, appPassword, platformPassword] = [password(OWNER_ROLE), password(APP_ROLE), password(PLATFORM_ROLE)];
  const superuser = openPool(superuserUrl, { max: 1 });
  // One preparation at a time on the whole cluster (vitest runs suites in parallel; migrations
  // must not race, and roles are shared by every database): the lock is taken in `postgres`,
  // since advisory locks belong to one database.
  const lock = openPool(Object.assign(new URL(superuserUrl), { pathname: '/postgres' }).toString(), { max: 1 });
  const ownerUrl = withLogin(superuserUrl, OWNER_ROLE, ownerPassword);
  try {
    await lock`select pg_advisory_lock(hashtext('palisade-citus-test-prepare'))`;
    await ensureOwnerAndDatabase(superuser, database, ownerPassword);
    // The cluster's database belongs to the superuser; the schema must be the owner's, as on a fresh install.
    await superuser.unsafe(`alter database ${database} owner to ${OWNER_ROLE}`);
    await superuser.unsafe(`alter schema public owner to ${OWNER_ROLE}`);
    await runMigrations(ownerUrl);
    const owner = openPool(ownerUrl, { max: 1 });
    try {
      await enableLogin(owner, APP_ROLE, appPassword);
      await enableLogin(owner, PLATFORM_ROLE, platformPassword);
      await distributeSchema(owner);
    } finally {
      await owner.end();
    }
  } finally {
    await Promise.all([superuser.end(), lock.end()]);
  }
  return { database, ownerUrl, appUrl: withLogin(ownerUrl, APP_ROLE, appPassword), platformUrl: withLogin(ownerUrl, PLATFORM_ROLE, platformPassword) };
}

/**
 * A new, empty Citus database `name` on the cluster `superuserUrl` belongs to (dropped first if
 * present): created on the coordinator and every worker with the extension, the workers added, as
 * citus-cluster.sh does for its own. For a suite that needs a database nobody else writes to.
 * Returns its superuser URL.
 */
export async function freshCitusDatabase(superuserUrl: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid database name: ${name}`);
  const at = (port: number | string, database: string) => {
    const u = new URL(superuserUrl);
    u.port = String(port);
    u.pathname = `/${database}`;
    return u.toString();
  };
  const coordinator = openPool(superuserUrl, { max: 1 });
  let workers: { port: number }[];
  try {
    workers = await coordinator<{ port: number }[]>`select nodeport as port from pg_dist_node where groupid <> 0 order by nodeport`;
  } finally {
    await coordinator.end();
  }
  const ports = [new URL(superuserUrl).port, ...workers.map((w) => w.port)];
  for (const port of ports) {
    const server = openPool(at(port, 'postgres'), { max: 1 });
    try {
      await server.unsafe(`drop database if exists ${name} with (force)`);
      await server.unsafe(`create database ${name}`);
    } finally {
      await server.end();
    }
    const db = openPool(at(port, name), { max: 1 });
    try {
      await db.unsafe('create extension citus');
    } finally {
      await db.end();
    }
  }
  const url = at(ports[0]!, name);
  const db = openPool(url, { max: 1 });
  try {
    await db`select citus_set_coordinator_host('127.0.0.1', ${Number(ports[0])})`;
    for (const w of workers) await db`select citus_add_node('127.0.0.1', ${w.port})`;
  } finally {
    await db.end();
  }
  return url;
}
