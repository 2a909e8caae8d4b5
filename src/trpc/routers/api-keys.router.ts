import * as keys from '../../modules/api-keys/api-keys.service.js';
import { router, tenantAdminProcedure } from '../init.js';

/**
 * Key management is for tenant admins; the service refuses to touch keys above the caller's role.
 * The service evicts a changed key from the credential cache once its transaction commits (not
 * before: a request in between could cache the old state again).
 */
export const apiKeysRouter = router({
  create: tenantAdminProcedure.meta({ secretResult: true }).input(keys.createApiKeyInput).mutation(({ ctx, input }) =>
    ctx.withTenant((tx) =>
      keys.createApiKey(tx, input, { slug: ctx.principal.tenantSlug, callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.deps.clock() }),
    ),
  ),
  list: tenantAdminProcedure
    .input(keys.listApiKeysInput)
    .query(({ ctx, input }) => ctx.withTenant((tx) => keys.listApiKeys(tx, input, ctx.deps.clock()))),
  revoke: tenantAdminProcedure.input(keys.keyIdInput).mutation(({ ctx, input }) =>
    ctx.withTenant((tx) =>
      keys.revokeApiKey(tx, input, { callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.deps.clock(), credentialsChanged: ctx.credentialsChanged }),
    ),
  ),
  rotate: tenantAdminProcedure.meta({ secretResult: true }).input(keys.rotateApiKeyInput).mutation(({ ctx, input }) =>
    ctx.withTenant((tx) =>
      keys.rotateApiKey(tx, input, {
        slug: ctx.principal.tenantSlug,
        callerRole: ctx.principal.role,
        actor: ctx.actor,
        now: ctx.deps.clock(),
        credentialsChanged: ctx.credentialsChanged,
      }),
    ),
  ),
});
