import postgres from 'postgres';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import * as schema from './schema/index.js';

export type Schema = typeof schema;
export type Sql = postgres.Sql;
/**
 * A Drizzle handle. Inside a tenant request it is bound to one tenant-scoped transaction, and
 * `$client` is that transaction's connection (for raw SQL), never the pool.
 */
export type Db = PostgresJsDatabase<Schema> & { $client: Sql };

export interface PoolOptions {
  /** Connections in the pool. */
  max?: number;
  applicationName?: string;
}

/** Opens a postgres.js pool. The driver version is pinned: see ISOLATION.md on queued BEGINs. */
export function openPool(url: string, options: PoolOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    onnotice: () => undefined,
    connection: { application_name: options.applicationName ?? 'palisade' },
  });
}

/** How Drizzle names columns: `customerId` is `customer_id`. Every builder must agree. */
export const DRIZZLE_CASING = 'snake_case';

/** Drizzle over a pool or a transaction, with the project's schema and naming. */
export function drizzleOver(client: Sql): Db {
  return drizzle(client, { schema, casing: DRIZZLE_CASING });
}
