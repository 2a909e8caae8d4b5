/** Running a tenant's own operations from the CLI: resolve `--tenant`, then one tenant transaction. */
import type { TenantDb } from '../../db/tenant-tx.js';
import type { TenantRole } from '../../db/schema/index.js';
import { tenantScope } from '../../src/access/tiers.js';
import type { Args } from './args.js';
import type { CliContext, TenantRef } from './context.js';

/** The operator stands in for the tenant's owner: key and user rules compare against this role. */
export const CLI_CALLER_ROLE: TenantRole = 'owner';

export const TENANT_OPTION = {
  tenant: { type: 'string', placeholder: '<slug|id>', description: 'the tenant (required)' },
} as const;

/**
 * Resolves `--tenant` and runs `fn` in one transaction scoped to that tenant, through the access
 * layer's tenant scope as the server's tiers do (FORCE RLS applies to the owner too).
 */
export async function inTenant<T>(ctx: CliContext, args: Args, fn: (tx: TenantDb, tenant: TenantRef) => Promise<T>): Promise<{ tenant: TenantRef; result: T }> {
  const tenant = await ctx.resolveTenant(args.required('tenant'));
  const result = await tenantScope(ctx.pool, tenant.id, ctx.credentialsChanged).withTenant((tx) => fn(tx, tenant));
  return { tenant, result };
}
