/**
 * Tenant lifecycle for platform admins. Everything runs on the platform role's pool
 * (`ctx.platform.pool`); the modules reach a tenant's rows only through `withTenant`, naming it.
 * Suspending, deleting and importing report, once committed, the cached credentials and results
 * they outdated (`ctx.reports`, given by the platform tier).
 */
import { z } from 'zod';
import * as analytics from '../../modules/analytics/analytics.service.js';
import { queryInput } from '../../modules/analytics/query.service.js';
import * as admin from '../../modules/tenants/tenant-admin.service.js';
import * as data from '../../modules/tenants/tenant-data.service.js';
import { platformAdminProcedure, router } from '../init.js';

export const tenantsRouter = router({
  create: platformAdminProcedure
    .input(admin.createTenantInput)
    .mutation(({ ctx, input }) => admin.createTenant(ctx.platform.pool, input, ctx.actor)),
  list: platformAdminProcedure
    .input(admin.listTenantsInput)
    .query(({ ctx, input }) => admin.listTenants(ctx.platform.pool, input)),
  get: platformAdminProcedure
    .input(admin.tenantIdInput)
    .query(({ ctx, input }) => admin.getTenant(ctx.platform.pool, input.tenantId)),
  stats: platformAdminProcedure
    .input(admin.tenantIdInput)
    .query(({ ctx, input }) => admin.tenantStats(ctx.platform.pool, input.tenantId, ctx.deps.clock())),
  suspend: platformAdminProcedure
    .input(admin.suspendTenantInput)
    .mutation(({ ctx, input }) => admin.setTenantStatus(ctx.platform.pool, { ...input, status: 'suspended' }, ctx.actor, ctx.reports)),
  resume: platformAdminProcedure
    .input(admin.tenantIdInput)
    .mutation(({ ctx, input }) => admin.setTenantStatus(ctx.platform.pool, { ...input, status: 'active' }, ctx.actor, ctx.reports)),
  delete: platformAdminProcedure
    .input(data.purgeTenantInput)
    .mutation(({ ctx, input }) => data.purgeTenant(ctx.platform.pool, input, ctx.actor, ctx.reports)),
  export: platformAdminProcedure
    .input(data.exportTenantInput)
    .query(({ ctx, input }) => data.exportTenant(ctx.platform.pool, input.tenantId, ctx.actor)),
  import: platformAdminProcedure
    .input(data.importTenantInput)
    .mutation(({ ctx, input }) => data.importTenant(ctx.platform.pool, input, ctx.actor, ctx.reports)),
  /** One named tenant's dataset query, under its policies; audited in the platform log. */
  query: platformAdminProcedure
    .input(z.object({ tenantId: admin.tenantIdInput.shape.tenantId, query: queryInput }))
    .query(({ ctx, input }) => analytics.queryTenantAsAdmin(ctx.platform.pool, ctx.deps.analytics, input.tenantId, input.query, ctx.actor)),
  /** The same query over every tenant, with `tenant` (slug) as the leading dimension. */
  queryAll: platformAdminProcedure
    .input(queryInput)
    .query(({ ctx, input }) => analytics.queryAllTenantsAsAdmin(ctx.platform.pool, ctx.deps.analytics, input, ctx.actor)),
});
