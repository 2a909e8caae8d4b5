/**
 * The audit logs. Every change is recorded in the same transaction as the change itself, so an
 * event exists exactly when the change committed. Tenant events go to `audit_events` (tenant
 * table, append-only for the app role); platform events to `platform_audit_events`.
 */
import { and, desc, eq, gte, like, lt, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../../db/client.js';
import { auditEvents, platformAuditEvents } from '../../../db/schema/index.js';
import { ownTenant, type TenantDb } from '../../../db/tenant-tx.js';
import { page, pageInput } from '../../lib/paging.js';

/** Who made a change, and from where. Built from the verified principal, or by the CLI. */
export interface Actor {
  type: 'api_key' | 'user' | 'platform_admin' | 'cli' | 'system';
  id: string | null;
  requestId?: string | null;
  sourceIp?: string | null;
}

export interface AuditEventInput {
  /** `resource.action`, e.g. `api_key.rotate`. */
  action: string;
  targetType?: string;
  targetId?: string;
  details?: Record<string, unknown>;
}

export function eventValues(actor: Actor, event: AuditEventInput) {
  return {
    action: event.action,
    actorType: actor.type,
    actorId: actor.id,
    targetType: event.targetType ?? null,
    targetId: event.targetId ?? null,
    requestId: actor.requestId ?? null,
    sourceIp: actor.sourceIp ?? null,
    details: event.details ?? {},
  };
}

/** Records a tenant event inside the caller's tenant transaction (tenant_id comes from the setting). */
export async function recordAuditEvent(tx: TenantDb, actor: Actor, event: AuditEventInput): Promise<void> {
  await tx.insert(auditEvents).values(eventValues(actor, event));
}

/** Records a platform event with the platform role (or the owner, from the CLI). */
export async function recordPlatformEvent(db: Pick<Db, 'insert'>, actor: Actor, event: AuditEventInput & { tenantId?: string }): Promise<void> {
  await db.insert(platformAuditEvents).values({ ...eventValues(actor, event), targetTenantId: event.tenantId ?? null });
}

export const listAuditEventsInput = z
  .object({
    /** Exact action (`api_key.rotate`) or a resource prefix ending in a dot (`api_key.`). */
    action: z.string().trim().regex(/^[a-z_]+(\.[a-z_]*)?$/, 'expected an action like api_key.rotate or a prefix like api_key.').optional(),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    ...pageInput,
  })
  .refine((v) => !v.from || !v.to || Date.parse(v.from) <= Date.parse(v.to), { message: '"from" must not be after "to"', path: ['from'] })
  .prefault({});
export type ListAuditEventsInput = z.infer<typeof listAuditEventsInput>;

type Columns = typeof auditEvents | typeof platformAuditEvents;

function filters(table: Columns, input: ListAuditEventsInput): SQL[] {
  const where: SQL[] = [];
  if (input.action) where.push(input.action.endsWith('.') ? like(table.action, `${input.action}%`) : eq(table.action, input.action));
  if (input.from) where.push(gte(table.at, new Date(input.from)));
  // Events carry microseconds but the API shows milliseconds: `to` covers its whole millisecond,
  // so an event's own `at` as `to` includes it.
  if (input.to) where.push(lt(table.at, new Date(Date.parse(input.to) + 1)));
  return where;
}

function toEvent(row: typeof auditEvents.$inferSelect | typeof platformAuditEvents.$inferSelect) {
  const tenantId = 'tenantId' in row ? row.tenantId : row.targetTenantId;
  return {
    id: row.id,
    at: row.at.toISOString(),
    action: row.action,
    tenantId,
    actor: { type: row.actorType, id: row.actorId },
    target: row.targetType ? { type: row.targetType, id: row.targetId } : null,
    requestId: row.requestId,
    sourceIp: row.sourceIp,
    details: row.details as Record<string, unknown>,
  };
}

/** The current tenant's events, newest first. */
export async function listAuditEvents(tx: TenantDb, input: ListAuditEventsInput) {
  const rows = await tx
    .select()
    .from(auditEvents)
    .where(and(ownTenant(tx, auditEvents), ...filters(auditEvents, input)))
    .orderBy(desc(auditEvents.at), desc(auditEvents.id))
    .limit(input.limit + 1)
    .offset(input.offset);
  return page(rows.map(toEvent), input.limit, input.offset);
}

/** Platform events, newest first; `tenantId` narrows to the events about one tenant. */
export async function listPlatformEvents(db: Db, input: ListAuditEventsInput & { tenantId?: string }) {
  const where = filters(platformAuditEvents, input);
  if (input.tenantId) where.push(eq(platformAuditEvents.targetTenantId, input.tenantId));
  const rows = await db
    .select()
    .from(platformAuditEvents)
    .where(and(...where))
    .orderBy(desc(platformAuditEvents.at), desc(platformAuditEvents.id))
    .limit(input.limit + 1)
    .offset(input.offset);
  return page(rows.map(toEvent), input.limit, input.offset);
}
