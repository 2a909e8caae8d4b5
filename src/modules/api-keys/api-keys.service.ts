/**
 * A tenant's API keys: create, list, revoke, rotate. The secret is returned once and only its
 * SHA-256 is stored (plus a display prefix). Every change writes its audit event in the same
 * transaction. Time ("now") is passed in, so status and expiry follow the server's injectable clock.
 */
import { and, desc, eq, isNull } from 'drizzle-orm';
import { z } from 'zod';
import { apiKeys, RATE_LIMIT_PATTERN, roleAtLeast, TENANT_ROLES, type TenantRole } from '../../../db/schema/index.js';
import { afterCommit, ownTenant, type TenantDb } from '../../../db/tenant-tx.js';
import { generateTenantKey } from '../../lib/api-key.js';
import { DAY_MS } from '../../lib/clock.js';
import { AppError, notFound } from '../../lib/errors.js';
import { recordAuditEvent, type Actor } from '../audit-log/audit.service.js';
import type { CredentialChange } from '../credentials/credential-cache.js';
import { page, pageInput } from '../../lib/paging.js';

const keyId = z.uuid();

export const createApiKeyInput = z.object({
  name: z.string().trim().min(1).max(100),
  role: z.enum(TENANT_ROLES),
  /** Must be in the future; checked against the server's clock in `createApiKey`. */
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  /** This key's own budget; the tenant's (TENANT_RATE_LIMIT) applies too, and the tighter wins. */
  rateLimit: z
    .string()
    .trim()
    .regex(new RegExp(RATE_LIMIT_PATTERN), 'expected "<n>/<second|minute|hour>", e.g. "100/minute"')
    .optional(),
});
export const listApiKeysInput = z.object({ includeRevoked: z.boolean().default(true), ...pageInput }).prefault({});
export const keyIdInput = z.object({ keyId });
export const rotateApiKeyInput = z.object({ keyId, gracePeriodDays: z.number().int().min(0).max(90).default(7) });

export type CreateApiKeyInput = z.infer<typeof createApiKeyInput>;
export type ListApiKeysInput = z.infer<typeof listApiKeysInput>;
export type KeyIdInput = z.infer<typeof keyIdInput>;
export type RotateApiKeyInput = z.infer<typeof rotateApiKeyInput>;

/**
 * `expiring`: still valid but has an end date (e.g. the old key during a rotation's grace period).
 * Computed like the credential resolver does: expired once `expiresAt <= now`.
 */
export type ApiKeyStatus = 'active' | 'expiring' | 'expired' | 'revoked';

/** What the API shows of a key: never the secret, never its hash. */
export interface ApiKey {
  id: string;
  name: string;
  role: TenantRole;
  /** Non-secret display prefix, e.g. `pk_acme_Ab3x`. */
  start: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  /** Batched: up to one flush interval behind (see last-used.ts). */
  lastUsedAt: string | null;
  rateLimit: string | null;
  status: ApiKeyStatus;
}

type KeyRow = typeof apiKeys.$inferSelect;

export interface KeyActionContext {
  /** The caller's role: nobody acts on, or mints, a key above their own role. */
  callerRole: TenantRole;
  actor: Actor;
  now: Date;
}

/** Changing a key outdates its cached resolution. */
export interface KeyChangeContext extends KeyActionContext {
  /** Told, once the change has committed, which cached credentials it outdated. */
  credentialsChanged: (change: CredentialChange) => unknown;
}

/** Minting also needs the tenant's slug, the new secret's prefix. */
export interface KeyMintContext extends KeyActionContext {
  slug: string;
}

function statusOf(row: KeyRow, now: Date): ApiKeyStatus {
  if (row.revokedAt) return 'revoked';
  if (!row.expiresAt) return 'active';
  return row.expiresAt <= now ? 'expired' : 'expiring';
}

export function toApiKey(row: KeyRow, now: Date): ApiKey {
  return {
    id: row.id,
    name: row.name,
    role: row.role as TenantRole,
    start: row.keyStart,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    rateLimit: row.rateLimit,
    status: statusOf(row, now),
  };
}

// Privilege escalation guard: an admin key must not mint or take over an owner key.
function requireRoleAtMost(role: TenantRole, callerRole: TenantRole, doing: string): void {
  if (!roleAtLeast(callerRole, role)) {
    throw new AppError('INSUFFICIENT_ROLE', `You cannot ${doing} a key with the ${role} role: this credential has ${callerRole}.`);
  }
}

/** The key, locked for the rest of the transaction so concurrent revoke/rotate serialise. */
async function lockKey(tx: TenantDb, id: string): Promise<KeyRow> {
  // Another tenant's key is invisible under RLS: it is "not found", exactly like a missing id.
  const [row] = await tx.select().from(apiKeys).where(and(ownTenant(tx, apiKeys), eq(apiKeys.id, id))).for('update');
  if (!row) throw notFound('API key');
  return row;
}

async function insertKey(
  tx: TenantDb,
  slug: string,
  values: { name: string; role: TenantRole; expiresAt: Date | null; rateLimit: string | null; createdAt: Date },
): Promise<{ row: KeyRow; secret: string }> {
  const generated = generateTenantKey(slug);
  const [row] = await tx
    .insert(apiKeys)
    .values({ ...values, keyHash: generated.hash, keyStart: generated.start })
    .returning();
  if (!row) throw new Error('insert returned no row');
  return { row, secret: generated.secret };
}

/** Creates a key. The secret is in the result only: it cannot be shown again. */
export async function createApiKey(
  tx: TenantDb,
  input: CreateApiKeyInput,
  { slug, callerRole, actor, now }: KeyMintContext,
): Promise<{ key: ApiKey; secret: string }> {
  const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
  if (expiresAt && expiresAt <= now) {
    throw new AppError('INVALID_INPUT', `expiresAt: must be in the future (now is ${now.toISOString()}).`);
  }
  requireRoleAtMost(input.role, callerRole, 'create');
  const { row, secret } = await insertKey(tx, slug, {
    name: input.name,
    role: input.role,
    expiresAt,
    rateLimit: input.rateLimit ?? null,
    createdAt: now,
  });
  await recordAuditEvent(tx, actor, {
    action: 'api_key.create',
    targetType: 'api_key',
    targetId: row.id,
    details: { name: row.name, role: row.role, expiresAt: row.expiresAt?.toISOString() ?? null, rateLimit: row.rateLimit },
  });
  return { key: toApiKey(row, now), secret };
}

/** Newest first. Revoked keys are included unless `includeRevoked` is false. */
export async function listApiKeys(tx: TenantDb, input: ListApiKeysInput, now: Date) {
  const rows = await tx
    .select()
    .from(apiKeys)
    .where(and(ownTenant(tx, apiKeys), ...(input.includeRevoked ? [] : [isNull(apiKeys.revokedAt)])))
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
    .limit(input.limit + 1)
    .offset(input.offset);
  return page(
    rows.map((row) => toApiKey(row, now)),
    input.limit,
    input.offset,
  );
}

/**
 * Revokes a key; the resolver reads the database on every request, so the very next request with
 * it fails. Revoking a revoked key returns it unchanged and records nothing.
 */
export async function revokeApiKey(tx: TenantDb, input: KeyIdInput, { callerRole, actor, now, credentialsChanged }: KeyChangeContext): Promise<ApiKey> {
  const current = await lockKey(tx, input.keyId);
  requireRoleAtMost(current.role as TenantRole, callerRole, 'revoke');
  if (current.revokedAt) return toApiKey(current, now);
  const [row] = await tx.update(apiKeys).set({ revokedAt: now }).where(and(ownTenant(tx, apiKeys), eq(apiKeys.id, current.id))).returning();
  if (!row) throw new Error('update returned no row');
  await recordAuditEvent(tx, actor, {
    action: 'api_key.revoke',
    targetType: 'api_key',
    targetId: row.id,
    details: { name: row.name, role: row.role },
  });
  afterCommit(tx, () => credentialsChanged({ keyId: row.id }));
  return toApiKey(row, now);
}

/**
 * Replaces a key with a new secret of the same name, role and rate limit. The old key keeps
 * working until `now + gracePeriodDays` (or its own earlier expiry), then answers KEY_EXPIRED.
 * The new key inherits the old one's expiry if it had one: rotating never extends a key's life.
 */
export async function rotateApiKey(
  tx: TenantDb,
  input: RotateApiKeyInput,
  { slug, callerRole, actor, now, credentialsChanged }: KeyMintContext & KeyChangeContext,
): Promise<{ key: ApiKey; secret: string; previous: ApiKey }> {
  const old = await lockKey(tx, input.keyId);
  const role = old.role as TenantRole;
  requireRoleAtMost(role, callerRole, 'rotate');
  if (old.revokedAt) {
    throw new AppError('KEY_ALREADY_REVOKED', 'This key is revoked and cannot be rotated; create a new key with apiKeys.create.');
  }
  if (old.expiresAt && old.expiresAt <= now) {
    throw new AppError('KEY_ALREADY_EXPIRED', 'This key has expired and cannot be rotated; create a new key with apiKeys.create.');
  }
  const graceEnd = new Date(now.getTime() + input.gracePeriodDays * DAY_MS);
  const previousExpiresAt = old.expiresAt;
  const oldExpiresAt = previousExpiresAt && previousExpiresAt < graceEnd ? previousExpiresAt : graceEnd;
  const created = await insertKey(tx, slug, { name: old.name, role, expiresAt: previousExpiresAt, rateLimit: old.rateLimit, createdAt: now });
  const [previous] = await tx.update(apiKeys).set({ expiresAt: oldExpiresAt }).where(and(ownTenant(tx, apiKeys), eq(apiKeys.id, old.id))).returning();
  if (!previous) throw new Error('update returned no row');
  await recordAuditEvent(tx, actor, {
    action: 'api_key.rotate',
    targetType: 'api_key',
    targetId: old.id,
    details: {
      newKeyId: created.row.id,
      gracePeriodDays: input.gracePeriodDays,
      previousExpiresAt: previousExpiresAt?.toISOString() ?? null,
    },
  });
  // The old key's cached resolution carries the expiry the grace period replaces.
  afterCommit(tx, () => credentialsChanged({ keyId: old.id }));
  return { key: toApiKey(created.row, now), secret: created.secret, previous: toApiKey(previous, now) };
}
