import type { Sql } from '../../db/client.js';

/** What every procedure starts from. Procedure tiers add the principal and the tenant runner. */
export interface Context {
  requestId: string;
  headers: Headers;
  /** The app-role pool. Only the auth step and the tenant runner touch it, never a resolver. */
  pool: Sql;
}
