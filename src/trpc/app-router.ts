import { router } from './init.js';
import { authRouter } from './routers/auth.router.js';
import { customersRouter } from './routers/customers.router.js';
import { ordersRouter } from './routers/orders.router.js';

export const appRouter = router({
  auth: authRouter,
  customers: customersRouter,
  orders: ordersRouter,
});

/** Import this type (type-only) to build a typed client: `createTRPCClient<AppRouter>(…)`. */
export type AppRouter = typeof appRouter;
