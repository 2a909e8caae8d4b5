/**
 * The demo tenants `npm start` creates on first run: three companies of very different sizes, so
 * isolation and paging are visible with real numbers. Deterministic, so screenshots and docs agree.
 */
import type { Sql } from '../../../db/client.js';
import { customers, orders, ORDER_STATUSES } from '../../../db/schema/index.js';
import { withTenant } from '../../../db/tenant-tx.js';
import { createPlatformAdminKey, provisionTenant, type ProvisionedTenant } from '../tenants/tenants.service.js';

export const DEMO_TENANTS = [
  { slug: 'acme', name: 'Acme Corp', customers: 60, orders: 1200, regions: ['north', 'south', 'east', 'west'] },
  { slug: 'globex', name: 'Globex Inc', customers: 25, orders: 300, regions: ['emea', 'apac', 'americas'] },
  { slug: 'wayne', name: 'Wayne Enterprises', customers: 8, orders: 40, regions: ['gotham'] },
] as const;

export interface DemoCredentials {
  tenants: ProvisionedTenant[];
  adminKey: string;
}

/** mulberry32: a tiny seeded PRNG. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function seedDemo(ownerPool: Sql, today = new Date()): Promise<DemoCredentials> {
  const provisioned: ProvisionedTenant[] = [];
  for (const [index, spec] of DEMO_TENANTS.entries()) {
    // The owner can sign in (auth.login) with the temporary password, and must replace it first.
    const tenant = await provisionTenant(ownerPool, { slug: spec.slug, name: spec.name, ownerEmail: `owner@${spec.slug}.example` });
    const rand = random(index + 1);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
    await withTenant(ownerPool, tenant.id, async (tx) => {
      const people = await tx
        .insert(customers)
        .values(
          Array.from({ length: spec.customers }, (_, i) => ({
            name: `${spec.name.split(' ')[0]} customer ${i + 1}`,
            email: `customer${i + 1}@${spec.slug}.example`,
          })),
        )
        .returning({ id: customers.id });
      const rows = Array.from({ length: spec.orders }, () => {
        const day = new Date(today.getTime() - Math.floor(rand() * 365) * 86_400_000);
        return {
          customerId: pick(people).id,
          region: pick(spec.regions),
          amount: (10 + rand() * 990).toFixed(2),
          orderDate: day.toISOString().slice(0, 10),
          status: pick(ORDER_STATUSES),
        };
      });
      for (let i = 0; i < rows.length; i += 500) await tx.insert(orders).values(rows.slice(i, i + 500));
    });
    provisioned.push(tenant);
  }
  return { tenants: provisioned, adminKey: await createPlatformAdminKey(ownerPool, 'demo platform admin') };
}
