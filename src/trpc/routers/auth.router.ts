import { authedProcedure, router } from '../init.js';

export const authRouter = router({
  /** Who the presented key is: handy for checking a key from curl. */
  whoami: authedProcedure.query(({ ctx }) => ctx.principal),
});
