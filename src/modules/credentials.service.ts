/**
 * Turning a bearer secret into a principal. This runs before any tenant is known, so it is the
 * one cross-tenant lookup on the request path; it goes only through the narrow SECURITY DEFINER
 * functions `resolve_tenant_api_key` / `resolve_platform_admin_key` (db/migrations/0001), which
 * the app role may execute but whose tables it cannot read.
 */
import type { Sql } from '../../db/client.js';
import type { API_KEY_ROLES } from '../../db/schema/index.js';
import { parseKey } from '../lib/api-key.js';
import { AppError } from '../lib/errors.js';

export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

export type Principal =
  | { kind: 'tenant'; tenantId: string; keyId: string; role: ApiKeyRole }
  | { kind: 'platform'; keyId: string };

// Flags are computed in SQL: timestamps come back as strings once Drizzle has set the pool's
// parsers, and the database clock is the one that wrote revoked_at/expires_at anyway.
interface KeyRow {
  key_id: string;
  revoked: boolean;
  expired: boolean;
}

function unauthorized(reason: string, message: string): AppError {
  return new AppError('UNAUTHORIZED', reason, message);
}

function checkUsable<T extends KeyRow>(row: T | undefined): T {
  if (!row) throw unauthorized('KEY_UNKNOWN', 'This API key is not recognised.');
  if (row.revoked) throw unauthorized('KEY_REVOKED', 'This API key has been revoked; ask an admin for a new one.');
  if (row.expired) throw unauthorized('KEY_EXPIRED', 'This API key has expired.');
  return row;
}

export async function resolveCredential(pool: Sql, secret: string): Promise<Principal> {
  const parsed = parseKey(secret);
  if (!parsed) {
    throw unauthorized('KEY_MALFORMED', 'That is not a Palisade API key (expected pk_<tenant>_… or pa_…).');
  }
  if (parsed.kind === 'platform') {
    const [row] = await pool<KeyRow[]>`
      select key_id, revoked_at is not null as revoked, coalesce(expires_at <= now(), false) as expired
      from resolve_platform_admin_key(${parsed.hash})`;
    return { kind: 'platform', keyId: checkUsable(row).key_id };
  }
  const [row] = await pool<(KeyRow & { tenant_id: string; tenant_status: string; role: ApiKeyRole })[]>`
    select key_id, tenant_id, tenant_status, role,
      revoked_at is not null as revoked, coalesce(expires_at <= now(), false) as expired
    from resolve_tenant_api_key(${parsed.slug}, ${parsed.hash})`;
  const key = checkUsable(row);
  if (key.tenant_status !== 'active') {
    throw new AppError('FORBIDDEN', 'TENANT_SUSPENDED', 'This tenant is suspended; contact your platform administrator.');
  }
  return { kind: 'tenant', tenantId: key.tenant_id, keyId: key.key_id, role: key.role };
}
