/**
 * Turning a bearer secret into a principal. This runs before any tenant is known, so it is the
 * one cross-tenant lookup on the request path; it goes only through the narrow SECURITY DEFINER
 * functions `resolve_tenant_api_key`, `resolve_session` and `resolve_platform_admin_key`
 * (db/migrations/0001, 0004), which the app role may execute but whose tables it cannot read.
 */
import type postgres from 'postgres';
import { engineOf } from '../../../db/citus.js';
import type { Sql } from '../../../db/client.js';
import { inTransactionFlight } from '../../../db/tenant-read.js';
import type { TenantRole } from '../../../db/schema/index.js';
import { parseKey, type ParsedKey } from '../../lib/api-key.js';
import { AppError, type ReasonOf } from '../../lib/errors.js';
import type { CredentialCache, ResolvedCredential } from './credential-cache.js';
import type { Principal } from './principal.js';

// The principal types live in principal.ts (the cache needs them too); re-exported for callers.
export type { Principal, TenantPrincipal } from './principal.js';

// Flags are computed in SQL against the server's clock (passed in, so tests can move time).
interface KeyRow {
  key_id: string;
  revoked: boolean;
  expired: boolean;
  /** null: never expires. float8 may arrive as a string, depending on the pool's parsers. */
  expires_ms: number | string | null;
}

function expiryOf(row: KeyRow): Date | null {
  return row.expires_ms === null ? null : new Date(Number(row.expires_ms));
}

function unauthorized(reason: ReasonOf<'UNAUTHORIZED'>, message: string): AppError {
  return new AppError(reason, message);
}

const API_KEY = { what: 'API key', renew: 'ask an admin for a new one' };
const SESSION = { what: 'session', renew: 'sign in again' };

function checkUsable<T extends KeyRow>(row: T | undefined, { what, renew } = API_KEY): T {
  if (!row) throw unauthorized('KEY_UNKNOWN', `This ${what} is not recognised.`);
  if (row.revoked) throw unauthorized('KEY_REVOKED', `This ${what} has been revoked; ${renew}.`);
  if (row.expired) throw unauthorized('KEY_EXPIRED', `This ${what} has expired; ${renew}.`);
  return row;
}

function checkTenantActive(status: string): void {
  if (status !== 'active') {
    throw new AppError('TENANT_SUSPENDED', 'This tenant is suspended; contact your platform administrator.');
  }
}

/**
 * The principal for a bearer secret, or UNAUTHORIZED / FORBIDDEN with the reason. With a cache, a
 * resolution is reused for a few seconds (see credential-cache.ts: expiry is still checked against
 * `now` on every request, and state changes evict); without one, every call asks the database.
 */
export async function resolveCredential(pool: Sql, secret: string, now: Date, cache?: CredentialCache): Promise<Principal> {
  const parsed = parseKey(secret);
  if (!parsed) {
    throw unauthorized('KEY_MALFORMED', 'That is not a Palisade API key (expected pk_<tenant>_… or pa_…) or session token (ps_…).');
  }
  if (!cache) return (await lookUpCredential(pool, parsed, now)).principal;
  return cache.resolve(parsed.hash, now, () => lookUpCredential(pool, parsed, now));
}

/**
 * A tenant credential's lookup function sets the tenant with SET LOCAL; on Citus that reaches the
 * workers only inside a transaction block, so there it runs in one (still one round trip).
 */
async function lookUp<R>(pool: Sql, query: (sql: Sql | postgres.ReservedSql) => postgres.PendingQuery<postgres.Row[]>): Promise<R[]> {
  if (engineOf(pool) !== 'citus') return (await query(pool)) as unknown as R[];
  const [rows] = await inTransactionFlight(pool, (conn) => [query(conn)]);
  return rows as R[];
}

// One round trip. The credential's own expiry comes back as epoch milliseconds (a number, not a
// timestamp: Drizzle replaces the pool's date parsers) for the cache to check on later requests.
async function lookUpCredential(pool: Sql, parsed: ParsedKey, now: Date): Promise<ResolvedCredential> {
  // As text: Drizzle replaces the pool's date serializers, so a Date would not be sent as one.
  const at = now.toISOString();
  if (parsed.kind === 'platform') {
    const [row] = await pool<KeyRow[]>`
      select key_id, revoked_at is not null as revoked, coalesce(expires_at <= ${at}::timestamptz, false) as expired,
        extract(epoch from expires_at)::float8 * 1000 as expires_ms
      from resolve_platform_admin_key(${parsed.hash})`;
    const key = checkUsable(row);
    return { principal: { kind: 'platform', keyId: key.key_id }, expiresAt: expiryOf(key) };
  }
  if (parsed.kind === 'session') {
    const [row] = await lookUp<KeyRow & { tenant_id: string; tenant_status: string; role: TenantRole; user_id: string; user_disabled: boolean; must_change_password: boolean }>(pool, (sql) => sql`
      select session_id as key_id, tenant_id, tenant_status, role, user_id, user_disabled, must_change_password,
        revoked_at is not null as revoked, expires_at <= ${at}::timestamptz as expired,
        extract(epoch from expires_at)::float8 * 1000 as expires_ms
      from resolve_session(${parsed.slug}, ${parsed.hash})`);
    const session = checkUsable(row, SESSION);
    if (session.user_disabled) throw unauthorized('USER_DISABLED', 'This user has been disabled; ask a tenant admin.');
    checkTenantActive(session.tenant_status);
    return {
      principal: {
        kind: 'tenant',
        via: 'session',
        tenantId: session.tenant_id,
        tenantSlug: parsed.slug,
        role: session.role,
        sessionId: session.key_id,
        userId: session.user_id,
        mustChangePassword: session.must_change_password,
      },
      expiresAt: expiryOf(session),
    };
  }
  const [row] = await lookUp<KeyRow & { tenant_id: string; tenant_status: string; role: TenantRole; rate_limit: string | null }>(pool, (sql) => sql`
    select key_id, tenant_id, tenant_status, role, rate_limit,
      revoked_at is not null as revoked, coalesce(expires_at <= ${at}::timestamptz, false) as expired,
      extract(epoch from expires_at)::float8 * 1000 as expires_ms
    from resolve_tenant_api_key(${parsed.slug}, ${parsed.hash})`);
  const key = checkUsable(row);
  checkTenantActive(key.tenant_status);
  return {
    principal: { kind: 'tenant', via: 'api_key', tenantId: key.tenant_id, tenantSlug: parsed.slug, keyId: key.key_id, role: key.role, rateLimit: key.rate_limit },
    expiresAt: expiryOf(key),
  };
}
