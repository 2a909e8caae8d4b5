import * as users from '../../modules/users/users.service.js';
import { router, tenantAdminProcedure } from '../init.js';

/**
 * A tenant's users: admins and owners manage them, within the limits of their own role. A change
 * (role, disable, delete) evicts the user's sessions from the credential cache once it commits
 * (the service registers that with afterCommit).
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
  update: tenantAdminProcedure
    .input(users.updateUserInput)
    .mutation(({ ctx, input }) =>
      ctx.withTenant((tx) =>
        users.updateUser(tx, input, { callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.deps.clock(), credentialsChanged: ctx.credentialsChanged }),
      ),
    ),
  delete: tenantAdminProcedure
    .input(users.userIdInput)
    .mutation(({ ctx, input }) =>
      ctx.withTenant((tx) =>
        users.deleteUser(tx, input, { callerRole: ctx.principal.role, actor: ctx.actor, now: ctx.deps.clock(), credentialsChanged: ctx.credentialsChanged }),
      ),
    ),
});
