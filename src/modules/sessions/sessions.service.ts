/**
 * Signing in and out, and changing one's password. Sessions are bearer tokens like API keys
 * (`ps_<slug>_<32 base62>`, only the SHA-256 stored) and are resolved the same way on each request
 * (credentials.service.ts).
 *
 * Sign-in is the one place a tenant is chosen by the caller's input rather than by a credential, so
 * it is the one function here that takes the app-role pool: the slug goes through the narrow
 * SECURITY DEFINER `resolve_tenant_slug`, and the user is then read inside that tenant's own
 * transaction, under the tenant policy.
 */
import { and, eq, isNull } from 'drizzle-orm';
import { z } from 'zod';
import type { Sql } from '../../../db/client.js';
import { sessions, users } from '../../../db/schema/index.js';
import { afterCommit, ownTenant, withTenant, type TenantDb } from '../../../db/tenant-tx.js';
import { generateSessionToken } from '../../lib/api-key.js';
import { AppError } from '../../lib/errors.js';
import { DECOY_HASH, hashPassword, needsRehash, verifyPassword } from '../../lib/password.js';
import { LoginThrottle } from './login-throttle.js';
import { recordAuditEvent, type Actor } from '../audit-log/audit.service.js';
import type { CredentialChange } from '../credentials/credential-cache.js';
import { revokeUserSessions, toUser, type User } from '../users/users.service.js';

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 200;

// Input limits bound the work an anonymous caller can cause (scrypt cost grows with input size).
export const loginInput = z.object({
  tenant: z.string().trim().toLowerCase().min(1).max(100),
  email: z.string().trim().toLowerCase().min(1).max(254),
  password: z.string().min(1).max(PASSWORD_MAX_LENGTH),
});
export type LoginInput = z.infer<typeof loginInput>;

export const changePasswordInput = z
  .object({
    currentPassword: z.string().min(1).max(PASSWORD_MAX_LENGTH),
    newPassword: z
      .string()
      .min(PASSWORD_MIN_LENGTH, `must be at least ${PASSWORD_MIN_LENGTH} characters`)
      .max(PASSWORD_MAX_LENGTH, `must be at most ${PASSWORD_MAX_LENGTH} characters`),
  })
  .refine((v) => v.newPassword !== v.currentPassword, { message: 'must differ from the current password', path: ['newPassword'] });
export type ChangePasswordInput = z.infer<typeof changePasswordInput>;

export interface SignInContext {
  /** The server's clock: session expiry and the throttle use it. */
  now: Date;
  sessionTtlMinutes: number;
  throttle: LoginThrottle;
  requestId?: string | null;
  sourceIp?: string | null;
}

export interface SignInResult {
  /** Shown once; only its hash is stored. Send it as `Authorization: Bearer <token>`. */
  token: string;
  expiresAt: string;
  mustChangePassword: boolean;
  user: User;
  tenant: { id: string; slug: string };
}

/** One answer for every wrong credential, so a caller cannot tell which part was wrong. */
function invalidCredentials(): AppError {
  return new AppError('INVALID_CREDENTIALS', 'The tenant, email or password is not correct.');
}

type FailureReason = 'unknown_email' | 'wrong_password' | 'user_disabled' | 'tenant_suspended';

/**
 * Signs a user in and opens a session that expires `sessionTtlMinutes` after `now`.
 * Unknown tenant, unknown email, wrong password and disabled user all answer INVALID_CREDENTIALS
 * with the same message, after the same scrypt work (a decoy hash when there is no user). Correct
 * credentials on a suspended tenant answer TENANT_SUSPENDED. Failures feed the throttle and, when
 * the tenant exists, its audit log (`auth.login_failed`). A successful sign-in whose stored hash
 * has older parameters (`needsRehash`) replaces it with a current one, in the session's transaction.
 */
export async function signIn(pool: Sql, input: LoginInput, context: SignInContext): Promise<SignInResult> {
  const { now, throttle } = context;
  const accountKey = LoginThrottle.accountKey(input.tenant, input.email);
  const keys = context.sourceIp ? [accountKey, LoginThrottle.sourceKey(context.sourceIp)] : [accountKey];
  await throttle.check(keys, now);

  const [tenant] = await pool<{ tenant_id: string; tenant_status: string }[]>`
    select tenant_id, tenant_status from resolve_tenant_slug(${input.tenant})`;
  if (!tenant) {
    await verifyPassword(input.password, DECOY_HASH);
    await throttle.fail(keys, now);
    throw invalidCredentials();
  }
  const tenantId = tenant.tenant_id;
  const actor = (id: string | null): Actor => ({ type: 'user', id, requestId: context.requestId ?? null, sourceIp: context.sourceIp ?? null });
  const recordFailure = (reason: FailureReason, userId: string | null) =>
    withTenant(pool, tenantId, (tx) =>
      recordAuditEvent(tx, actor(userId), {
        action: 'auth.login_failed',
        ...(userId ? { targetType: 'user', targetId: userId } : {}),
        details: { email: input.email, reason },
      }),
    );

  const [user] = await withTenant(pool, tenantId, (tx) => tx.select().from(users).where(and(ownTenant(tx, users), eq(users.email, input.email))));
  // Verified even when there is no such user, so the response time does not say whether it exists.
  // A hash made with older, cheaper parameters is verified while its replacement is computed from
  // the given password, right or not: either answer then costs about one current-cost hash, like
  // an unknown email's decoy, so timing does not single out accounts that are not yet re-hashed.
  const storedHash = user?.passwordHash ?? DECOY_HASH;
  const [passwordOk, rehashed] = await Promise.all([
    verifyPassword(input.password, storedHash),
    needsRehash(storedHash) ? hashPassword(input.password) : undefined,
  ]);
  const failure: FailureReason | undefined = !user ? 'unknown_email' : !passwordOk ? 'wrong_password' : user.disabledAt ? 'user_disabled' : undefined;
  if (failure || !user) {
    await throttle.fail(keys, now);
    await recordFailure(failure ?? 'unknown_email', user?.id ?? null);
    throw invalidCredentials();
  }
  // The password was right: the account's counter starts over (the address's does not).
  await throttle.clear(accountKey);
  if (tenant.tenant_status !== 'active') {
    await recordFailure('tenant_suspended', user.id);
    throw new AppError('TENANT_SUSPENDED', 'This tenant is suspended; contact your platform administrator.');
  }

  const token = generateSessionToken(input.tenant);
  const expiresAt = new Date(now.getTime() + context.sessionTtlMinutes * 60_000);
  const openSession = (checkedHash: string, newHash?: string) =>
    withTenant(pool, tenantId, async (tx) => {
      // Only if the user was not disabled and the password not changed since it was checked. A
      // re-hash is written by the same statement, so it is stored only with a session.
      const [fresh] = await tx
        .update(users)
        .set(newHash ? { lastLoginAt: now, passwordHash: newHash } : { lastLoginAt: now })
        .where(and(ownTenant(tx, users), eq(users.id, user.id), isNull(users.disabledAt), eq(users.passwordHash, checkedHash)))
        .returning();
      if (!fresh) return undefined;
      const [session] = await tx
        .insert(sessions)
        .values({ userId: fresh.id, tokenHash: token.hash, createdAt: now, expiresAt })
        .returning({ id: sessions.id });
      await recordAuditEvent(tx, actor(fresh.id), {
        action: 'auth.login',
        targetType: 'user',
        targetId: fresh.id,
        details: { email: fresh.email, sessionId: session!.id, expiresAt: expiresAt.toISOString() },
      });
      return fresh;
    });
  let opened = await openSession(user.passwordHash, rehashed);
  if (!opened && rehashed) {
    // A concurrent sign-in may have re-hashed the same password first. The password is checked
    // again against what is stored now, so a password change since the first check still refuses
    // (and a disabled user still fails the update's condition).
    const [current] = await withTenant(pool, tenantId, (tx) =>
      tx.select({ passwordHash: users.passwordHash }).from(users).where(and(ownTenant(tx, users), eq(users.id, user.id))),
    );
    if (current && (await verifyPassword(input.password, current.passwordHash))) opened = await openSession(current.passwordHash);
  }
  if (!opened) throw invalidCredentials();
  return {
    token: token.secret,
    expiresAt: expiresAt.toISOString(),
    mustChangePassword: opened.mustChangePassword,
    user: toUser(opened),
    tenant: { id: tenantId, slug: input.tenant },
  };
}

export interface SessionContext {
  userId: string;
  sessionId: string;
  actor: Actor;
  now: Date;
  /** Told, once the change has committed, which cached credentials it outdated. */
  credentialsChanged: (change: CredentialChange) => unknown;
}

/**
 * Replaces the signed-in user's password after checking the current one (INVALID_CREDENTIALS
 * otherwise), clears `mustChangePassword`, and revokes the user's other sessions: whoever else
 * knew the old password is signed out. Wrong current passwords feed the throttle when given, so
 * a stolen session cannot be used to guess the password.
 */
export async function changePassword(
  tx: TenantDb,
  input: ChangePasswordInput,
  context: SessionContext & { throttle?: LoginThrottle },
): Promise<{ mustChangePassword: false; revokedSessions: number }> {
  const throttleKey = [`user:${context.userId}`];
  await context.throttle?.check(throttleKey, context.now);
  const [user] = await tx.select().from(users).where(and(ownTenant(tx, users), eq(users.id, context.userId))).for('update');
  if (!user || !(await verifyPassword(input.currentPassword, user.passwordHash))) {
    await context.throttle?.fail(throttleKey, context.now);
    throw new AppError('INVALID_CREDENTIALS', 'The current password is not correct.');
  }
  await context.throttle?.clear(throttleKey[0]!);
  const passwordHash = await hashPassword(input.newPassword);
  await tx.update(users).set({ passwordHash, mustChangePassword: false }).where(and(ownTenant(tx, users), eq(users.id, user.id)));
  const revokedSessions = await revokeUserSessions(tx, user.id, context.now, context.sessionId);
  await recordAuditEvent(tx, context.actor, {
    action: 'user.change_password',
    targetType: 'user',
    targetId: user.id,
    details: { revokedSessions },
  });
  // The others are revoked, and this session's cached mustChangePassword is no longer true.
  afterCommit(tx, () => context.credentialsChanged({ userId: user.id }));
  return { mustChangePassword: false, revokedSessions };
}

/** Ends the current session: the token answers KEY_REVOKED from now on. */
export async function signOut(tx: TenantDb, context: SessionContext): Promise<{ sessionId: string; revokedAt: string }> {
  await tx
    .update(sessions)
    .set({ revokedAt: context.now })
    .where(and(ownTenant(tx, sessions), eq(sessions.id, context.sessionId), isNull(sessions.revokedAt)));
  await recordAuditEvent(tx, context.actor, { action: 'auth.logout', targetType: 'session', targetId: context.sessionId });
  afterCommit(tx, () => context.credentialsChanged({ sessionId: context.sessionId }));
  return { sessionId: context.sessionId, revokedAt: context.now.toISOString() };
}
