/**
 * Creating tenants and platform-admin keys. Runs on the platform role's pool (the server's admin
 * path) or the owner's (the CLI, the demo seed): both may write `tenants`, and the new tenant's
 * own rows are written inside its own transaction, under the tenant policy.
 */
import { randomUUID } from 'node:crypto';
import { drizzleOver, type Sql } from '../../db/client.js';
import { apiKeys, platformAdminKeys, tenants, users } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { generatePlatformKey, generateTenantKey } from '../lib/api-key.js';
import { AppError } from '../lib/errors.js';
import { generateTemporaryPassword, hashPassword } from '../lib/password.js';
import { pgError } from '../lib/pg-errors.js';
import { recordAuditEvent, recordPlatformEvent, type Actor } from './audit.service.js';

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
  const password = input.ownerEmail ? generateTemporaryPassword() : undefined;
  const passwordHash = password ? await hashPassword(password) : undefined;
  for (let attempt = 1; ; attempt++) {
    const slug = attempt === 1 ? base : `${base}-${attempt}`;
    try {
      return await createTenantRows(pool, { ...input, slug }, password && passwordHash ? { password, passwordHash } : undefined, actor);
    } catch (error) {
      if (pgError(error)?.constraint_name !== 'tenants_slug_key') throw error;
      if (input.slug || attempt >= 50) {
        throw new AppError('CONFLICT', 'SLUG_TAKEN', `The slug "${slug}" is already taken; choose another.`, { cause: error });
      }
    }
  }
}

async function createTenantRows(
  pool: Sql,
  input: { name: string; slug: string; ownerEmail?: string },
  owner: { password: string; passwordHash: string } | undefined,
  actor: Actor,
): Promise<ProvisionedTenant> {
  const id = randomUUID();
  const key = generateTenantKey(input.slug);
  return withTenant(pool, id, async (tx) => {
    await tx.insert(tenants).values({ id, slug: input.slug, name: input.name });
    const [keyRow] = await tx
      .insert(apiKeys)
      .values({ name: 'default', role: 'owner', keyHash: key.hash, keyStart: key.start })
      .returning({ id: apiKeys.id });
    let ownerInfo: ProvisionedTenant['owner'];
    if (input.ownerEmail && owner) {
      const email = input.ownerEmail.toLowerCase();
      const [user] = await tx
        .insert(users)
        .values({ email, name: email.split('@')[0] ?? email, role: 'owner', passwordHash: owner.passwordHash, mustChangePassword: true })
        .returning({ id: users.id });
      ownerInfo = { userId: user!.id, email, temporaryPassword: owner.password };
      await recordAuditEvent(tx, actor, { action: 'user.create', targetType: 'user', targetId: user!.id, details: { email, role: 'owner' } });
    }
    await recordAuditEvent(tx, actor, { action: 'api_key.create', targetType: 'api_key', targetId: keyRow!.id, details: { name: 'default', role: 'owner' } });
    await recordPlatformEvent(tx, actor, {
      action: 'tenant.create',
      tenantId: id,
      targetType: 'tenant',
      targetId: id,
      details: { slug: input.slug, name: input.name, ownerEmail: ownerInfo?.email ?? null },
    });
    return { id, slug: input.slug, name: input.name, apiKey: key.secret, ...(ownerInfo ? { owner: ownerInfo } : {}) };
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
