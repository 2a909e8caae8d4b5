/**
 * `Idempotency-Key` on tenant mutations: a client that lost an answer (a 503, a reset connection)
 * sends the same request with the same key and gets the first answer, without the mutation running
 * again. The lookup and the stored answer share the mutation's transaction (the first `withTenant`
 * of the request), so an answer exists exactly when the mutation committed.
 */
import { createHash } from 'node:crypto';
import type { Sql } from '../../db/client.js';
import { withTenant, type TenantDb } from '../../db/tenant-tx.js';
import { AppError } from '../lib/errors.js';
import { pgError, SQLSTATE, violates } from '../lib/pg-errors.js';
import { findStoredAnswer, IDEMPOTENCY_KEY_CONSTRAINT, storeAnswer, type IdempotentRequest } from '../modules/idempotency/idempotency.service.js';
import type { TenantPrincipal } from '../modules/credentials/credentials.service.js';
import type { RequestHeaders } from '../access/request.js';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** Set on an answer that was stored by an earlier request with the same key. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/** Visible ASCII, as Stripe and the IETF draft allow; a UUID is the usual choice. */
const VALID_KEY = /^[\x21-\x7e]{1,255}$/;

/** The request's key, validated; undefined when the header is absent. */
export function idempotencyKeyOf(headers: RequestHeaders): string | undefined {
  const key = headers.get(IDEMPOTENCY_HEADER);
  if (key === null) return undefined;
  if (!VALID_KEY.test(key)) {
    throw new AppError('INVALID_INPUT', `${IDEMPOTENCY_HEADER}: 1 to 255 visible ASCII characters (a UUID, say).`);
  }
  return key;
}

export function idempotentRequest(principal: TenantPrincipal, key: string, path: string, rawInput: unknown): IdempotentRequest {
  const credential = principal.via === 'api_key' ? `api_key:${principal.keyId}` : `session:${principal.sessionId}`;
  const requestHash = createHash('sha256').update(`${path}\n${JSON.stringify(rawInput ?? null)}`).digest('hex');
  return { credential, key, path, requestHash };
}

/**
 * `ctx.withTenant` for a mutation sent with a key. Its first call looks the key up in its own
 * transaction: a stored answer is returned without running `fn`; otherwise `fn` runs and its
 * result is stored before COMMIT. Later calls in the same request run as usual.
 */
export function idempotentWithTenant(pool: Sql, tenantId: string, request: IdempotentRequest, onReplay: () => void) {
  let first = true;
  return async <T>(fn: (tx: TenantDb) => Promise<T>): Promise<T> => {
    if (!first) return withTenant(pool, tenantId, fn);
    first = false;
    try {
      return await withTenant(pool, tenantId, async (tx) => {
        const stored = await findStoredAnswer(tx, request);
        if (stored.found) {
          onReplay();
          return stored.response as T;
        }
        const result = await fn(tx);
        await storeAnswer(tx, request, result);
        return result;
      });
    } catch (error) {
      // The same key, sent concurrently, committed first: this mutation was rolled back, and the
      // first one's answer is this request's answer too.
      const pg = pgError(error);
      if (pg?.code !== SQLSTATE.uniqueViolation || !violates(error, IDEMPOTENCY_KEY_CONSTRAINT)) throw error;
      const stored = await withTenant(pool, tenantId, (tx) => findStoredAnswer(tx, request));
      if (!stored.found) throw error;
      onReplay();
      return stored.response as T;
    }
  };
}
