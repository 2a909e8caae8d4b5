import * as users from '../../modules/users.service.js';
import { router, tenantAdminProcedure } from '../init.js';

/** A tenant's users: admins and owners manage them, within the limits of their own role. */
export const usersRouter = router({
  list: tenantAdminProcedure
    .input(users.listUsersInput)
    .query(({ ctx, input }) => ctx.withTenant((tx) => users.listUsers(tx, input))),
  create: tenantAdminProcedure
    .input(users.createUserInput)
    .mutation(({ ctx, input }) =>
      ctx.withTenant((tx) => users.createUser(tx, input, { callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.clock() })),
    ),
  update: tenantAdminProcedure
    .input(users.updateUserInput)
    .mutation(({ ctx, input }) =>
      ctx.withTenant((tx) => users.updateUser(tx, input, { callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.clock() })),
    ),
  delete: tenantAdminProcedure
    .input(users.userIdInput)
    .mutation(({ ctx, input }) =>
      ctx.withTenant((tx) => users.deleteUser(tx, input, { callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.clock() })),
    ),
});
