import { sql } from 'drizzle-orm';
import { index, jsonb, text, timestamp, unique } from 'drizzle-orm/pg-core';
import { tenantTable } from './tenancy.js';

/**
 * Answers of mutations sent with an `Idempotency-Key` header (src/trpc/idempotency.ts), kept for
 * 24 h so a client that lost an answer can send the request again without it running twice. A row
 * is written in the mutation's own transaction: it exists exactly when the mutation committed.
 */
export const idempotencyKeys = tenantTable(
  'idempotency_keys',
  {
    /** Who sent it: `api_key:<key id>` or `session:<session id>`. A key is private to its credential. */
    credential: text().notNull(),
    key: text().notNull(),
    /** The procedure, e.g. `orders.create`. */
    path: text().notNull(),
    /** SHA-256 of the path and the request body: the same key with another request is refused. */
    requestHash: text().notNull(),
    /** The first answer's result, as JSON. */
    response: jsonb().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [
    unique('idempotency_keys_tenant_id_credential_key_key').on(t.tenantId, t.credential, t.key),
    index('idempotency_keys_tenant_id_created_at_idx').on(t.tenantId, t.createdAt),
  ],
);
