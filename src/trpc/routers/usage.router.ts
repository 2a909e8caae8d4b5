import { z } from 'zod';
import { listTenants, TENANT_STATUSES, type Tenant } from '../../modules/tenants/tenant-admin.service.js';
import { getUsage, getUsageInput, listAllUsage, utcDay } from '../../modules/usage/usage.js';
import { platformAdminProcedure, router, tenantProcedure } from '../init.js';

const allUsageInput = z.object({ status: z.enum(TENANT_STATUSES).optional() }).prefault({});

/** Usage lags the requests by at most one flush interval (USAGE_FLUSH_MS): see modules/usage/usage.ts. */
export const usageRouter = router({
  /** The caller's tenant: today's figures and `days` of daily history (oldest first). */
  get: tenantProcedure.input(getUsageInput).query(async ({ ctx, input }) => ({
    tenant: ctx.principal.tenantSlug,
    ...(await ctx.withTenant((tx) => getUsage(tx, { days: input.days, today: ctx.deps.clock() }))),
  })),

  /** Platform admins: today's figures for every tenant (optionally of one status), newest tenant first. */
  all: platformAdminProcedure.input(allUsageInput).query(async ({ ctx, input }) => {
    const tenants: Tenant[] = [];
    for (let offset: number | null = 0; offset !== null; ) {
      const page = await listTenants(ctx.platform.pool, { ...input, limit: 500, offset });
      tenants.push(...page.items);
      offset = page.nextOffset;
    }
    const now = ctx.deps.clock();
    return { day: utcDay(now), tenants: await listAllUsage(ctx.platform.pool, tenants, now) };
  }),
});
