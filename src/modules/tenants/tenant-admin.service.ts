/**
 * Platform-admin work on tenants as a whole: create, list, inspect, suspend and resume. Every
 * function takes a pool, not a tenant transaction: the server passes the platform role's pool, the
 * CLI the owner's. A tenant's own rows are read only inside `withTenant(pool, tenantId, …)`, under
 * the same policy as the app; the `tenants` row and the platform log are the platform's own.
 */
import { and, desc, eq, ilike, or, type SQL } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import { drizzleOver, type Db, type Sql } from '../../../db/client.js';
import { TENANT_TABLES, tenants } from '../../../db/schema/index.js';
import { afterCommit, tenantOf, withTenant, type TenantDb } from '../../../db/tenant-tx.js';
import { notFound } from '../../lib/errors.js';
import { containsPattern, quoteIdent } from '../../lib/sql-text.js';
import { recordPlatformEvent, type Actor } from '../audit-log/audit.service.js';
import type { CredentialChange } from '../credentials/credential-cache.js';
import { page, pageInput } from '../../lib/paging.js';
import { provisionTenant, SLUG_PATTERN } from './tenants.service.js';

export const TENANT_STATUSES = ['active', 'suspended'] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];

const tenantId = z.uuid();
export const tenantSlug = z
  .string()
  .trim()
  .max(40, 'a slug has at most 40 characters')
  .regex(SLUG_PATTERN, 'expected lowercase letters and digits, single hyphens between them (e.g. acme-corp)');
export const tenantName = z.string().trim().min(1, 'a tenant needs a name').max(200);

export const tenantIdInput = z.object({ tenantId });
export const createTenantInput = z.object({
  name: tenantName,
  slug: tenantSlug.optional(),
  ownerEmail: z.email().max(320),
});
export const listTenantsInput = z
  .object({
    /** Case-insensitive substring of the name or the slug. */
    search: z.string().trim().min(1).max(200).optional(),
    status: z.enum(TENANT_STATUSES).optional(),
    ...pageInput,
  })
  .prefault({});
export const setTenantStatusInput = z.object({
  tenantId,
  status: z.enum(TENANT_STATUSES),
  reason: z.string().trim().min(1).max(500).optional(),
});
export const suspendTenantInput = z.object({ tenantId, reason: setTenantStatusInput.shape.reason });

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  status: TenantStatus;
  createdAt: string;
}

type TenantRow = typeof tenants.$inferSelect;

export function toTenant(row: TenantRow): Tenant {
  return { id: row.id, slug: row.slug, name: row.name, status: row.status as TenantStatus, createdAt: row.createdAt.toISOString() };
}

/** A malformed id names no tenant: the same 404 as an unknown one (and it never reaches SQL). */
export function assertTenantId(id: string): void {
  if (!tenantId.safeParse(id).success) throw notFound('tenant');
}

/**
 * The tenant's row, locked against concurrent lifecycle changes when `forUpdate`. Locking it also
 * holds off new rows in the tenant's tables: their foreign key to `tenants` needs a key-share lock.
 */
export async function readTenantRow(db: Db, id: string, options: { forUpdate?: boolean } = {}): Promise<TenantRow> {
  const query = db.select().from(tenants).where(eq(tenants.id, id));
  const [row] = options.forUpdate ? await query.for('update') : await query;
  if (!row) throw notFound('tenant');
  return row;
}

export interface CreatedTenant {
  tenantId: string;
  name: string;
  slug: string;
  owner: { userId: string; email: string; temporaryPassword: string };
  /** The owner API key; shown once. */
  apiKey: string;
}

/** provisionTenant with an owner user, in the API's shape. An explicit taken slug is 409 SLUG_TAKEN. */
export async function createTenant(pool: Sql, input: z.infer<typeof createTenantInput>, actor: Actor): Promise<CreatedTenant> {
  const created = await provisionTenant(pool, input, actor);
  if (!created.owner) throw new Error('provisionTenant did not create the owner user');
  return { tenantId: created.id, name: created.name, slug: created.slug, owner: created.owner, apiKey: created.apiKey };
}


/** Tenants, newest first. */
export async function listTenants(pool: Sql, input: z.input<typeof listTenantsInput>) {
  const { search, status, limit, offset } = listTenantsInput.parse(input);
  const where: SQL[] = [];
  if (search) where.push(or(ilike(tenants.name, containsPattern(search)), ilike(tenants.slug, containsPattern(search)))!);
  if (status) where.push(eq(tenants.status, status));
  const rows = await drizzleOver(pool)
    .select()
    .from(tenants)
    .where(and(...where))
    .orderBy(desc(tenants.createdAt), desc(tenants.id))
    .limit(limit + 1)
    .offset(offset);
  return page(rows.map(toTenant), limit, offset);
}

export async function getTenant(pool: Sql, id: string): Promise<Tenant> {
  assertTenantId(id);
  return toTenant(await readTenantRow(drizzleOver(pool), id));
}

export interface TenantStats extends Omit<Tenant, 'id'> {
  tenantId: string;
  /** Latest use of a key or session, or sign-in; null when nobody ever used the tenant. */
  lastActiveAt: string | null;
  users: { total: number; active: number; disabled: number };
  apiKeys: { active: number; revoked: number; expired: number };
  /** Every tenant table; `approxBytes` sums the tenant's row sizes (no indexes, no TOAST overhead). */
  tables: { table: string; rows: number; approxBytes: number }[];
}

const TABLE_NAMES = TENANT_TABLES.map((t) => getTableConfig(t).name);

/** Timestamps as text straight from Postgres (`to_json`), so no driver parser is involved. */
function isoOrNull(value: string | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}

/**
 * Counts and sizes of one tenant, read in one transaction scoped to that tenant, so they are the
 * tenant's rows only. `now` decides which keys count as expired (the server passes its clock).
 */
export async function tenantStats(pool: Sql, id: string, now: Date = new Date()): Promise<TenantStats> {
  assertTenantId(id);
  return withTenant(pool, id, async (tx) => {
    const tenant = toTenant(await readTenantRow(tx, id));
    const at = now.toISOString();
    const [summary] = await tx.$client.unsafe<
      {
        last_active_at: string | null;
        users_total: number;
        users_disabled: number;
        keys_revoked: number;
        keys_expired: number;
        keys_active: number;
      }[]
    >(
      `select
         to_json(greatest(
           (select max(last_used_at) from api_keys where tenant_id = $2::uuid),
           (select max(last_used_at) from sessions where tenant_id = $2::uuid),
           (select max(last_login_at) from users where tenant_id = $2::uuid)))#>>'{}' as last_active_at,
         (select count(*)::int from users where tenant_id = $2::uuid) as users_total,
         (select count(*)::int from users where tenant_id = $2::uuid and disabled_at is not null) as users_disabled,
         (select count(*)::int from api_keys where tenant_id = $2::uuid and revoked_at is not null) as keys_revoked,
         (select count(*)::int from api_keys where tenant_id = $2::uuid and revoked_at is null and expires_at <= $1::timestamptz) as keys_expired,
         (select count(*)::int from api_keys where tenant_id = $2::uuid and revoked_at is null and (expires_at is null or expires_at > $1::timestamptz)) as keys_active`,
      [at, id],
    );
    const tables = await tenantTableSizes(tx);
    const s = summary!;
    return {
      tenantId: tenant.id,
      slug: tenant.slug,
      name: tenant.name,
      status: tenant.status,
      createdAt: tenant.createdAt,
      lastActiveAt: isoOrNull(s.last_active_at),
      users: { total: s.users_total, active: s.users_total - s.users_disabled, disabled: s.users_disabled },
      apiKeys: { active: s.keys_active, revoked: s.keys_revoked, expired: s.keys_expired },
      tables,
    };
  });
}

/** Rows and approximate bytes of every tenant table, as the current tenant sees them. */
export async function tenantTableSizes(tx: TenantDb): Promise<TenantStats['tables']> {
  // One statement, so every table is counted in the same snapshot.
  const query = TABLE_NAMES.map(
    (name, ord) =>
      `select ${ord} as ord, '${name}' as name, count(*)::int as rows, ` +
      `coalesce(sum(pg_column_size(t.*)), 0)::float8 as approx_bytes from ${quoteIdent(name)} t where t.tenant_id = $1::uuid`,
  ).join(' union all ');
  const rows = await tx.$client.unsafe<{ ord: number; name: string; rows: number; approx_bytes: number }[]>(`${query} order by ord`, [tenantOf(tx)]);
  return rows.map((r) => ({ table: r.name, rows: r.rows, approxBytes: Number(r.approx_bytes) }));
}

/**
 * What a change to a whole tenant reports once committed: the caches it outdated. The server's
 * platform tier evicts its own; the CLI collects credential changes and publishes them at the end.
 */
export interface TenantChangeReports {
  credentialsChanged(change: CredentialChange): unknown;
  /** The tenant's cached dataset results (absent from the CLI, which holds no server's cache). */
  tenantDataChanged?(tenantId: string): unknown;
}

/** For seeders and the bench: no server caches anything about the tenants they replace. */
export const NO_CACHES_TO_REPORT: TenantChangeReports = { credentialsChanged: () => undefined };

/** Registers the reports of a change to `tenantId` to run after `tx` commits. */
export function reportTenantChange(tx: TenantDb, tenantId: string, reports: TenantChangeReports): void {
  afterCommit(tx, () => reports.credentialsChanged({ tenantId }));
  if (reports.tenantDataChanged) afterCommit(tx, () => reports.tenantDataChanged?.(tenantId));
}

/**
 * Suspends or resumes a tenant, with the platform event, in one transaction. The key and session
 * resolvers read `tenants.status` on every request, so the change applies to the next request;
 * the tenant's data is untouched. Setting the status a tenant already has changes nothing and
 * records nothing.
 */
export async function setTenantStatus(
  pool: Sql,
  input: { tenantId: string; status: TenantStatus; reason?: string },
  actor: Actor,
  reports: TenantChangeReports,
): Promise<Tenant> {
  assertTenantId(input.tenantId);
  return withTenant(pool, input.tenantId, async (tx) => {
    const current = await readTenantRow(tx, input.tenantId, { forUpdate: true });
    if (current.status === input.status) return toTenant(current);
    const [row] = await tx.update(tenants).set({ status: input.status }).where(eq(tenants.id, input.tenantId)).returning();
    // Suspension must hold from the next request; resuming needs nothing (a refusal is never cached).
    if (input.status === 'suspended') afterCommit(tx, () => reports.credentialsChanged({ tenantId: input.tenantId }));
    await recordPlatformEvent(tx, actor, {
      action: input.status === 'suspended' ? 'tenant.suspend' : 'tenant.resume',
      tenantId: input.tenantId,
      targetType: 'tenant',
      targetId: input.tenantId,
      details: { slug: current.slug, from: current.status, to: input.status, reason: input.reason ?? null },
    });
    return toTenant(row!);
  });
}
