import { sql } from 'drizzle-orm';
import { check, text, timestamp, unique } from 'drizzle-orm/pg-core';
import { tenantTable } from './tenancy.js';

/** `<n>/<second|minute|hour>`: a key's own budget and TENANT_RATE_LIMIT (src/access/rate-limit.ts). */
export const RATE_LIMIT_PATTERN = '^[1-9][0-9]{0,8}/(second|minute|hour)$';

/** A tenant's API keys. Only the SHA-256 of the secret is stored, plus a short display prefix. */
export const apiKeys = tenantTable(
  'api_keys',
  {
    name: text().notNull(),
    role: text().notNull().default('owner'),
    keyHash: text().notNull(),
    keyStart: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp({ withTimezone: true }),
    revokedAt: timestamp({ withTimezone: true }),
    lastUsedAt: timestamp({ withTimezone: true }),
    rateLimit: text(),
  },
  (t) => [
    unique('api_keys_tenant_id_key_hash_key').on(t.tenantId, t.keyHash),
    check('api_keys_role_check', sql`${t.role} in ('owner', 'admin', 'analyst', 'viewer')`),
    check('api_keys_rate_limit_check', sql`${t.rateLimit} ~ '^[1-9][0-9]{0,8}/(second|minute|hour)$'`),
  ],
);
