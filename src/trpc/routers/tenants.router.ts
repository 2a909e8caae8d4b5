/**
 * Tenant lifecycle for platform admins. Everything runs on the platform role's pool
 * (`ctx.platform.pool`); the modules reach a tenant's rows only through `withTenant`, naming it.
 */
import * as admin from '../../modules/tenant-admin.service.js';
import * as data from '../../modules/tenant-data.service.js';
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
    .query(({ ctx, input }) => admin.tenantStats(ctx.platform.pool, input.tenantId, ctx.clock())),
  suspend: platformAdminProcedure
    .input(admin.suspendTenantInput)
    .mutation(({ ctx, input }) => admin.setTenantStatus(ctx.platform.pool, { ...input, status: 'suspended' }, ctx.actor)),
  resume: platformAdminProcedure
    .input(admin.tenantIdInput)
    .mutation(({ ctx, input }) => admin.setTenantStatus(ctx.platform.pool, { ...input, status: 'active' }, ctx.actor)),
  delete: platformAdminProcedure
    .input(data.purgeTenantInput)
    .mutation(({ ctx, input }) => data.purgeTenant(ctx.platform.pool, input, ctx.actor)),
  export: platformAdminProcedure
    .input(data.exportTenantInput)
    .query(({ ctx, input }) => data.exportTenant(ctx.platform.pool, input.tenantId, ctx.actor)),
  import: platformAdminProcedure
    .input(data.importTenantInput)
    .mutation(({ ctx, input }) => data.importTenant(ctx.platform.pool, input, ctx.actor)),
});
