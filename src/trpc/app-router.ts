import { router } from './init.js';
import { apiKeysRouter } from './routers/api-keys.router.js';
import { auditRouter } from './routers/audit.router.js';
import { authRouter } from './routers/auth.router.js';
import { customersRouter } from './routers/customers.router.js';
import { datasetsRouter, queryProcedure } from './routers/datasets.router.js';
import { alertsRouter } from './routers/alerts.router.js';
import { usageRouter } from './routers/usage.router.js';
import { ordersRouter } from './routers/orders.router.js';
import { tenantsRouter } from './routers/tenants.router.js';
import { usersRouter } from './routers/users.router.js';

export const appRouter = router({
  alerts: alertsRouter,
  auth: authRouter,
  apiKeys: apiKeysRouter,
  audit: auditRouter,
  customers: customersRouter,
  datasets: datasetsRouter,
  orders: ordersRouter,
  query: queryProcedure,
  tenants: tenantsRouter,
  usage: usageRouter,
  users: usersRouter,
});

/** Import this type (type-only) to build a typed client: `createTRPCClient<AppRouter>(…)`. */
export type AppRouter = typeof appRouter;
