/**
 * Platform-level operations, run with the owner pool (they create rows no tenant context could):
 * creating a tenant together with its first key, and minting platform-admin keys.
 */
import { randomUUID } from 'node:crypto';
import { drizzleOver, type Sql } from '../../db/client.js';
import { apiKeys, platformAdminKeys, tenants } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { generatePlatformKey, generateTenantKey } from '../lib/api-key.js';

export interface ProvisionedTenant {
  id: string;
  slug: string;
  name: string;
  /** Shown once; only its hash is stored. */
  apiKey: string;
}

/** Creates the tenant and an owner key in one transaction (the key row is written under RLS). */
export async function provisionTenant(ownerPool: Sql, input: { slug: string; name: string }): Promise<ProvisionedTenant> {
  const id = randomUUID();
  const key = generateTenantKey(input.slug);
  await withTenant(ownerPool, id, async (tx) => {
    await tx.insert(tenants).values({ id, slug: input.slug, name: input.name });
    await tx.insert(apiKeys).values({ name: 'default', role: 'owner', keyHash: key.hash, keyStart: key.start });
  });
  return { id, slug: input.slug, name: input.name, apiKey: key.secret };
}

export async function createPlatformAdminKey(ownerPool: Sql, name: string): Promise<string> {
  const key = generatePlatformKey();
  await drizzleOver(ownerPool).insert(platformAdminKeys).values({ name, keyHash: key.hash, keyStart: key.start });
  return key.secret;
}
