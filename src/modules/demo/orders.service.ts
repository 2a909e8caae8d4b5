import { and, desc, eq, gte, lte, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { ORDER_STATUSES, orders } from '../../../db/schema/index.js';
import { compiledSelect, type CompiledRead } from '../../../db/compiled-select.js';
import { ownTenant, type TenantDb } from '../../../db/tenant-tx.js';
import { notFound } from '../../lib/errors.js';
import { SQLSTATE, sqlState } from '../../lib/pg-errors.js';
import { page, pageInput } from '../../lib/paging.js';

const id = z.uuid();
const isoDate = z.iso.date();
/** numeric(12,2): accepted as a JSON number or a decimal string, always returned as a string. */
const amount = z
  .union([z.number(), z.string()])
  .transform((v) => (typeof v === 'number' ? String(v) : v.trim()))
  .pipe(z.string().regex(/^\d{1,10}(\.\d{1,2})?$/, 'expected an amount ≥ 0 with at most 10 digits and 2 decimals'));
const fields = {
  customerId: id,
  region: z.string().trim().min(1).max(100),
  amount,
  orderDate: isoDate,
  status: z.enum(ORDER_STATUSES),
};

export const orderIdInput = z.object({ id });
export const listOrdersInput = z
  .object({
    region: fields.region.optional(),
    status: fields.status.optional(),
    customerId: id.optional(),
    from: isoDate.optional(),
    to: isoDate.optional(),
    ...pageInput,
  })
  .refine((v) => !v.from || !v.to || v.from <= v.to, { message: '"from" must not be after "to"', path: ['from'] })
  .prefault({});
export const createOrderInput = z.object({ ...fields, status: fields.status.default('pending') });
export const updateOrderInput = z
  .object({
    id,
    customerId: id.optional(),
    region: fields.region.optional(),
    amount: amount.optional(),
    orderDate: isoDate.optional(),
    status: fields.status.optional(),
  })
  .refine((v) => Object.keys(v).length > 1, { message: 'nothing to update: give at least one field besides id' });

type OrderRow = typeof orders.$inferSelect;
/** What the API returns: JSON-ready, timestamps as ISO strings (the tRPC endpoint has no transformer). */
export type Order = Omit<OrderRow, 'createdAt'> & { createdAt: string };

export function toOrder(row: OrderRow): Order {
  return { ...row, createdAt: row.createdAt.toISOString() };
}

/** The customer is checked by the composite FK, which sees only this tenant's customers. */
function customerMissing(error: unknown): never {
  if (sqlState(error) === SQLSTATE.foreignKeyViolation) throw notFound('customer');
  throw error;
}

export async function listOrders(tx: TenantDb, input: z.infer<typeof listOrdersInput>) {
  const where: SQL[] = [ownTenant(tx, orders)];
  if (input.region) where.push(eq(orders.region, input.region));
  if (input.status) where.push(eq(orders.status, input.status));
  if (input.customerId) where.push(eq(orders.customerId, input.customerId));
  if (input.from) where.push(gte(orders.orderDate, input.from));
  if (input.to) where.push(lte(orders.orderDate, input.to));
  const rows = await tx
    .select()
    .from(orders)
    .where(and(...where))
    .orderBy(desc(orders.orderDate), desc(orders.id))
    .limit(input.limit + 1)
    .offset(input.offset);
  return page(rows.map(toOrder), input.limit, input.offset);
}

/** The hottest read there is: compiled once, not built per request (db/compiled-select.ts). */
const orderById = compiledSelect(orders, eq(orders.id, sql.placeholder('id')));

export async function getOrder(read: CompiledRead, input: z.infer<typeof orderIdInput>): Promise<Order> {
  const [row] = await read(orderById, { id: input.id });
  if (!row) throw notFound('order');
  return toOrder(row);
}

export async function createOrder(tx: TenantDb, input: z.infer<typeof createOrderInput>): Promise<Order> {
  const [row] = await tx.insert(orders).values(input).returning().catch(customerMissing);
  if (!row) throw new Error('insert returned no row');
  return toOrder(row);
}

export async function updateOrder(tx: TenantDb, input: z.infer<typeof updateOrderInput>): Promise<Order> {
  const { id: orderId, ...patch } = input;
  const [row] = await tx.update(orders).set(patch).where(and(ownTenant(tx, orders), eq(orders.id, orderId))).returning().catch(customerMissing);
  if (!row) throw notFound('order');
  return toOrder(row);
}

export async function deleteOrder(tx: TenantDb, input: z.infer<typeof orderIdInput>): Promise<{ id: string }> {
  const [row] = await tx.delete(orders).where(and(ownTenant(tx, orders), eq(orders.id, input.id))).returning({ id: orders.id });
  if (!row) throw notFound('order');
  return row;
}
