import { z } from 'zod';
import { ALERT_HISTORY } from '../../modules/usage/alerts.js';
import { tenantSlug } from '../../modules/tenants/tenant-admin.service.js';
import { platformAdminProcedure, router } from '../init.js';

const listAlertsInput = z
  .object({
    /** Only this tenant's alerts (its slug). */
    tenant: tenantSlug.optional(),
    /** Only alerts fired at or after this instant. */
    since: z.iso.datetime({ offset: true }).optional(),
    limit: z.number().int().min(1).max(ALERT_HISTORY).default(100),
  })
  .prefault({});

export const alertsRouter = router({
  /**
   * Platform admins: alerts this server instance fired (the last 500 are kept, in memory), newest
   * first.
   */
  list: platformAdminProcedure.input(listAlertsInput).query(({ ctx, input }) => ({
    items: ctx.deps.alerts.list({
      ...(input.tenant ? { tenant: input.tenant } : {}),
      ...(input.since ? { since: new Date(input.since) } : {}),
      limit: input.limit,
    }),
  })),
});
