import { assertServedHere } from '../../access/authenticate.js';
import * as sessions from '../../modules/sessions/sessions.service.js';
import { authedProcedure, publicProcedure, router, sessionProcedure } from '../init.js';

export const authRouter = router({
  /** Who the presented key is: handy for checking a key from curl. */
  whoami: authedProcedure.query(({ ctx }) => ctx.principal),
  /**
   * Signs a user in: tenant slug, email and password in, a session token out. Like the auth step,
   * it resolves the tenant itself (from the slug), so it is handed the app-role pool.
   */
  login: publicProcedure.input(sessions.loginInput).mutation(({ ctx, input }) => {
    assertServedHere(ctx.deps.servedTenant, { signInTo: input.tenant });
    return sessions.signIn(ctx.deps.pool, input, {
      now: ctx.deps.clock(),
      sessionTtlMinutes: ctx.deps.sessionTtlMinutes,
      throttle: ctx.deps.loginThrottle,
      requestId: ctx.requestId,
      sourceIp: ctx.sourceIp,
    });
  }),
  /**
   * Replaces the signed-in user's password; the only call a temporary password allows. Once it
   * commits, all the user's cached sessions are evicted (the service registers that).
   */
  changePassword: sessionProcedure.input(sessions.changePasswordInput).mutation(({ ctx, input }) =>
    ctx.withTenant((tx) =>
      sessions.changePassword(tx, input, {
        userId: ctx.principal.userId,
        sessionId: ctx.principal.sessionId,
        actor: ctx.actor,
        now: ctx.deps.clock(),
        throttle: ctx.deps.loginThrottle,
        credentialsChanged: ctx.credentialsChanged,
      }),
    ),
  ),
  /** Ends the current session. */
  logout: sessionProcedure.mutation(({ ctx }) =>
    ctx.withTenant((tx) =>
      sessions.signOut(tx, {
        userId: ctx.principal.userId,
        sessionId: ctx.principal.sessionId,
        actor: ctx.actor,
        now: ctx.deps.clock(),
        credentialsChanged: ctx.credentialsChanged,
      }),
    ),
  ),
});
