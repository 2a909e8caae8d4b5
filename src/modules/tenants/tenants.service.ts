/**
 * Creating tenants and platform-admin keys. Runs on the platform role's pool (the server's admin
 * path) or the owner's (the CLI, the demo seed): both may write `tenants`, and the new tenant's
 * own rows are written inside its own transaction, under the tenant policy.
 */
import { randomUUID } from 'node:crypto';
import { drizzleOver, type Sql } from '../../../db/client.js';
import { platformAdminKeys, tenants } from '../../../db/schema/index.js';
import { withTenant } from '../../../db/tenant-tx.js';
import { generatePlatformKey } from '../../lib/api-key.js';
import { AppError } from '../../lib/errors.js';
import { violates } from '../../lib/pg-errors.js';
import { createApiKey } from '../api-keys/api-keys.service.js';
import { recordPlatformEvent, type Actor } from '../audit-log/audit.service.js';
import { createUser } from '../users/users.service.js';

export const SYSTEM_ACTOR: Actor = { type: 'system', id: null };

export interface ProvisionedTenant {
  id: string;
  slug: string;
  name: string;
  /** Shown once; only its hash is stored. */
  apiKey: string;
  /** The owner user, when an owner email was given. The password is temporary and shown once. */
  owner?: { userId: string; email: string; temporaryPassword: string };
}

export const SLUG_PATTERN = /^[a-z0-9](?:-?[a-z0-9])*$/;

/** "Acme Corp." → "acme-corp": what a slug defaults to. */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 34)
    .replace(/-+$/, '');
  return slug || 'tenant';
}

/**
 * Creates the tenant, an owner API key and (with `ownerEmail`) an owner user with a temporary
 * password, in one transaction, with the audit events. Without an explicit slug, one is derived
 * from the name and suffixed (-2, -3, …) until free; an explicit slug that is taken is a CONFLICT.
 */
export async function provisionTenant(
  pool: Sql,
  input: { name: string; slug?: string; ownerEmail?: string },
  actor: Actor = SYSTEM_ACTOR,
): Promise<ProvisionedTenant> {
  const base = input.slug ?? slugify(input.name);
  for (let attempt = 1; ; attempt++) {
    const slug = attempt === 1 ? base : `${base}-${attempt}`;
    try {
      return await createTenantRows(pool, { ...input, slug }, actor);
    } catch (error) {
      if (!violates(error, 'tenants_slug_key')) throw error;
      if (input.slug || attempt >= 50) {
        throw new AppError('SLUG_TAKEN', `The slug "${slug}" is already taken; choose another.`, { cause: error });
      }
    }
  }
}

/** The tenant row first (a taken slug fails fast), then its first key and user, as the API makes them. */
async function createTenantRows(pool: Sql, input: { name: string; slug: string; ownerEmail?: string }, actor: Actor): Promise<ProvisionedTenant> {
  const id = randomUUID();
  return withTenant(pool, id, async (tx) => {
    await tx.insert(tenants).values({ id, slug: input.slug, name: input.name });
    const asOwner = { callerRole: 'owner', actor, now: new Date() } as const;
    const { secret } = await createApiKey(tx, { name: 'default', role: 'owner' }, { ...asOwner, slug: input.slug });
    const owner = input.ownerEmail
      ? await createUser(tx, { email: input.ownerEmail.toLowerCase(), name: input.ownerEmail.split('@')[0] ?? input.ownerEmail, role: 'owner' }, asOwner)
      : undefined;
    await recordPlatformEvent(tx, actor, {
      action: 'tenant.create',
      tenantId: id,
      targetType: 'tenant',
      targetId: id,
      details: { slug: input.slug, name: input.name, ownerEmail: owner?.user.email ?? null },
    });
    return {
      id,
      slug: input.slug,
      name: input.name,
      apiKey: secret,
      ...(owner ? { owner: { userId: owner.user.id, email: owner.user.email, temporaryPassword: owner.temporaryPassword } } : {}),
    };
  });
}

/** Mints a platform-admin key (owner credentials: the CLI, the demo seed), with its platform event. */
export async function createPlatformAdminKey(ownerPool: Sql, name: string, actor: Actor = SYSTEM_ACTOR): Promise<string> {
  const key = generatePlatformKey();
  await drizzleOver(ownerPool).transaction(async (tx) => {
    const [row] = await tx.insert(platformAdminKeys).values({ name, keyHash: key.hash, keyStart: key.start }).returning({ id: platformAdminKeys.id });
    await recordPlatformEvent(tx, actor, { action: 'platform_admin_key.create', targetType: 'platform_admin_key', targetId: row!.id, details: { name } });
  });
  return key.secret;
}
