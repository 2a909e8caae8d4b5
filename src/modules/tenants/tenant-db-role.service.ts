/**
 * Per-tenant database roles: a login role Postgres itself holds to one tenant's rows (migration
 * 0014's restrictive policy), for an instance deployed for that tenant alone (PALISADE_TENANT).
 * Run as the owner (the CLI); role changes and their audit events commit together.
 */
import { randomBytes } from 'node:crypto';
import type { Sql } from '../../../db/client.js';
import { withTenant } from '../../../db/tenant-tx.js';
import { createTenantRole, dropTenantRole, tenantRoleName } from '../../../db/roles.js';
import { recordPlatformEvent, type Actor } from '../audit-log/audit.service.js';

export interface TenantDbRole {
  role: string;
  /** Shown once; Postgres keeps only its hash. */
  password: string;
  created: boolean;
}

/** Creates the tenant's role, or gives an existing one a new password (the old one stops working). */
export async function issueTenantDbRole(pool: Sql, tenant: { id: string; slug: string }, actor: Actor): Promise<TenantDbRole> {
  // Hex only: role passwords are written into DDL, which takes no bind parameters.
  const password = randomBytes(18).toString('hex');
  // One transaction (the tenant's, as every owner-run change is) for the role and its audit event.
  return withTenant(pool, tenant.id, async (tx) => {
    const { role, created } = await createTenantRole(tx.$client, tenant.id, password);
    await recordPlatformEvent(tx, actor, {
      action: created ? 'tenant.db_role_create' : 'tenant.db_role_password',
      tenantId: tenant.id,
      targetType: 'tenant',
      targetId: tenant.id,
      details: { slug: tenant.slug, role },
    });
    return { role, password, created };
  });
}

/** Drops the tenant's role; false (and nothing recorded) when it had none. */
export async function revokeTenantDbRole(pool: Sql, tenant: { id: string; slug: string }, actor: Actor): Promise<{ role: string; dropped: boolean }> {
  return withTenant(pool, tenant.id, async (tx) => {
    const dropped = await dropTenantRole(tx.$client, tenant.id);
    const role = tenantRoleName(tenant.id);
    if (dropped) {
      await recordPlatformEvent(tx, actor, {
        action: 'tenant.db_role_drop',
        tenantId: tenant.id,
        targetType: 'tenant',
        targetId: tenant.id,
        details: { slug: tenant.slug, role },
      });
    }
    return { role, dropped };
  });
}
