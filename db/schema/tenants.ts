import { sql } from 'drizzle-orm';
import { check, pgPolicy, pgRole, pgTable, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';

/** Tenant roles, lowest first: API keys and users carry one, procedures require a minimum. */
export const TENANT_ROLES = ['viewer', 'analyst', 'admin', 'owner'] as const;
export type TenantRole = (typeof TENANT_ROLES)[number];

export function roleAtLeast(role: TenantRole, minimum: TenantRole): boolean {
  return TENANT_ROLES.indexOf(role) >= TENANT_ROLES.indexOf(minimum);
}

/**
 * The platform-admin path's database role (created by migration 0002). The app role is not a
 * member, so tenant code can never reach what these policies allow.
 */
export const platformRole = pgRole('palisade_platform').existing();

/**
 * Platform table: one row per customer. RLS is enabled with no policy, so the app role (which has
 * no grant on it either) sees nothing; the owner reads it from narrow SECURITY DEFINER functions.
 */
export const tenants = pgTable(
  'tenants',
  {
    id: uuid().primaryKey().defaultRandom(),
    slug: text().notNull(),
    name: text().notNull(),
    status: text().notNull().default('active'),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    unique('tenants_slug_key').on(t.slug),
    check('tenants_status_check', sql`${t.status} in ('active', 'suspended')`),
    check('tenants_slug_check', sql`${t.slug} ~ '^[a-z0-9](-?[a-z0-9])*$' and length(${t.slug}) <= 40`),
    pgPolicy('platform_manage', { as: 'permissive', for: 'all', to: platformRole, using: sql`true`, withCheck: sql`true` }),
  ],
).enableRLS();

/** Platform-admin keys are bound to no tenant; only the key resolver function reads them. */
export const platformAdminKeys = pgTable(
  'platform_admin_keys',
  {
    id: uuid().primaryKey().defaultRandom(),
    name: text().notNull(),
    keyHash: text().notNull(),
    keyStart: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp({ withTimezone: true }),
    revokedAt: timestamp({ withTimezone: true }),
  },
  (t) => [unique('platform_admin_keys_key_hash_key').on(t.keyHash)],
).enableRLS();
