import { sql } from 'drizzle-orm';
import { index, jsonb, pgPolicy, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { tenantTable } from './tenancy.js';
import { platformRole } from './tenants.js';

/** Columns both audit logs share: who did what to which object, from where, in which request. */
function eventColumns() {
  return {
    at: timestamp({ withTimezone: true }).notNull().defaultNow(),
    /** `resource.action`, e.g. `api_key.rotate`. */
    action: text().notNull(),
    /** `api_key` | `user` | `platform_admin` | `cli` | `system` */
    actorType: text().notNull(),
    actorId: text(),
    targetType: text(),
    targetId: text(),
    requestId: text(),
    sourceIp: text(),
    details: jsonb().notNull().default(sql`'{}'::jsonb`),
  };
}

/**
 * A tenant's own audit log, under the tenant policy like any tenant table. The app role may only
 * SELECT and INSERT (migration 0004): nothing can rewrite history through the server.
 */
export const auditEvents = tenantTable('audit_events', eventColumns(), (t) => [
  index('audit_events_tenant_id_at_idx').on(t.tenantId, t.at),
  index('audit_events_tenant_id_action_at_idx').on(t.tenantId, t.action, t.at),
]);

/**
 * Platform-level events (tenant lifecycle, admin reads). Not a tenant table: it outlives the
 * tenants it names (`target_tenant_id` has no foreign key), and only the platform role reads it.
 */
export const platformAuditEvents = pgTable(
  'platform_audit_events',
  { id: uuid().primaryKey().defaultRandom(), targetTenantId: uuid(), ...eventColumns() },
  (t) => [
    index('platform_audit_events_at_idx').on(t.at),
    index('platform_audit_events_target_tenant_id_at_idx').on(t.targetTenantId, t.at),
    pgPolicy('platform_read', { as: 'permissive', for: 'select', to: platformRole, using: sql`true` }),
    pgPolicy('platform_append', { as: 'permissive', for: 'insert', to: platformRole, withCheck: sql`true` }),
  ],
).enableRLS();
