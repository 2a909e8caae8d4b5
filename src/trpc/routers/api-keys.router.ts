import * as keys from '../../modules/api-keys.service.js';
import { router, tenantAdminProcedure } from '../init.js';

/** Key management is for tenant admins; the service refuses to touch keys above the caller's role. */
export const apiKeysRouter = router({
  create: tenantAdminProcedure.input(keys.createApiKeyInput).mutation(({ ctx, input }) =>
    ctx.withTenant((tx) =>
      keys.createApiKey(tx, input, { slug: ctx.principal.tenantSlug, callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.clock() }),
    ),
  ),
  list: tenantAdminProcedure
    .input(keys.listApiKeysInput)
    .query(({ ctx, input }) => ctx.withTenant((tx) => keys.listApiKeys(tx, input, ctx.clock()))),
  revoke: tenantAdminProcedure
    .input(keys.keyIdInput)
    .mutation(({ ctx, input }) =>
      ctx.withTenant((tx) => keys.revokeApiKey(tx, input, { callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.clock() })),
    ),
  rotate: tenantAdminProcedure.input(keys.rotateApiKeyInput).mutation(({ ctx, input }) =>
    ctx.withTenant((tx) =>
      keys.rotateApiKey(tx, input, { slug: ctx.principal.tenantSlug, callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.clock() }),
    ),
  ),
});
