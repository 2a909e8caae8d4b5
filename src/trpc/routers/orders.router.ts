import * as orders from '../../modules/demo/orders.service.js';
import { router, tenantAnalystProcedure, tenantProcedure } from '../init.js';

export const ordersRouter = router({
  list: tenantProcedure
    .input(orders.listOrdersInput)
    .query(({ ctx, input }) => ctx.readTenant((db) => orders.listOrders(db, input))),
  get: tenantProcedure
    .input(orders.orderIdInput)
    .query(({ ctx, input }) => orders.getOrder(ctx.readCompiled, input)),
  create: tenantAnalystProcedure
    .input(orders.createOrderInput)
    .mutation(({ ctx, input }) => ctx.withTenant((tx) => orders.createOrder(tx, input))),
  update: tenantAnalystProcedure
    .input(orders.updateOrderInput)
    .mutation(({ ctx, input }) => ctx.withTenant((tx) => orders.updateOrder(tx, input))),
  delete: tenantAnalystProcedure
    .input(orders.orderIdInput)
    .mutation(({ ctx, input }) => ctx.withTenant((tx) => orders.deleteOrder(tx, input))),
});
