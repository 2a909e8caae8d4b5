import { sql } from 'drizzle-orm';
import { boolean, check, foreignKey, index, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';
import { tenantTable } from './tenancy.js';

/** People who sign in to a tenant. Email is unique within the tenant only, and stored lowercased. */
export const users = tenantTable(
  'users',
  {
    email: text().notNull(),
    name: text().notNull(),
    role: text().notNull(),
    /** scrypt, in the self-describing form of src/lib/password.ts. */
    passwordHash: text().notNull(),
    mustChangePassword: boolean().notNull().default(true),
    disabledAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    lastLoginAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    unique('users_tenant_id_email_key').on(t.tenantId, t.email),
    check('users_role_check', sql`${t.role} in ('owner', 'admin', 'analyst', 'viewer')`),
    check('users_email_check', sql`${t.email} = lower(${t.email}) and position('@' in ${t.email}) > 1`),
  ],
);

/** Sign-in sessions: like API keys, only the token's SHA-256 is stored. */
export const sessions = tenantTable(
  'sessions',
  {
    userId: uuid().notNull(),
    tokenHash: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
    revokedAt: timestamp({ withTimezone: true }),
    lastUsedAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    foreignKey({
      name: 'sessions_user_fk',
      columns: [t.tenantId, t.userId],
      foreignColumns: [users.tenantId, users.id],
    }).onDelete('cascade'),
    unique('sessions_tenant_id_token_hash_key').on(t.tenantId, t.tokenHash),
    index('sessions_tenant_id_user_id_idx').on(t.tenantId, t.userId),
  ],
);
