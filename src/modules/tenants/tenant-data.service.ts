/**
 * A tenant's data as a whole: purge (delete everything it owns), export to a bundle, import a
 * bundle. Each runs in ONE transaction scoped to that tenant (`withTenant`), so it sees and
 * touches only that tenant's rows, and a failure anywhere leaves nothing half done. Table and
 * column names come only from the schema (TENANT_TABLES), never from a bundle or other input.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { toSnakeCase } from 'drizzle-orm/casing';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import type { Sql } from '../../../db/client.js';
import { TENANT_TABLES, tenants } from '../../../db/schema/index.js';
import { tenantOf, withTenant, type TenantDb } from '../../../db/tenant-tx.js';
import { AppError } from '../../lib/errors.js';
import { pgError, SQLSTATE, sqlState, violates } from '../../lib/pg-errors.js';
import { quoteIdent } from '../../lib/sql-text.js';
import { recordPlatformEvent, type Actor } from '../audit-log/audit.service.js';
import { assertTenantId, readTenantRow, reportTenantChange, type TenantChangeReports, tenantTableSizes, tenantName, tenantSlug, toTenant, type Tenant } from './tenant-admin.service.js';

/** Each tenant table with its column names as Postgres knows them, parents first. */
const LAYOUT: { name: string; columns: string[] }[] = TENANT_TABLES.map((table) => {
  const config = getTableConfig(table);
  // With `casing: 'snake_case'` a column declared without a name keeps its TypeScript key here.
  return { name: config.name, columns: config.columns.map((c) => (c.keyAsName ? toSnakeCase(c.name) : c.name)) };
});
const TABLE_NAMES = LAYOUT.map((t) => t.name);

export const BUNDLE_FORMAT = 'palisade-tenant-export';
export const BUNDLE_VERSION = 1;

const lines = (jsonl: string) => jsonl.split('\n').filter((line) => line.trim() !== '');

const bundleTable = z
  .object({
    name: z.string(),
    columns: z.array(z.string()).min(1),
    rowCount: z.number().int().min(0),
    /** One JSON object per line, as `to_json(row)` wrote it. */
    jsonl: z.string(),
  })
  .superRefine((table, ctx) => {
    const known = LAYOUT.find((t) => t.name === table.name);
    if (!known) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: `unknown table "${table.name}"; known tables: ${TABLE_NAMES.join(', ')}` });
      return;
    }
    table.columns.forEach((column, i) => {
      if (!known.columns.includes(column)) {
        ctx.addIssue({ code: 'custom', path: ['columns', i], message: `unknown column "${column}" in table "${table.name}"` });
      } else if (table.columns.indexOf(column) !== i) {
        ctx.addIssue({ code: 'custom', path: ['columns', i], message: `column "${column}" appears twice in table "${table.name}"` });
      }
    });
    if (!table.columns.includes('id')) ctx.addIssue({ code: 'custom', path: ['columns'], message: `table "${table.name}" needs its "id" column` });
    const count = lines(table.jsonl).length;
    if (count !== table.rowCount) {
      ctx.addIssue({ code: 'custom', path: ['rowCount'], message: `table "${table.name}" says ${table.rowCount} rows but its jsonl has ${count}` });
    }
  });

/** What exportTenant produces and importTenant accepts. */
export const tenantBundleSchema = z
  .object({
    format: z.literal(BUNDLE_FORMAT, { error: `expected format "${BUNDLE_FORMAT}"` }),
    version: z.literal(BUNDLE_VERSION, { error: `expected version ${BUNDLE_VERSION}; this server reads only that` }),
    exportedAt: z.string(),
    tenant: z.object({ id: z.uuid(), slug: tenantSlug, name: tenantName, status: z.string(), createdAt: z.string() }),
    tables: z.array(bundleTable),
  })
  .superRefine((bundle, ctx) => {
    bundle.tables.forEach((table, i) => {
      if (bundle.tables.findIndex((t) => t.name === table.name) !== i) {
        ctx.addIssue({ code: 'custom', path: ['tables', i, 'name'], message: `table "${table.name}" appears twice` });
      }
    });
  });
export type TenantBundle = z.infer<typeof tenantBundleSchema>;

export const purgeTenantInput = z.object({
  tenantId: z.uuid(),
  /** The tenant's slug, typed again: a guard against deleting the wrong tenant. */
  confirm: z.string().trim().min(1, "type the tenant's slug to confirm"),
});
export const exportTenantInput = z.object({ tenantId: z.uuid() });
export const importTenantInput = z.object({
  bundle: tenantBundleSchema,
  /** An existing, empty tenant to fill; without it a new tenant is created for the bundle. */
  tenantId: z.uuid().optional(),
  /** The new tenant's name and slug; default to the bundle's. Ignored with `tenantId`. */
  name: tenantName.optional(),
  slug: tenantSlug.optional(),
});

export interface PurgeResult {
  tenantId: string;
  slug: string;
  deleted: Record<string, number>;
  verified: true;
}

/**
 * Deletes every row the tenant owns, children first, checks that nothing is left, then deletes
 * the tenant itself and records `tenant.delete`, all in one transaction. `confirm` must be the
 * tenant's slug (400 CONFIRMATION_MISMATCH otherwise, nothing deleted).
 */
export async function purgeTenant(pool: Sql, input: { tenantId: string; confirm: string }, actor: Actor, reports: TenantChangeReports): Promise<PurgeResult> {
  assertTenantId(input.tenantId);
  return withTenant(pool, input.tenantId, async (tx) => {
    // The lock also blocks new rows for this tenant until we commit (their FK needs a key-share lock).
    const tenant = await readTenantRow(tx, input.tenantId, { forUpdate: true });
    if (input.confirm.trim() !== tenant.slug) {
      throw new AppError('CONFIRMATION_MISMATCH', `confirm must be the tenant's slug ("${tenant.slug}"); nothing was deleted.`);
    }
    const deleted: Record<string, number> = {};
    for (const name of [...TABLE_NAMES].reverse()) {
      // The policy already scopes this to the tenant; the explicit WHERE is belt and braces.
      deleted[name] = (await tx.$client.unsafe(`delete from ${quoteIdent(name)} where tenant_id = $1::uuid`, [input.tenantId])).count;
    }
    const left = (await tenantTableSizes(tx)).filter((t) => t.rows > 0);
    if (left.length) throw new Error(`purge left rows behind: ${left.map((t) => `${t.table}=${t.rows}`).join(', ')}`);
    await tx.delete(tenants).where(eq(tenants.id, input.tenantId));
    reportTenantChange(tx, input.tenantId, reports);
    await recordPlatformEvent(tx, actor, {
      action: 'tenant.delete',
      tenantId: input.tenantId,
      targetType: 'tenant',
      targetId: input.tenantId,
      details: { slug: tenant.slug, name: tenant.name, deleted },
    });
    return { tenantId: input.tenantId, slug: tenant.slug, deleted, verified: true };
  });
}

/**
 * Every row of the tenant, table by table (parents first), each row as Postgres's own
 * `to_json(row)` text: never parsed and re-serialized in JS, so numeric scale ("12.50") and
 * microsecond timestamps survive exactly. Records `tenant.export`.
 */
export async function exportTenant(pool: Sql, tenantId: string, actor: Actor): Promise<TenantBundle> {
  assertTenantId(tenantId);
  return withTenant(pool, tenantId, async (tx) => {
    const tenant = toTenant(await readTenantRow(tx, tenantId));
    // One statement, so all tables come from one snapshot (a bundle never has an order without
    // its customer). JSON text has no raw newlines, so newline-joining is exact.
    const query = LAYOUT.map(
      (t, ord) =>
        `select ${ord} as ord, count(*)::int as row_count, ` +
        `coalesce(string_agg(to_json(t)::text, E'\\n' order by t.id), '') as jsonl from ${quoteIdent(t.name)} t where t.tenant_id = $1::uuid`,
    ).join(' union all ');
    const rows = await tx.$client.unsafe<{ ord: number; row_count: number; jsonl: string }[]>(`${query} order by ord`, [tenantId]);
    const tables = rows.map((r) => ({ name: LAYOUT[r.ord]!.name, columns: [...LAYOUT[r.ord]!.columns], rowCount: r.row_count, jsonl: r.jsonl }));
    await recordPlatformEvent(tx, actor, {
      action: 'tenant.export',
      tenantId,
      targetType: 'tenant',
      targetId: tenantId,
      details: { slug: tenant.slug, rows: Object.fromEntries(tables.map((t) => [t.name, t.rowCount])) },
    });
    return { format: BUNDLE_FORMAT, version: BUNDLE_VERSION, exportedAt: new Date().toISOString(), tenant, tables };
  });
}

export interface ImportResult {
  tenantId: string;
  slug: string;
  imported: Record<string, number>;
}

/**
 * Loads a bundle into an existing tenant that has no rows in any tenant table (409
 * TENANT_NOT_EMPTY otherwise), or, without `tenantId`, into a new bare tenant (no key, no user: the
 * bundle brings its own; a taken slug is 409 SLUG_TAKEN). Parents first, in one transaction with
 * the `tenant.import` event: any failure imports nothing (and creates no tenant).
 */
export async function importTenant(
  pool: Sql,
  input: { bundle: unknown; tenantId?: string; name?: string; slug?: string },
  actor: Actor,
  reports: TenantChangeReports,
): Promise<ImportResult> {
  const parsed = tenantBundleSchema.safeParse(input.bundle);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new AppError('INVALID_BUNDLE', `bundle.${first.path.join('.')}: ${first.message}`, { cause: parsed.error });
  }
  const bundle = parsed.data;
  const created = !input.tenantId;
  const tenantId = input.tenantId ?? randomUUID();
  assertTenantId(tenantId);
  return withTenant(pool, tenantId, async (tx) => {
    const tenant = created ? await createBareTenant(tx, tenantId, input.name ?? bundle.tenant.name, input.slug ?? bundle.tenant.slug) : await emptyTenant(tx, tenantId);
    const imported: Record<string, number> = {};
    for (const layout of LAYOUT) {
      const table = bundle.tables.find((t) => t.name === layout.name);
      imported[layout.name] = table ? await insertRows(tx, table) : 0;
    }
    await recordPlatformEvent(tx, actor, {
      action: 'tenant.import',
      tenantId,
      targetType: 'tenant',
      targetId: tenantId,
      details: { slug: tenant.slug, created, source: { tenantId: bundle.tenant.id, slug: bundle.tenant.slug, exportedAt: bundle.exportedAt }, imported },
    });
    // Into an existing tenant, the import brings its own keys, users and rows: drop what was cached.
    reportTenantChange(tx, tenantId, reports);
    return { tenantId, slug: tenant.slug, imported };
  });
}

async function createBareTenant(tx: TenantDb, id: string, name: string, slug: string): Promise<Tenant> {
  try {
    const [row] = await tx.insert(tenants).values({ id, name, slug }).returning();
    return toTenant(row!);
  } catch (error) {
    if (violates(error, 'tenants_slug_key')) {
      throw new AppError('SLUG_TAKEN', `The slug "${slug}" is already taken; pass another slug for the imported tenant.`, { cause: error });
    }
    throw error;
  }
}

async function emptyTenant(tx: TenantDb, id: string): Promise<Tenant> {
  // Locked: nothing can add rows between this check and the import (see readTenantRow).
  const tenant = toTenant(await readTenantRow(tx, id, { forUpdate: true }));
  const used = (await tenantTableSizes(tx)).filter((t) => t.rows > 0).map((t) => t.table);
  if (used.length) {
    throw new AppError('TENANT_NOT_EMPTY', `Tenant "${tenant.slug}" already has rows in ${used.join(', ')}; import only into an empty tenant, or omit tenantId to create one.`);
  }
  return tenant;
}

/**
 * `insert … select … from json_populate_recordset(null::public.<t>, $1)`: Postgres parses every
 * value with the column's own type, and `tenant_id` is always the transaction's tenant (bound;
 * the policy's WITH CHECK holds it to the setting), whatever the bundle says. Only the bundle's columns are written; the others take their defaults.
 */
async function insertRows(tx: TenantDb, table: TenantBundle['tables'][number]): Promise<number> {
  const rows = lines(table.jsonl);
  if (!rows.length) return 0;
  const columns = ['tenant_id', ...table.columns.filter((c) => c !== 'tenant_id')];
  const values = columns.map((c) => (c === 'tenant_id' ? '$2::uuid' : `r.${quoteIdent(c)}`));
  const text =
    `insert into ${quoteIdent(table.name)} (${columns.map(quoteIdent).join(', ')}) ` +
    `select ${values.join(', ')} from json_populate_recordset(null::public.${quoteIdent(table.name)}, $1::json) r ` +
    // Keeps Citus off its COPY path (refused under RLS); a skipped duplicate is counted below instead.
    `on conflict (tenant_id, id) do nothing`;
  let inserted: number;
  try {
    inserted = (await tx.$client.unsafe(text, [`[${rows.join(',')}]`, tenantOf(tx)])).count;
  } catch (error) {
    throw rowsRejected(table.name, error);
  }
  if (inserted !== rows.length) throw new AppError('INVALID_BUNDLE', `table "${table.name}": two rows share a unique value (constraint ${table.name}_pkey).`);
  return inserted;
}

/** A bundle row Postgres refuses is the bundle's fault: 400 naming the table (and constraint). */
function rowsRejected(table: string, error: unknown): unknown {
  const state = sqlState(error);
  const pg = pgError(error);
  const detail = pg?.constraint_name ? ` (constraint ${pg.constraint_name})` : pg?.column_name ? ` (column ${pg.column_name})` : '';
  if (state === SQLSTATE.uniqueViolation) {
    return new AppError('INVALID_BUNDLE', `table "${table}": two rows share a unique value${detail}.`, { cause: error });
  }
  if (state?.startsWith('22') || state?.startsWith('23')) {
    return new AppError('INVALID_BUNDLE', `table "${table}": a row is not valid here${detail}.`, { cause: error });
  }
  return error;
}
