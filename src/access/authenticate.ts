/**
 * Request authentication, shared by tRPC and any REST route. The tenant is taken from the verified
 * key only; `X-Tenant-ID` may repeat it (some clients send it by habit) but can never choose it.
 */
import type { Sql } from '../../db/client.js';
import { AppError } from '../lib/errors.js';
import type { CredentialCache } from '../modules/credentials/credential-cache.js';
import { resolveCredential, type Principal } from '../modules/credentials/credentials.service.js';
import type { RequestHeaders } from './request.js';

export const TENANT_HEADER = 'x-tenant-id';

/** The one tenant a pinned instance serves (PALISADE_TENANT), as resolved at startup. */
export interface ServedTenant {
  id: string;
  slug: string;
  /** The per-tenant database role the instance connects as (db/roles.ts), when it does: Postgres holds it to this tenant too. */
  databaseRole?: string;
}

/**
 * On a pinned instance, only the served tenant's credentials (and sign-ins) pass; platform-admin
 * keys do not either: the platform's routes are off there. Checked before anything is spent.
 */
export function assertServedHere(served: ServedTenant | undefined, who: Principal | { signInTo: string }): void {
  if (!served) return;
  if ('kind' in who && who.kind === 'platform') {
    throw new AppError('TENANT_NOT_SERVED_HERE', `This instance serves only tenant "${served.slug}"; platform-admin routes are off here. Use an instance that is not pinned (PALISADE_TENANT unset).`);
  }
  const isServed = 'kind' in who ? who.tenantId === served.id : who.signInTo.trim().toLowerCase() === served.slug;
  if (!isServed) throw new AppError('TENANT_NOT_SERVED_HERE', `This instance serves only tenant "${served.slug}"; use your tenant's own address.`);
}

/**
 * The request's verified principal. Pass the app's credential cache so repeated requests with the
 * same key skip the database (credential-cache.ts); without it every request resolves afresh.
 */
export async function authenticateRequest(pool: Sql, headers: RequestHeaders, now: Date, cache?: CredentialCache): Promise<Principal> {
  const authorization = headers.get('authorization');
  if (!authorization) {
    throw new AppError('KEY_MISSING', 'Send an API key in the header "Authorization: Bearer <key>".');
  }
  const match = /^Bearer +(\S+) *$/i.exec(authorization);
  if (!match?.[1]) {
    throw new AppError('KEY_MALFORMED', 'The Authorization header must read "Bearer <key>".');
  }
  const principal = await resolveCredential(pool, match[1], now, cache);
  const claimed = headers.get(TENANT_HEADER);
  if (claimed !== null && (principal.kind !== 'tenant' || claimed.trim().toLowerCase() !== principal.tenantId)) {
    throw new AppError('TENANT_MISMATCH', 'X-Tenant-ID names a tenant this key does not belong to.');
  }
  return principal;
}
