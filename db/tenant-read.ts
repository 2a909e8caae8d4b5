/**
 * One round trip for a one-statement tenant read. `withTenant` costs two (BEGIN · setting ·
 * statement, then COMMIT) and a reserved connection; a read that is a single statement needs
 * neither. It goes out as ONE simple-protocol message:
 *
 *   select set_config('app.tenant_id', '<uuid>', true)[, set_config('statement_timeout', …, true)];
 *   <the statement, its parameters inlined as literals (sql-literal.ts)>
 *
 * Postgres runs the statements of one simple Query message as one implicit transaction, so the
 * setting is transaction-local exactly as in withTenant: it applies to the statement after it and
 * is gone when the message ends, on whichever pooled connection ran it (fresh or reused), whether
 * the statement succeeded or not. Nothing here opens a transaction that could outlive the message.
 *
 * The callback gets a Drizzle handle that accepts exactly one statement: a second one is refused
 * (it would run without the setting), so multi-statement work must use withTenant.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { drizzleOver, type Db, type Sql } from './client.js';
import { inlineParameters } from './sql-literal.js';
import { assertTenantId } from './tenant-tx.js';

interface Read {
  prefix: string;
  sent: boolean;
}

const current = new AsyncLocalStorage<Read>();
const handles = new WeakMap<Sql, Db>();

export class SingleStatementError extends Error {
  constructor() {
    super('tenantRead runs exactly one statement; use withTenant for more');
  }
}

/** Runs `fn`'s one statement for `tenantId` in a single round trip. */
export async function tenantRead<T>(pool: Sql, tenantId: string, fn: (db: Db) => Promise<T>, options: { statementTimeoutMs?: number } = {}): Promise<T> {
  assertTenantId(tenantId);
  // Validated above, so the id can be a literal; the timeout is an integer we format.
  let prefix = `select set_config('app.tenant_id', '${tenantId}', true)`;
  if (options.statementTimeoutMs !== undefined) prefix += `, set_config('statement_timeout', '${Math.max(1, Math.floor(options.statementTimeoutMs))}', true)`;
  // Awaited inside run(): Drizzle builders are lazy thenables and execute when awaited, which must
  // happen where the store is visible.
  return current.run({ prefix, sent: false }, async () => await fn(handleFor(pool)));
}

/** One Drizzle instance per pool (building one per request costs more than the query). */
function handleFor(pool: Sql): Db {
  let db = handles.get(pool);
  if (!db) {
    db = drizzleOver(readClient(pool));
    handles.set(pool, db);
  }
  return db;
}

type Rows = Record<string, unknown>[] & { values?: never };

function readClient(pool: Sql): Sql {
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'unsafe') {
        return (text: string, params: unknown[] = []) => {
          const read = current.getStore();
          // Outside tenantRead there is no tenant: refuse rather than run unscoped.
          if (!read) throw new Error('this handle only works inside tenantRead');
          if (read.sent) throw new SingleStatementError();
          read.sent = true;
          const message = `${read.prefix}; ${inlineParameters(text, params)}`;
          return lastResult(target, message);
        };
      }
      if (prop === 'begin' || prop === 'reserve') {
        return () => {
          throw new Error('tenantRead runs one statement; use withTenant for transactions');
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
    // `db.$client\`…\`` would run on the pool without the setting: refused, not silently unscoped.
    apply() {
      throw new Error('tenantRead: use the Drizzle handle (db.select/db.execute), not db.$client');
    },
  }) as unknown as Sql;
}

/**
 * The message answers one result per statement; callers (Drizzle) want the last one, as objects
 * (`await`) or as arrays (`.values()`), like a postgres.js query.
 */
function lastResult(pool: Sql, message: string) {
  const last = (results: unknown) => (results as Rows[]).at(-1)!;
  return {
    then<A, B>(resolve?: (rows: Rows) => A, reject?: (error: unknown) => B) {
      return pool.unsafe(message).then((r) => last(r)).then(resolve, reject);
    },
    values() {
      return pool.unsafe(message).values().then((r) => last(r));
    },
  };
}
