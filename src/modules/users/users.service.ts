/**
 * A tenant's users: the people who sign in (see sessions.service.ts). Used by the users.* procedures
 * and the CLI. Every function runs inside the caller's tenant transaction, so another tenant's user
 * is simply not there (NOT_FOUND), and each change is audited in that same transaction.
 *
 * Two rules on top of the procedure tier: a caller never grants or touches a role above its own
 * (INSUFFICIENT_ROLE), and a tenant that has an active owner user always keeps one (LAST_OWNER).
 */
import { and, asc, eq, ilike, isNull, ne, or, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { roleAtLeast, sessions, TENANT_ROLES, users, type TenantRole } from '../../../db/schema/index.js';
import { afterCommit, ownTenant, type TenantDb } from '../../../db/tenant-tx.js';
import { AppError, notFound } from '../../lib/errors.js';
import { generateTemporaryPassword, hashPassword } from '../../lib/password.js';
import { violates } from '../../lib/pg-errors.js';
import { containsPattern } from '../../lib/sql-text.js';
import { recordAuditEvent, type Actor } from '../audit-log/audit.service.js';
import type { CredentialChange } from '../credentials/credential-cache.js';
import { page, pageInput } from '../../lib/paging.js';

const userId = z.uuid();
const email = z.string().trim().toLowerCase().max(254).pipe(z.email('expected an email address like ana@example.com'));
const name = z.string().trim().min(1).max(200);
const role = z.enum(TENANT_ROLES);

export const userIdInput = z.object({ userId });
export const createUserInput = z.object({ email, name, role });
export const listUsersInput = z
  .object({
    /** Case-insensitive substring of the email or the name. */
    search: z.string().trim().min(1).max(200).optional(),
    role: role.optional(),
    ...pageInput,
  })
  .prefault({});
export const updateUserInput = z
  .object({
    userId,
    name: name.optional(),
    role: role.optional(),
    /** true disables the user (and ends their sessions); false enables them again. */
    disabled: z.boolean().optional(),
  })
  .refine((v) => v.name !== undefined || v.role !== undefined || v.disabled !== undefined, {
    message: 'nothing to update: give name, role or disabled',
  });

export type CreateUserInput = z.infer<typeof createUserInput>;
export type ListUsersInput = z.infer<typeof listUsersInput>;
export type UpdateUserInput = z.infer<typeof updateUserInput>;
export type UserIdInput = z.infer<typeof userIdInput>;

/** Who asks: their role bounds what they may grant and touch; the actor goes into the audit log. */
export interface UserChangeContext {
  callerRole: TenantRole;
  actor: Actor;
  /** The server's clock (tests move it); defaults to the system time. */
  now?: Date;
}

/** Changing or deleting a user outdates their cached sessions. */
export interface UserUpdateContext extends UserChangeContext {
  /** Told, once the change has committed, which cached credentials it outdated. */
  credentialsChanged: (change: CredentialChange) => unknown;
}

type UserRow = typeof users.$inferSelect;

/** What the API returns: never the password hash; timestamps as ISO strings. */
export interface User {
  id: string;
  email: string;
  name: string;
  role: TenantRole;
  mustChangePassword: boolean;
  disabledAt: string | null;
  createdAt: string;
  lastLoginAt: string | null;
}

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role as TenantRole,
    mustChangePassword: row.mustChangePassword,
    disabledAt: row.disabledAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    lastLoginAt: row.lastLoginAt?.toISOString() ?? null,
  };
}

function insufficientRole(message: string): AppError {
  return new AppError('INSUFFICIENT_ROLE', message);
}

function checkMayGrant(callerRole: TenantRole, granted: TenantRole): void {
  if (!roleAtLeast(callerRole, granted)) {
    throw insufficientRole(`You cannot grant the ${granted} role: it is above your own (${callerRole}).`);
  }
}

function checkMayTouch(callerRole: TenantRole, target: UserRow): void {
  if (!roleAtLeast(callerRole, target.role as TenantRole)) {
    throw insufficientRole(`This user has the ${target.role} role, above your own (${callerRole}); ask an owner.`);
  }
}

/** The user, locked for the rest of the transaction, or NOT_FOUND (also for another tenant's id). */
async function lockUser(tx: TenantDb, id: string): Promise<UserRow> {
  const [row] = await tx.select().from(users).where(and(ownTenant(tx, users), eq(users.id, id))).for('update');
  if (!row) throw notFound('user');
  return row;
}

const isActiveOwner = (row: Pick<UserRow, 'role' | 'disabledAt'>) => row.role === 'owner' && row.disabledAt === null;

/**
 * Locks the tenant's active owner users, always in id order and before the target row, so that
 * concurrent changes queue up instead of deadlocking, and two concurrent demotions of the last two
 * owners cannot both pass: the second re-reads the owners after the first committed.
 */
async function lockActiveOwners(tx: TenantDb): Promise<string[]> {
  const rows = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(ownTenant(tx, users), eq(users.role, 'owner'), isNull(users.disabledAt)))
    .orderBy(asc(users.id))
    .for('update');
  return rows.map((r) => r.id);
}

function checkNotLastOwner(activeOwners: string[], target: UserRow): void {
  if (!activeOwners.some((id) => id !== target.id)) {
    throw new AppError('LAST_OWNER', 'This is the tenant’s last active owner; make another user owner first.');
  }
}

/** Revokes every live session of the user; returns how many. */
export async function revokeUserSessions(tx: TenantDb, id: string, now: Date, exceptSessionId?: string): Promise<number> {
  const where = [ownTenant(tx, sessions), eq(sessions.userId, id), isNull(sessions.revokedAt)];
  if (exceptSessionId) where.push(ne(sessions.id, exceptSessionId));
  const rows = await tx.update(sessions).set({ revokedAt: now }).where(and(...where)).returning({ id: sessions.id });
  return rows.length;
}

/**
 * Creates a user with a random temporary password, returned once (only its scrypt hash is stored);
 * the user must replace it at first sign-in. Email is unique within the tenant: EMAIL_TAKEN.
 */
export async function createUser(tx: TenantDb, input: CreateUserInput, context: UserChangeContext) {
  checkMayGrant(context.callerRole, input.role);
  const temporaryPassword = generateTemporaryPassword();
  const passwordHash = await hashPassword(temporaryPassword);
  const [row] = await tx
    .insert(users)
    .values({ ...input, passwordHash, mustChangePassword: true })
    .returning()
    .catch((error: unknown) => {
      if (violates(error, 'users_tenant_id_email_key')) {
        throw new AppError('EMAIL_TAKEN', `A user with the email ${input.email} already exists in this tenant.`, { cause: error });
      }
      throw error;
    });
  if (!row) throw new Error('insert returned no row');
  await recordAuditEvent(tx, context.actor, {
    action: 'user.create',
    targetType: 'user',
    targetId: row.id,
    details: { email: row.email, role: row.role },
  });
  return { user: toUser(row), temporaryPassword };
}

export async function listUsers(tx: TenantDb, input: ListUsersInput) {
  const where: SQL[] = [ownTenant(tx, users)];
  if (input.role) where.push(eq(users.role, input.role));
  if (input.search) {
    const pattern = containsPattern(input.search);
    where.push(or(ilike(users.email, pattern), ilike(users.name, pattern))!);
  }
  const rows = await tx
    .select()
    .from(users)
    .where(and(...where))
    .orderBy(asc(users.email), asc(users.id))
    .limit(input.limit + 1)
    .offset(input.offset);
  return page(rows.map(toUser), input.limit, input.offset);
}

/**
 * Renames, changes the role of, disables or enables a user. Only what actually changes is written
 * and audited: `user.update` (details: each changed field's from/to), `user.disable` (which also
 * revokes the user's sessions) or `user.enable`.
 */
export async function updateUser(tx: TenantDb, input: UpdateUserInput, context: UserUpdateContext): Promise<User> {
  const now = context.now ?? new Date();
  const activeOwners = await lockActiveOwners(tx);
  const target = await lockUser(tx, input.userId);
  checkMayTouch(context.callerRole, target);
  if (input.role !== undefined) checkMayGrant(context.callerRole, input.role);

  const changed: Record<string, { from: unknown; to: unknown }> = {};
  if (input.name !== undefined && input.name !== target.name) changed.name = { from: target.name, to: input.name };
  if (input.role !== undefined && input.role !== target.role) changed.role = { from: target.role, to: input.role };
  const disable = input.disabled === true && target.disabledAt === null;
  const enable = input.disabled === false && target.disabledAt !== null;
  if (Object.keys(changed).length === 0 && !disable && !enable) return toUser(target);

  const after = {
    role: (input.role ?? target.role) as TenantRole,
    disabledAt: disable ? now : enable ? null : target.disabledAt,
  };
  if (isActiveOwner(target) && !isActiveOwner(after)) checkNotLastOwner(activeOwners, target);

  const [row] = await tx
    .update(users)
    .set({
      ...(changed.name ? { name: input.name } : {}),
      ...(changed.role ? { role: input.role } : {}),
      ...(disable || enable ? { disabledAt: after.disabledAt } : {}),
    })
    .where(and(ownTenant(tx, users), eq(users.id, target.id)))
    .returning();
  if (!row) throw notFound('user');

  const audit = { targetType: 'user', targetId: row.id } as const;
  if (Object.keys(changed).length > 0) await recordAuditEvent(tx, context.actor, { ...audit, action: 'user.update', details: { changed } });
  if (disable) {
    const revokedSessions = await revokeUserSessions(tx, row.id, now);
    await recordAuditEvent(tx, context.actor, { ...audit, action: 'user.disable', details: { email: row.email, revokedSessions } });
  }
  if (enable) await recordAuditEvent(tx, context.actor, { ...audit, action: 'user.enable', details: { email: row.email } });
  // Cached sessions carry the role and the disabled flag.
  afterCommit(tx, () => context.credentialsChanged({ userId: row.id }));
  return toUser(row);
}

/** Deletes a user; their sessions go with them (ON DELETE CASCADE). */
export async function deleteUser(tx: TenantDb, input: UserIdInput, context: UserUpdateContext): Promise<{ id: string }> {
  const activeOwners = await lockActiveOwners(tx);
  const target = await lockUser(tx, input.userId);
  checkMayTouch(context.callerRole, target);
  if (isActiveOwner(target)) checkNotLastOwner(activeOwners, target);
  await tx.delete(users).where(and(ownTenant(tx, users), eq(users.id, target.id)));
  await recordAuditEvent(tx, context.actor, {
    action: 'user.delete',
    targetType: 'user',
    targetId: target.id,
    details: { email: target.email, role: target.role },
  });
  afterCommit(tx, () => context.credentialsChanged({ userId: target.id }));
  return { id: target.id };
}
