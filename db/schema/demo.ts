import { sql } from 'drizzle-orm';
import { check, date, foreignKey, index, numeric, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';
import { tenantTable } from './tenancy.js';

export const ORDER_STATUSES = ['pending', 'paid', 'shipped', 'cancelled'] as const;

export const customers = tenantTable(
  'customers',
  {
    name: text().notNull(),
    email: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  // Unique per tenant, never globally: a global key would let one tenant probe another's emails.
  (t) => [unique('customers_tenant_id_email_key').on(t.tenantId, t.email)],
);

export const orders = tenantTable(
  'orders',
  {
    customerId: uuid().notNull(),
    region: text().notNull(),
    amount: numeric({ precision: 12, scale: 2 }).notNull(),
    orderDate: date().notNull(),
    status: text().notNull().default('pending'),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // Composite: a single-column FK would let a tenant reference (and so probe) another's customer.
    foreignKey({
      name: 'orders_customer_fk',
      columns: [t.tenantId, t.customerId],
      foreignColumns: [customers.tenantId, customers.id],
    }),
    index('orders_tenant_id_order_date_idx').on(t.tenantId, t.orderDate),
    index('orders_tenant_id_customer_id_idx').on(t.tenantId, t.customerId),
    index('orders_tenant_id_region_idx').on(t.tenantId, t.region),
    check('orders_status_check', sql`${t.status} in ('pending', 'paid', 'shipped', 'cancelled')`),
    check('orders_amount_check', sql`${t.amount} >= 0`),
  ],
);
