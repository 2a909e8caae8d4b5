import { and, asc, eq, ilike, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { compiledSelect, type CompiledRead } from '../../../db/compiled-select.js';
import { customers } from '../../../db/schema/index.js';
import { ownTenant, type TenantDb } from '../../../db/tenant-tx.js';
import { AppError, notFound } from '../../lib/errors.js';
import { SQLSTATE, sqlState } from '../../lib/pg-errors.js';
import { containsPattern } from '../../lib/sql-text.js';
import { page, pageInput } from '../../lib/paging.js';

const id = z.uuid();
const fields = {
  name: z.string().trim().min(1).max(200),
  email: z.email().max(320).transform((e) => e.toLowerCase()),
};

export const customerIdInput = z.object({ id });
export const listCustomersInput = z
  .object({ search: z.string().trim().min(1).max(200).optional(), ...pageInput })
  .prefault({});
export const createCustomerInput = z.object(fields);
export const updateCustomerInput = z
  .object({ id, name: fields.name.optional(), email: fields.email.optional() })
  .refine((v) => v.name !== undefined || v.email !== undefined, { message: 'nothing to update: give name or email' });

type CustomerRow = typeof customers.$inferSelect;
/** What the API returns: JSON-ready, timestamps as ISO strings (the tRPC endpoint has no transformer). */
export type Customer = Omit<CustomerRow, 'createdAt'> & { createdAt: string };

export function toCustomer(row: CustomerRow): Customer {
  return { ...row, createdAt: row.createdAt.toISOString() };
}

function emailTaken(error: unknown): never {
  if (sqlState(error) === SQLSTATE.uniqueViolation) {
    throw new AppError('EMAIL_TAKEN', 'A customer with this email already exists.', { cause: error });
  }
  throw error;
}

export async function listCustomers(tx: TenantDb, input: z.infer<typeof listCustomersInput>) {
  const where: SQL[] = [ownTenant(tx, customers)];
  if (input.search) {
    const pattern = containsPattern(input.search);
    where.push(or(ilike(customers.name, pattern), ilike(customers.email, pattern)) as SQL);
  }
  const rows = await tx
    .select()
    .from(customers)
    .where(and(...where))
    .orderBy(asc(customers.name), asc(customers.id))
    .limit(input.limit + 1)
    .offset(input.offset);
  return page(rows.map(toCustomer), input.limit, input.offset);
}

const customerById = compiledSelect(customers, eq(customers.id, sql.placeholder('id')));

export async function getCustomer(read: CompiledRead, input: z.infer<typeof customerIdInput>): Promise<Customer> {
  const [row] = await read(customerById, { id: input.id });
  if (!row) throw notFound('customer');
  return toCustomer(row);
}

export async function createCustomer(tx: TenantDb, input: z.infer<typeof createCustomerInput>): Promise<Customer> {
  const [row] = await tx.insert(customers).values(input).returning().catch(emailTaken);
  if (!row) throw new Error('insert returned no row');
  return toCustomer(row);
}

export async function updateCustomer(tx: TenantDb, input: z.infer<typeof updateCustomerInput>): Promise<Customer> {
  const { id: customerId, ...patch } = input;
  const [row] = await tx.update(customers).set(patch).where(and(ownTenant(tx, customers), eq(customers.id, customerId))).returning().catch(emailTaken);
  if (!row) throw notFound('customer');
  return toCustomer(row);
}

export async function deleteCustomer(tx: TenantDb, input: z.infer<typeof customerIdInput>): Promise<{ id: string }> {
  const [row] = await tx
    .delete(customers)
    .where(and(ownTenant(tx, customers), eq(customers.id, input.id)))
    .returning({ id: customers.id })
    .catch((error: unknown) => {
      if (sqlState(error) === SQLSTATE.foreignKeyViolation) {
        throw new AppError('CUSTOMER_HAS_ORDERS', 'This customer still has orders; delete them first.', {
          cause: error,
        });
      }
      throw error;
    });
  if (!row) throw notFound('customer');
  return row;
}
