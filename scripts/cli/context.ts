/**
 * The database side of a CLI run. The CLI connects as the owner: `DATABASE_URL` when set (used as it
 * is, like `palisade audit`), otherwise the embedded Postgres under PALISADE_DATA_DIR, started and
 * migrated for the run and stopped after. The owner is subject to FORCE RLS like every role, so
 * tenant rows are only reached through `withTenant(pool, tenantId, …)`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { detectEngine } from '../../db/citus.js';
import { openPool, type Sql } from '../../db/client.js';
import { loadConfig } from '../../src/config.js';
import { prepareDatabase, type PreparedDatabase } from '../../src/database.js';
import { notFound } from '../../src/lib/errors.js';
import type { Actor } from '../../src/modules/audit-log/audit.service.js';
import { jsonLogger } from '../../src/lib/log.js';
import { publishCredentialChanges, type CredentialChange } from '../../src/modules/credentials/credential-cache.js';
import { announceChanges } from '../../src/platform/change-feed.js';
import { DatabaseUnavailableError, message } from './errors.js';

export interface TenantRef {
  id: string;
  slug: string;
  name: string;
  status: string;
}

export interface CliContext {
  /** The owner's pool. */
  pool: Sql;
  /** The owner's connection URL (with its password): other roles' URLs are built from it. */
  databaseUrl: string;
  /** Who the audit logs name: the operator's OS user. */
  actor: Actor;
  now: Date;
  /** `<slug|id>` → the tenant, or NOT_FOUND. */
  resolveTenant(ref: string): Promise<TenantRef>;
  /**
   * Call after a change to keys, users, sessions or a tenant's status has committed. Servers cache
   * verified credentials for a few seconds: with REDIS_URL they are told to evict at the end of the
   * run; without it they see the change within CREDENTIAL_CACHE_TTL_MS.
   */
  credentialsChanged(change: CredentialChange): void;
}

export interface OpenedContext {
  ctx: CliContext;
  close(): Promise<void>;
}

function operatorName(): string {
  try {
    return os.userInfo().username;
  } catch {
    // A container user without a passwd entry has no name; the uid still says who it was.
    return `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return `${u.host}${u.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}

/**
 * The pid of a live Postgres holding the embedded data directory (a running `npm start`), if any.
 * Starting the embedded database would stop that Postgres under the server's feet
 * (startEmbeddedPostgres treats it as stale), so the CLI refuses instead.
 */
function runningEmbeddedPostgres(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    // EPERM: alive, but run as another OS user (Postgres runs as `postgres` when we are root).
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

export async function openContext(): Promise<OpenedContext> {
  const config = loadConfig();
  let embedded: PreparedDatabase | undefined;
  if (!config.databaseUrl) {
    const pid = runningEmbeddedPostgres(config.dataDir);
    if (pid) {
      throw new DatabaseUnavailableError(
        `the embedded database in ${config.dataDir} is in use by a running server (Postgres pid ${pid}); stop the server first, or set DATABASE_URL to the owner's credentials`,
      );
    }
    try {
      embedded = await prepareDatabase(config);
    } catch (error) {
      throw new DatabaseUnavailableError(`could not start the embedded database in ${config.dataDir}: ${message(error)}`);
    }
  }
  const url = config.databaseUrl ?? embedded!.ownerUrl;
  const pool = openPool(url, { max: 4, applicationName: 'palisade-cli' });
  const changes: CredentialChange[] = [];
  const close = async () => {
    if (config.redisUrl && changes.length > 0) await publishCredentialChanges(config.redisUrl, changes);
    // On plain Postgres migration 0012's triggers have told every server already; Citus has none.
    if (changes.length > 0 && (await detectEngine(pool).catch(() => 'postgres')) === 'citus') {
      await announceChanges(pool, changes.map((change) => ({ kind: 'credentials', change })), 'palisade-cli', jsonLogger);
    }
    await pool.end({ timeout: 5 });
    await embedded?.stop();
  };
  try {
    await pool`select 1`;
  } catch (error) {
    await close();
    throw new DatabaseUnavailableError(`cannot reach the database at ${redact(url)}: ${message(error)}`);
  }
  const ctx: CliContext = {
    pool,
    databaseUrl: url,
    actor: { type: 'cli', id: operatorName(), requestId: null, sourceIp: null },
    now: new Date(),
    credentialsChanged: (change) => void changes.push(change),
    async resolveTenant(ref) {
      // `tenants` is a platform table the owner reads directly. An id wins over a slug that looks like one.
      const rows = await pool<TenantRef[]>`
        select id, slug, name, status from tenants
        where slug = ${ref} or id::text = ${ref.toLowerCase()}
        order by (id::text = ${ref.toLowerCase()}) desc
        limit 1`;
      if (!rows[0]) throw notFound(`tenant "${ref}"`);
      return rows[0];
    },
  };
  return { ctx, close };
}
