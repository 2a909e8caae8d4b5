/**
 * One round trip for a one-statement tenant read. `withTenant` costs two round trips (BEGIN ·
 * setting · statement, then COMMIT) and a reserved connection; a read that is a single statement
 * needs neither. It goes out as one `sql.batch` (postgres.js 4.1) on the app pool:
 *
 *   Bind/Execute  select set_tenant($1)            (db/tenant-tx.ts setTenant; $1 the tenant, bound)
 *   Bind/Execute  the statement, prepared by the pool
 *   Sync
 *
 * Everything before one Sync is one implicit transaction: the setting (transaction-local) applies
 * to the statement after it and is gone at the Sync, whether the statement succeeded or not; if
 * the setting fails, Postgres skips the statement and the batch rejects: fail closed. Batches of
 * different tenants may share a connection (the pool pipelines them); each carries its own
 * setting and none inherits another's.
 *
 * `read` gives its callback a Drizzle handle of its own (db/scoped-handle.ts) that accepts exactly
 * one statement: a second one is refused (it would run without the setting), and so is any use
 * after `read` returned; multi-statement work must use withTenant. `query` and `values` take SQL
 * text and parameters directly, for callers that build their own (dataset queries, compiled
 * selects): no Drizzle in between.
 *
 * On Citus (`engine: 'citus'`) the setting reaches the workers only inside an explicit
 * transaction block, so the read is `BEGIN · set_tenant · statement · COMMIT` on a reserved
 * connection, all four sent at once: still one round trip, each message with its own Sync, so a
 * failed statement turns the COMMIT into a rollback and the connection goes back clean.
 *
 * This replaced a hand-written wire-protocol client (db/pg-wire.ts, its own connections and
 * statement LRU), which existed only because postgres.js 3 could not send two statements before
 * one Sync; see README, Performance, for what the change measured.
 */
import type postgres from 'postgres';
import { engineOf, type Engine } from './citus.js';
import { drizzleOver, type Db, type Sql } from './client.js';
import type { ReplicaRouter, ReplicaStatus } from './replica-router.js';
import { scopedHandle } from './scoped-handle.js';
import { assertTenantId, forgetTenant, rememberTenant, setTenant } from './tenant-tx.js';

export class SingleStatementError extends Error {
  constructor() {
    super('a tenant read runs exactly one statement; use withTenant for more');
  }
}

type Rows = Record<string, unknown>[];
type Mode = 'rows' | 'values';

export interface ReadOptions {
  /** Set for this read only (transaction-local), in the same statement as the tenant. */
  statementTimeoutMs?: number;
}

interface Read {
  tenantId: string;
  options: ReadOptions;
  sent: boolean;
  /** False once `read` has returned: a handle kept past it refuses. */
  open: boolean;
}

const outsideRead = () => Promise.reject(new Error('this handle only works inside TenantReader.read'));

export class TenantReader {
  private readonly db: Db;

  /** What the pool talks to: on Citus reads run in a transaction block, and callers name the tenant differently. */
  readonly engine: Engine;

  /** With READ_DATABASE_URL: where each read goes, the replica or `pool` (db/replica-router.ts). */
  private readonly replica: ReplicaRouter | undefined;

  /**
   * `pool` connects as the app role (on the primary); the reader borrows it and never ends it.
   * With `replica`, reads go to the replica's pool whenever the router says so; a read the replica
   * fails to answer (unreachable, or cancelled by a recovery conflict) is sent again on `pool`.
   */
  constructor(
    private readonly pool: Sql,
    options: { engine?: Engine; replica?: ReplicaRouter } = {},
  ) {
    this.engine = options.engine ?? engineOf(pool);
    this.replica = options.replica;
    // One Drizzle instance for every read (building one per request costs more than the query),
    // over a client that refuses: each read gets a scoped handle of it (db/scoped-handle.ts).
    this.db = drizzleOver(readClient(pool, outsideRead));
    // Drizzle sets a pool's parsers and serializers when built over it: the replica's must match.
    if (this.replica) drizzleOver(this.replica.replica);
  }

  /** Runs `fn`'s one statement for `tenantId` in a single round trip. */
  async read<T>(tenantId: string, fn: (db: Db) => Promise<T>, options: ReadOptions = {}): Promise<T> {
    // Refused here, before Drizzle would wrap it as a failed query.
    assertTenantId(tenantId);
    const read: Read = { tenantId, options, sent: false, open: true };
    const client = readClient(this.pool, (text, params, mode) => this.sendInRead(read, text, params, mode));
    const handle = scopedHandle(this.db, client);
    rememberTenant(handle, tenantId);
    try {
      // Awaited here: Drizzle builders are lazy thenables and run when awaited, which must happen
      // while the read is open.
      return await fn(handle);
    } finally {
      read.open = false;
      forgetTenant(handle);
    }
  }

  /** Runs one statement (`text` with $1…$n) for `tenantId` in a single round trip; its rows as objects. */
  query(tenantId: string, text: string, params: unknown[], options: ReadOptions = {}): Promise<Rows> {
    return this.send(tenantId, options, text, params, 'rows');
  }

  /** As `query`, each row as an array of its values in select-list order (db/compiled-select.ts). */
  async values(tenantId: string, text: string, params: unknown[], options: ReadOptions = {}): Promise<unknown[][]> {
    return (await this.send(tenantId, options, text, params, 'values')) as unknown as unknown[][];
  }

  /**
   * `tenantId` is writing, or has just committed, on the primary: its reads go there until the
   * replica has replayed the write (read-your-writes). Without a replica, nothing to do.
   */
  wrote(tenantId: string): void {
    this.replica?.wrote(tenantId);
  }

  /** The replica's state for /readyz and the banner; undefined without READ_DATABASE_URL. */
  replicaStatus(): ReplicaStatus | undefined {
    return this.replica?.status();
  }

  /** The Drizzle handle's one statement, in its read. */
  private sendInRead(read: Read, text: string, params: unknown[], mode: Mode): Promise<Rows> {
    // After the read there is no tenant: refuse rather than run unscoped.
    if (!read.open) return outsideRead();
    if (read.sent) return Promise.reject(new SingleStatementError());
    read.sent = true;
    return this.send(read.tenantId, read.options, text, params, mode);
  }

  private async send(tenantId: string, options: ReadOptions, text: string, params: unknown[], mode: Mode): Promise<Rows> {
    if (this.engine === 'citus') return this.sendInTransaction(tenantId, options, text, params, mode);
    const { replica } = this;
    if (replica?.route(tenantId)) {
      try {
        return await this.sendOn(replica.replica, tenantId, options, text, params, mode);
      } catch (error) {
        // A read is safe to send twice; the read's own errors (a timeout, a bad value) are not retried.
        if (!replica.readFailed(error)) throw error;
      }
    }
    return this.sendOn(this.pool, tenantId, options, text, params, mode);
  }

  private async sendOn(pool: Sql, tenantId: string, options: ReadOptions, text: string, params: unknown[], mode: Mode): Promise<Rows> {
    // Throws before anything is sent when the tenant id is not a uuid.
    const setting = setTenant(pool, tenantId, options.statementTimeoutMs);
    const query = pool.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true });
    // A values() query is the same query answering arrays; the batch's types only know the first kind.
    const statement = mode === 'values' ? (query.values() as unknown as typeof query) : query;
    const [, rows] = await pool.batch([setting, statement]);
    return rows as unknown as Rows;
  }

  /** Citus: the same read inside BEGIN … COMMIT, in one flight. */
  private async sendInTransaction(tenantId: string, options: ReadOptions, text: string, params: unknown[], mode: Mode): Promise<Rows> {
    assertTenantId(tenantId);
    const [, rows] = await inTransactionFlight(this.pool, (conn) => {
      const query = conn.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true });
      return [setTenant(conn, tenantId, options.statementTimeoutMs), mode === 'values' ? (query.values() as unknown as typeof query) : query];
    });
    return rows as Rows;
  }
}

/**
 * `BEGIN · statements · COMMIT` on one reserved connection, all sent at once: one round trip,
 * each message with its own Sync, so a failed statement turns the COMMIT into a rollback and the
 * connection goes back clean. For Citus, which propagates SET LOCAL (the tenant) to the workers
 * only inside a transaction block. The statements' results, in order.
 */
export async function inTransactionFlight(pool: Sql, statements: (conn: postgres.ReservedSql) => { execute(): Promise<unknown> }[]): Promise<unknown[]> {
  const conn = await pool.reserve();
  try {
    const sent = [conn.unsafe('begin').execute(), ...statements(conn).map((q) => q.execute()), conn.unsafe('commit').execute()];
    // Every answer is awaited before the connection goes back; the first failure is the error.
    const settled = await Promise.allSettled(sent);
    for (const answer of settled) if (answer.status === 'rejected') throw answer.reason;
    return settled.slice(1, -1).map((answer) => (answer as PromiseFulfilledResult<unknown>).value);
  } finally {
    conn.release();
  }
}

/** What Drizzle sees as its client: `unsafe(text, params)` goes to `send`, as objects or arrays. */
function readClient(base: Sql, send: (text: string, params: unknown[], mode: Mode) => Promise<Rows>): Sql {
  return new Proxy(base, {
    get(target, prop, receiver) {
      if (prop === 'unsafe') {
        return (text: string, params: unknown[] = []) => ({
          then<A, B>(resolve?: (rows: Rows) => A, reject?: (error: unknown) => B) {
            return send(text, params, 'rows').then(resolve, reject);
          },
          values() {
            return send(text, params, 'values');
          },
        });
      }
      if (prop === 'begin' || prop === 'reserve' || prop === 'batch') {
        return () => {
          throw new Error('a tenant read runs one statement; use withTenant for transactions');
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
    // `db.$client\`…\`` would run on the pool without the setting: refused, not silently unscoped.
    apply() {
      throw new Error('tenant read: use the Drizzle handle (db.select/db.execute), not db.$client');
    },
  }) as unknown as Sql;
}
