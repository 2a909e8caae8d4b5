import * as users from '../../modules/users.service.js';
import { router, tenantAdminProcedure } from '../init.js';

/**
 * A tenant's users: admins and owners manage them, within the limits of their own role. A change
 * (role, disable, delete) evicts the user's sessions from the credential cache once it commits.
 */
export const usersRouter = router({
  list: tenantAdminProcedure
    .input(users.listUsersInput)
    .query(({ ctx, input }) => ctx.withTenant((tx) => users.listUsers(tx, input))),
  create: tenantAdminProcedure
    .meta({ secretResult: true })
    .input(users.createUserInput)
    .mutation(({ ctx, input }) =>
      ctx.withTenant((tx) => users.createUser(tx, input, { callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.deps.clock() })),
    ),
  update: tenantAdminProcedure.input(users.updateUserInput).mutation(async ({ ctx, input }) => {
    const user = await ctx.withTenant((tx) => users.updateUser(tx, input, { callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.deps.clock() }));
    await ctx.deps.credentialCache.evict({ userId: user.id });
    return user;
  }),
  delete: tenantAdminProcedure.input(users.userIdInput).mutation(async ({ ctx, input }) => {
    const deleted = await ctx.withTenant((tx) => users.deleteUser(tx, input, { callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.deps.clock() }));
    await ctx.deps.credentialCache.evict({ userId: deleted.id });
    return deleted;
  }),
});
