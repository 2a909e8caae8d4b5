import * as keys from '../../modules/api-keys.service.js';
import { router, tenantAdminProcedure } from '../init.js';

/**
 * Key management is for tenant admins; the service refuses to touch keys above the caller's role.
 * Changes evict the key from the credential cache after they commit (not before: a request in
 * between could cache the old state again).
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
  revoke: tenantAdminProcedure.input(keys.keyIdInput).mutation(async ({ ctx, input }) => {
    const key = await ctx.withTenant((tx) => keys.revokeApiKey(tx, input, { callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.deps.clock() }));
    await ctx.deps.credentialCache.evict({ keyId: key.id });
    return key;
  }),
  /** The old key's cached resolution is dropped: it carries the expiry the grace period replaces. */
  rotate: tenantAdminProcedure.meta({ secretResult: true }).input(keys.rotateApiKeyInput).mutation(async ({ ctx, input }) => {
    const rotated = await ctx.withTenant((tx) =>
      keys.rotateApiKey(tx, input, { slug: ctx.principal.tenantSlug, callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.deps.clock() }),
    );
    await ctx.deps.credentialCache.evict({ keyId: rotated.previous.id });
    return rotated;
  }),
});
