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
  /**
   * How long a query, transaction or reserve may wait for a free connection (ms); past it, it
   * rejects with `QUEUE_TIMEOUT` without having been sent. Default: no limit.
   */
  connectWaitMs?: number;
  /** How long opening a connection (TCP, TLS, login) may take (ms). Default: postgres.js's 30 s. */
  connectTimeoutMs?: number;
}

/**
 * Seconds before the next attempt to connect, after `attempt` failed ones in a row: 20 ms doubling
 * to at most half a second, jittered so instances do not reconnect in step. postgres.js's default
 * grows by threefold steps to 3.6–7.3 s after six failures and 11–22 s after seven, and until the
 * next attempt the pool fails every query at once with the last error: after an outage of a few
 * seconds the app kept answering errors for about five seconds after the database was back. With
 * this, a pool connects again within half a second of the database coming back. While failing, a
 * pool makes one attempt at a time, and only when a query is waiting: at most four a second.
 */
export function reconnectBackoff(attempt: number): number {
  return Math.min(0.5, 0.02 * 2 ** attempt) * (0.5 + Math.random() / 2);
}

/** Opens a postgres.js pool. The driver version is pinned: see ISOLATION.md on queued BEGINs. */
export function openPool(url: string, options: PoolOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    onnotice: () => undefined,
    connection: { application_name: options.applicationName ?? 'palisade' },
    backoff: reconnectBackoff,
    ...(options.connectWaitMs ? { queue_timeout: options.connectWaitMs / 1000 } : {}),
    ...(options.connectTimeoutMs ? { connect_timeout: options.connectTimeoutMs / 1000 } : {}),
  });
}

/** How Drizzle names columns: `customerId` is `customer_id`. Every builder must agree. */
export const DRIZZLE_CASING = 'snake_case';

/** Drizzle over a pool or a transaction, with the project's schema and naming. */
export function drizzleOver(client: Sql): Db {
  return drizzle(client, { schema, casing: DRIZZLE_CASING });
}
