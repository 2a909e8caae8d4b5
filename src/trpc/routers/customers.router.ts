import * as customers from '../../modules/demo/customers.service.js';
import { router, tenantAnalystProcedure, tenantProcedure } from '../init.js';

export const customersRouter = router({
  list: tenantProcedure
    .input(customers.listCustomersInput)
    .query(({ ctx, input }) => ctx.readTenant((db) => customers.listCustomers(db, input))),
  get: tenantProcedure
    .input(customers.customerIdInput)
    .query(({ ctx, input }) => customers.getCustomer(ctx.readCompiled, input)),
  create: tenantAnalystProcedure
    .input(customers.createCustomerInput)
    .mutation(({ ctx, input }) => ctx.withTenant((tx) => customers.createCustomer(tx, input))),
  update: tenantAnalystProcedure
    .input(customers.updateCustomerInput)
    .mutation(({ ctx, input }) => ctx.withTenant((tx) => customers.updateCustomer(tx, input))),
  delete: tenantAnalystProcedure
    .input(customers.customerIdInput)
    .mutation(({ ctx, input }) => ctx.withTenant((tx) => customers.deleteCustomer(tx, input))),
});
