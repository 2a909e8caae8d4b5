/**
 * Scoping a connection to a tenant. `setTenant` is the one statement that sets the tenant: it
 * calls `set_tenant(uuid)` (migration 0007), the SQL function that decides how the setting is made,
 * so no TypeScript names the setting. `withTenant` reserves one pooled connection and runs
 *
 *   flight 1:  BEGIN · select set_tenant($1) · first statement of `fn`   (pipelined)
 *   flight n:  each further statement `fn` awaits
 *   last:      COMMIT (or ROLLBACK)
 *
 * so a single-statement procedure costs two round trips. The setting is transaction-local, so it
 * is gone when the connection goes back to the pool, whatever happened inside.
 */
import { eq, type SQL } from 'drizzle-orm';
import { PgDialect, type AnyPgColumn } from 'drizzle-orm/pg-core';
import type postgres from 'postgres';
import { drizzleOver, type Db, type Sql } from './client.js';
import { scopedHandle } from './scoped-handle.js';

export type TenantDb = Db;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Tenant transactions holding (or waiting for) a pooled connection, per pool: /metrics reads it. */
export interface PoolUsage {
  reserved: number;
  waiting: number;
}
const usageByPool = new WeakMap<Sql, PoolUsage>();

export function poolUsage(pool: Sql): PoolUsage {
  let usage = usageByPool.get(pool);
  if (!usage) {
    usage = { reserved: 0, waiting: 0 };
    usageByPool.set(pool, usage);
  }
  return usage;
}

/** Validated as well as bound: a tenant id never reaches SQL unless it is a well-formed uuid. */
export function assertTenantId(tenantId: string): void {
  if (!UUID.test(tenantId)) throw new TypeError('tenant id must be a uuid');
}

/**
 * The statement that scopes the rest of its transaction (explicit, or the implicit one before a
 * Sync) to `tenantId`, bound, never inlined. With `statementTimeoutMs`, the same statement limits
 * the transaction's statements too. Lazy, as every postgres.js query: send it with the others.
 */
export function setTenant(sql: Sql | postgres.ReservedSql, tenantId: string, statementTimeoutMs?: number): postgres.PendingQuery<postgres.Row[]> {
  assertTenantId(tenantId);
  if (statementTimeoutMs === undefined) return sql`select public.set_tenant(${tenantId})`;
  const timeout = String(Math.max(1, Math.floor(statementTimeoutMs)));
  return sql`select public.set_tenant(${tenantId}), set_config('statement_timeout', ${timeout}, true)`;
}

export class TransactionEndedError extends Error {
  constructor() {
    super('this tenant transaction has already ended; run queries inside the withTenant callback');
  }
}

/**
 * Runs `fn` inside one transaction whose `app.tenant_id` is `tenantId`.
 * `fn` receives a Drizzle handle bound to that transaction and nothing else: no pool, and the
 * handle refuses queries once the transaction has ended.
 */
export async function withTenant<T>(pool: Sql, tenantId: string, fn: (tx: TenantDb) => Promise<T>): Promise<T> {
  assertTenantId(tenantId);
  const usage = poolUsage(pool);
  usage.waiting++;
  const conn = await pool.reserve().finally(() => usage.waiting--);
  usage.reserved++;
  const transaction: Transaction = { conn, open: true };
  const handle = scopedHandle(baseFor(pool), transactionClient(pool, transaction));
  const hooks: CommitHook[] = [];
  commitHooks.set(handle, hooks);
  rememberTenant(handle, tenantId);
  let result: T;
  try {
    // Sent without waiting, so they share the first flight with fn's first statement. If either
    // failed, the transaction is aborted and every later statement fails: fail closed.
    const begin = settle(conn.unsafe('begin').execute());
    const setting = settle(setTenant(conn, tenantId).execute());
    result = await fn(handle);
    await begin();
    await setting();
    await conn.unsafe('commit');
  } catch (error) {
    await conn.unsafe('rollback').catch(() => undefined);
    throw error;
  } finally {
    commitHooks.delete(handle);
    forgetTenant(handle);
    transaction.open = false;
    usage.reserved--;
    conn.release();
  }
  for (const hook of hooks) await hook();
  return result;
}

type CommitHook = () => unknown;

/** The hooks `afterCommit` registered, per open transaction's handle. */
const commitHooks = new WeakMap<TenantDb, CommitHook[]>();

/** The tenant each open transaction's (or one-statement read's) handle was opened for. */
const tenants = new WeakMap<object, string>();

/** Binds `handle` to `tenantId` for tenantOf, until `forgetTenant`: withTenant and TenantReader.read. */
export function rememberTenant(handle: object, tenantId: string): void {
  tenants.set(handle, tenantId);
}

export function forgetTenant(handle: object): void {
  tenants.delete(handle);
}

/**
 * The tenant a withTenant (or TenantReader.read) handle was opened for, bound into queries as an explicit
 * `tenant_id = $n` next to the policy: on Citus that is what routes a query to one shard (RLS's
 * own predicate never prunes), and `SELECT … FOR UPDATE` needs it there.
 */
export function tenantOf(tx: TenantDb): string {
  const tenantId = tenants.get(tx);
  if (tenantId === undefined) throw new TransactionEndedError();
  return tenantId;
}

/** `tenant_id = <the transaction's tenant>`, bound: the router's predicate (tenantOf). */
export function ownTenant(tx: TenantDb, table: { tenantId: AnyPgColumn }): SQL {
  return eq(table.tenantId, tenantOf(tx));
}

/**
 * Runs `hook` once the transaction `tx` belongs to has committed, and never if it rolls back: for
 * effects outside Postgres (evicting cached credentials, moving a cache version on) that must not
 * happen before the change is visible to other connections, nor for a change that did not happen.
 * Hooks run in the order registered, after the connection is back in the pool; one that fails
 * fails the call, the transaction staying committed.
 */
export function afterCommit(tx: TenantDb, hook: CommitHook): void {
  const hooks = commitHooks.get(tx);
  if (!hooks) throw new TransactionEndedError();
  hooks.push(hook);
}

const dialect = new PgDialect();

/**
 * Batched background writes (audit, usage, last use) for many tenants in one transaction and one
 * flight: `begin`, then for each tenant its setting followed by its statements, then `commit`.
 * Statements on one connection run in the order sent, so each runs under the setting of the
 * tenant it was given for, and the policies' WITH CHECK refuses a row for any other tenant. One
 * failure rolls back every tenant's writes; callers then retry tenant by tenant (withTenant) to
 * find the one that failed. A transaction per tenant cost a thousand tenants a thousand commits
 * and round trips at every flush, competing with requests for the same two cores.
 */
export async function writeEachTenant(
  pool: Sql,
  writes: ReadonlyMap<string, readonly SQL[]>,
  options: { synchronousCommit?: boolean } = {},
): Promise<void> {
  for (const tenantId of writes.keys()) assertTenantId(tenantId);
  // Drizzle sets the pool's serializers when it is first built over it (json and jsonb parameters
  // go as the text they are); the statements here were written for those, so make sure of them.
  baseFor(pool);
  const usage = poolUsage(pool);
  usage.waiting++;
  const conn = await pool.reserve().finally(() => usage.waiting--);
  usage.reserved++;
  try {
    const sent = [settle(conn.unsafe('begin').execute())];
    if (options.synchronousCommit === false) sent.push(settle(conn.unsafe("select set_config('synchronous_commit', 'off', true)").execute()));
    for (const [tenantId, statements] of writes) {
      sent.push(settle(setTenant(conn, tenantId).execute()));
      for (const statement of statements) {
        const { sql: text, params } = dialect.sqlToQuery(statement);
        sent.push(settle(conn.unsafe(text, params as postgres.ParameterOrJSON<never>[]).execute()));
      }
    }
    for (const result of sent) await result();
    await conn.unsafe('commit');
  } catch (error) {
    await conn.unsafe('rollback').catch(() => undefined);
    throw error;
  } finally {
    usage.reserved--;
    conn.release();
  }
}

/** Keeps a rejection from being reported as unhandled until we choose to await it. */
function settle(query: Promise<unknown>): () => Promise<unknown> {
  query.catch(() => undefined);
  return () => query;
}

interface Transaction {
  conn: postgres.ReservedSql;
  open: boolean;
}

/**
 * One Drizzle instance per pool, built over a client that refuses statements; each transaction
 * gets a scoped handle of it (db/scoped-handle.ts) bound to its own connection.
 */
const bases = new WeakMap<Sql, TenantDb>();

function baseFor(pool: Sql): TenantDb {
  let db = bases.get(pool);
  if (!db) {
    db = drizzleOver(transactionClient(pool, undefined));
    bases.set(pool, db);
  }
  return db;
}

/**
 * The transaction's connection as Drizzle sees it (`unsafe`, and `tx.$client\`…\`` for raw SQL),
 * with the pool's `options` (Drizzle reads parsers and serializers there). After the transaction
 * ended (a stray callback) it refuses: the connection may be another request's by now. Nested
 * `begin` is refused: the caller already is in a transaction.
 */
function transactionClient(pool: Sql, transaction: Transaction | undefined): Sql {
  const connection = (): postgres.ReservedSql => {
    if (!transaction?.open) throw new TransactionEndedError();
    return transaction.conn;
  };
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'unsafe') return (...args: Parameters<Sql['unsafe']>) => connection().unsafe(...args);
      if (prop === 'begin' || prop === 'reserve') {
        return () => {
          throw new Error('already inside a tenant transaction; nested transactions are not available');
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
    apply(_target, _this, args: unknown[]) {
      return (connection() as unknown as (...a: unknown[]) => unknown)(...args);
    },
  }) as unknown as Sql;
}
