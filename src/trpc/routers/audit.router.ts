import { z } from 'zod';
import { drizzleOver } from '../../../db/client.js';
import { listAuditEvents, listAuditEventsInput, listPlatformEvents, recordPlatformEvent } from '../../modules/audit-log/audit.service.js';
import { readTenantRow } from '../../modules/tenants/tenant-admin.service.js';
import { platformAdminProcedure, router, tenantAdminProcedure } from '../init.js';

const platformListInput = listAuditEventsInput
  .unwrap()
  .safeExtend({
    tenantId: z.uuid().optional(),
    /** `platform`: the platform log (optionally about one tenant); `tenant`: that tenant's own log. */
    scope: z.enum(['platform', 'tenant']).default('platform'),
  })
  .refine((v) => v.scope !== 'tenant' || v.tenantId, { message: 'required when scope is "tenant"', path: ['tenantId'] })
  .prefault({});

export const auditRouter = router({
  /** The caller's own tenant log, newest first. */
  list: tenantAdminProcedure
    .input(listAuditEventsInput)
    .query(({ ctx, input }) => ctx.withTenant((tx) => listAuditEvents(tx, input))),

  /**
   * Platform admins: the platform log, or (scope `tenant`) one tenant's own log. Reading a
   * tenant's log is itself a platform event, written in the same transaction as the read.
   */
  platformList: platformAdminProcedure.input(platformListInput).query(({ ctx, input }) => {
    const { scope, tenantId, ...filters } = input;
    if (scope === 'platform') return listPlatformEvents(drizzleOver(ctx.platform.pool), { ...filters, ...(tenantId ? { tenantId } : {}) });
    const target = tenantId!;
    return ctx.platform.withTenant(target, async (tx) => {
      await readTenantRow(tx, target); // an unknown tenant is 404, not an empty log
      const events = await listAuditEvents(tx, filters);
      const { limit, offset, ...narrowedBy } = filters;
      await recordPlatformEvent(tx, ctx.actor, {
        action: 'audit.read',
        tenantId: target,
        targetType: 'tenant',
        targetId: target,
        details: { filters: narrowedBy, limit, offset, returned: events.items.length },
      });
      return events;
    });
  }),
});
