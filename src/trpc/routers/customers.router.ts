import * as customers from '../../modules/customers.service.js';
import { router, tenantProcedure } from '../init.js';

export const customersRouter = router({
  list: tenantProcedure
    .input(customers.listCustomersInput)
    .query(({ ctx, input }) => ctx.withTenant((tx) => customers.listCustomers(tx, input))),
  get: tenantProcedure
    .input(customers.customerIdInput)
    .query(({ ctx, input }) => ctx.withTenant((tx) => customers.getCustomer(tx, input))),
  create: tenantProcedure
    .input(customers.createCustomerInput)
    .mutation(({ ctx, input }) => ctx.withTenant((tx) => customers.createCustomer(tx, input))),
  update: tenantProcedure
    .input(customers.updateCustomerInput)
    .mutation(({ ctx, input }) => ctx.withTenant((tx) => customers.updateCustomer(tx, input))),
  delete: tenantProcedure
    .input(customers.customerIdInput)
    .mutation(({ ctx, input }) => ctx.withTenant((tx) => customers.deleteCustomer(tx, input))),
});
