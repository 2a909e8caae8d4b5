/**
 * Drizzle handles for one tenant scope (a transaction, a one-message read) without building
 * Drizzle per scope and without AsyncLocalStorage. Building `drizzle()` costs ~55 µs (it derives
 * the relational config from the schema); AsyncLocalStorage makes Node run a hook on every promise
 * in the process, which cost ~20% of a cached request's CPU. Instead a scope gets a handle that
 * inherits everything from a base handle made once (dialect, schema, casing) and differs in one
 * thing, the client its statements go to: two small objects.
 *
 * This reaches into two Drizzle internals, both pinned with the drizzle-orm version and covered by
 * test/tenant-tx.test.ts and test/tenant-read.test.ts: builders take `db.session`, and the
 * postgres.js session sends through its `client` field.
 */
import type { Db, Sql } from './client.js';

interface WithSession {
  session: object;
  _: Record<string, unknown>;
}

/**
 * A handle that runs its statements on `client` and shares everything else with `base`. `base`
 * should be built over a client that refuses statements: relational `db.query.*` builders keep
 * the base's session, so they fail instead of running outside the scope.
 */
export function scopedHandle(base: Db, client: Sql): Db {
  const shared = base as unknown as WithSession;
  const session = Object.create(shared.session, { client: { value: client } }) as object;
  return Object.create(base, {
    session: { value: session },
    _: { value: { ...shared._, session } },
    $client: { value: client },
  }) as Db;
}
