/**
 * Who a request acts as, once its credential is verified (credentials.service.ts resolves it;
 * credential-cache.ts keeps recent resolutions). Types only.
 */
import type { TenantRole } from '../../../db/schema/index.js';

/** `tenantSlug` is the slug the credential carries (and was resolved by): new keys are prefixed with it. */
export type TenantPrincipal =
  | {
      kind: 'tenant';
      via: 'api_key';
      tenantId: string;
      tenantSlug: string;
      role: TenantRole;
      keyId: string;
      /** The key's own rate limit (`100/minute`), tighter or looser than the tenant's; null: none. */
      rateLimit: string | null;
    }
  | {
      kind: 'tenant';
      via: 'session';
      tenantId: string;
      tenantSlug: string;
      role: TenantRole;
      sessionId: string;
      userId: string;
      mustChangePassword: boolean;
    };

export type Principal = TenantPrincipal | { kind: 'platform'; keyId: string };
