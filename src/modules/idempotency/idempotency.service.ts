/**
 * Stored answers of mutations sent with an `Idempotency-Key` (table idempotency_keys, the tenant's
 * RLS). Both functions run inside the mutation's own tenant transaction, so an answer is stored
 * exactly when the mutation commits, and a lost connection before COMMIT stores nothing.
 */
import { and, eq, lt, sql } from 'drizzle-orm';
import { idempotencyKeys } from '../../../db/schema/index.js';
import { ownTenant, type TenantDb } from '../../../db/tenant-tx.js';
import { AppError } from '../../lib/errors.js';

/** How long an answer is kept and replayed. */
export const IDEMPOTENCY_TTL_HOURS = 24;

export interface IdempotentRequest {
  /** `api_key:<id>` or `session:<id>`: a key belongs to the credential that sent it. */
  credential: string;
  key: string;
  path: string;
  /** Hash of the path and the request body. */
  requestHash: string;
}

export type StoredAnswer = { found: false } | { found: true; response: unknown };

/**
 * The answer stored for this credential and key, if one is younger than the TTL. The same key
 * with another request is the client's mistake: 409 IDEMPOTENCY_KEY_REUSED. An expired answer is
 * deleted so the key can be used again.
 */
export async function findStoredAnswer(tx: TenantDb, request: IdempotentRequest): Promise<StoredAnswer> {
  const [row] = await tx
    .select({
      path: idempotencyKeys.path,
      requestHash: idempotencyKeys.requestHash,
      response: idempotencyKeys.response,
      expired: sql<boolean>`${idempotencyKeys.createdAt} < now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})`,
    })
    .from(idempotencyKeys)
    .where(and(ownTenant(tx, idempotencyKeys), eq(idempotencyKeys.credential, request.credential), eq(idempotencyKeys.key, request.key)));
  if (!row) return { found: false };
  if (row.expired) {
    await tx.delete(idempotencyKeys).where(and(ownTenant(tx, idempotencyKeys), eq(idempotencyKeys.credential, request.credential), eq(idempotencyKeys.key, request.key)));
    return { found: false };
  }
  if (row.requestHash !== request.requestHash) {
    throw new AppError(
      'IDEMPOTENCY_KEY_REUSED',
      `This Idempotency-Key was already used for a different request (${row.path}); send a new key for a new request.`,
    );
  }
  return { found: true, response: (row.response as { value?: unknown }).value };
}

/** The unique constraint a concurrent request with the same key runs into. */
export const IDEMPOTENCY_KEY_CONSTRAINT = 'idempotency_keys_tenant_id_credential_key_key';

/**
 * Stores `response` as the answer for this key, and drops the tenant's expired answers. A
 * concurrent request with the same key that committed first makes this insert fail (unique
 * violation), which rolls the mutation back: the caller then answers with the stored answer.
 */
export async function storeAnswer(tx: TenantDb, request: IdempotentRequest, response: unknown): Promise<void> {
  await tx
    .delete(idempotencyKeys)
    .where(and(ownTenant(tx, idempotencyKeys), lt(idempotencyKeys.createdAt, sql`now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})`)));
  // Wrapped, so an answer of `undefined` or `null` is stored as JSON too.
  await tx.insert(idempotencyKeys).values({ ...request, response: { value: response } });
}
