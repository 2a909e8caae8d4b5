/**
 * Sign-in over real HTTP: auth.login → Bearer session token, the temporary password that only
 * allows auth.changePassword, session expiry on a moved clock, logout, one generic answer for
 * every wrong credential, the login throttle, and what disabling a user or suspending the tenant
 * does to an existing session. Each test provisions its own tenant; tests that fail logins on
 * purpose get their own server, because the throttle also counts failures per source address.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { auditEvents, sessions, users } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { hashKey } from '../src/lib/api-key.js';
import type { ProvisionedTenant } from '../src/modules/tenants/tenants.service.js';
import { appPool, makeTenant, ownerPool, setTenantStatus, startServer, trpcError, type TestServer } from './harness.js';

let owner: Sql;
let app: Sql;
let server: TestServer;
/** The shared server's clock: tests that move it use their own server instead. */
const START = Date.parse('2026-06-01T09:00:00.000Z');

beforeAll(async () => {
  owner = ownerPool();
  app = appPool(4);
  server = await startServer(app, { clock: () => new Date(START) });
});
afterAll(async () => {
  await server.close();
  await Promise.all([owner.end(), app.end()]);
});

const NEW_PASSWORD = 'a much better passphrase';

/** A server whose clock the test moves. */
async function serverWithClock(options: { sessionTtlMinutes?: number } = {}) {
  let now = START;
  const s = await startServer(app, { clock: () => new Date(now), ...options });
  return { server: s, advance: (ms: number) => (now += ms), now: () => now };
}

async function ownerTenant(name: string): Promise<ProvisionedTenant & { owner: NonNullable<ProvisionedTenant['owner']> }> {
  const tenant = await makeTenant(owner, name, { withOwner: true });
  return { ...tenant, owner: tenant.owner! };
}

/** Signs the tenant's owner in and replaces the temporary password: a session that works everywhere. */
async function ownerSession(s: TestServer, tenant: Awaited<ReturnType<typeof ownerTenant>>): Promise<string> {
  const { token } = await s.client().auth.login.mutate({ tenant: tenant.slug, email: tenant.owner.email, password: tenant.owner.temporaryPassword });
  await s.client(token).auth.changePassword.mutate({ currentPassword: tenant.owner.temporaryPassword, newPassword: NEW_PASSWORD });
  return token;
}

function auditRows(tenantId: string, action: string) {
  return withTenant(owner, tenantId, (tx) => tx.select().from(auditEvents).where(eq(auditEvents.action, action)));
}

function sessionRow(tenantId: string, token: string) {
  return withTenant(owner, tenantId, async (tx) => (await tx.select().from(sessions).where(eq(sessions.tokenHash, hashKey(token))))[0]);
}

describe('sign-in flow', () => {
  it('temporary password → session that may only change the password → then a working session', async () => {
    const tenant = await ownerTenant('Flow');
    const login = await server.client().auth.login.mutate({
      tenant: tenant.slug.toUpperCase(),
      email: tenant.owner.email.toUpperCase(),
      password: tenant.owner.temporaryPassword,
    });
    expect(login).toEqual({
      token: expect.stringMatching(new RegExp(`^ps_${tenant.slug}_[0-9A-Za-z]{32}$`)),
      expiresAt: new Date(START + 720 * 60_000).toISOString(),
      mustChangePassword: true,
      user: expect.objectContaining({ id: tenant.owner.userId, email: tenant.owner.email, role: 'owner', lastLoginAt: new Date(START).toISOString() }),
      tenant: { id: tenant.id, slug: tenant.slug },
    });
    expect(JSON.stringify(login)).not.toMatch(/scrypt/);

    const stored = await sessionRow(tenant.id, login.token);
    expect(stored).toMatchObject({ userId: tenant.owner.userId, revokedAt: null });
    expect(stored!.expiresAt.toISOString()).toBe(login.expiresAt);
    const userRow = await withTenant(owner, tenant.id, async (tx) => (await tx.select().from(users).where(eq(users.id, tenant.owner.userId)))[0]);
    expect(userRow!.lastLoginAt?.toISOString()).toBe(new Date(START).toISOString());

    const session = server.client(login.token);
    expect(await session.auth.whoami.query()).toMatchObject({ via: 'session', tenantId: tenant.id, userId: tenant.owner.userId, mustChangePassword: true });
    expect(await trpcError(session.orders.list.query({}))).toMatchObject({ httpStatus: 403, reason: 'PASSWORD_CHANGE_REQUIRED' });

    expect(await session.auth.changePassword.mutate({ currentPassword: tenant.owner.temporaryPassword, newPassword: NEW_PASSWORD })).toEqual({
      mustChangePassword: false,
      revokedSessions: 0,
    });
    expect(await session.orders.list.query({})).toEqual({ items: [], nextOffset: null });

    const [loginEvent] = await auditRows(tenant.id, 'auth.login');
    expect(loginEvent).toMatchObject({
      actorType: 'user',
      actorId: tenant.owner.userId,
      targetId: tenant.owner.userId,
      details: { email: tenant.owner.email, sessionId: stored!.id },
    });
    expect(await auditRows(tenant.id, 'user.change_password')).toMatchObject([{ actorId: tenant.owner.userId, targetId: tenant.owner.userId }]);

    // The temporary password is gone; the new one signs in without the change requirement.
    const stale = { tenant: tenant.slug, email: tenant.owner.email, password: tenant.owner.temporaryPassword };
    expect(await trpcError(server.client().auth.login.mutate(stale))).toMatchObject({ reason: 'INVALID_CREDENTIALS' });
    const again = await server.client().auth.login.mutate({ tenant: tenant.slug, email: tenant.owner.email, password: NEW_PASSWORD });
    expect(again.mustChangePassword).toBe(false);
  });

  it('the same email signs in to each tenant with that tenant’s password only', async () => {
    const [a, b] = await Promise.all([makeTenant(owner, 'A'), makeTenant(owner, 'B')]);
    const inA = await server.client(a.apiKey).users.create.mutate({ email: 'kim@both.example', name: 'Kim', role: 'viewer' });
    const inB = await server.client(b.apiKey).users.create.mutate({ email: 'kim@both.example', name: 'Kim', role: 'admin' });
    const loginA = await server.client().auth.login.mutate({ tenant: a.slug, email: 'kim@both.example', password: inA.temporaryPassword });
    const loginB = await server.client().auth.login.mutate({ tenant: b.slug, email: 'kim@both.example', password: inB.temporaryPassword });
    expect(loginA.user).toMatchObject({ id: inA.user.id, role: 'viewer' });
    expect(loginB.user).toMatchObject({ id: inB.user.id, role: 'admin' });
    expect(await server.client(loginB.token).auth.whoami.query()).toMatchObject({ tenantId: b.id, role: 'admin' });
    const crossed = await trpcError(server.client().auth.login.mutate({ tenant: b.slug, email: 'kim@both.example', password: inA.temporaryPassword }));
    expect(crossed).toMatchObject({ httpStatus: 401, reason: 'INVALID_CREDENTIALS' });
  });

  it('refuses malformed login input with 400 naming the field', async () => {
    const anon = server.client();
    for (const [input, field] of [
      [{ tenant: '', email: 'a@b.example', password: 'x' }, 'tenant'],
      [{ tenant: 'acme', email: '', password: 'x' }, 'email'],
      [{ tenant: 'acme', email: 'a@b.example', password: '' }, 'password'],
      [{ tenant: 'acme', email: 'a@b.example', password: 'x'.repeat(201) }, 'password'],
    ] as const) {
      const error = await trpcError(anon.auth.login.mutate(input));
      expect(error).toMatchObject({ httpStatus: 400, reason: 'INVALID_INPUT' });
      expect(error.issues?.map((i) => i.path)).toEqual([field]);
    }
  });
});

describe('auth.changePassword', () => {
  it('checks the current password and the new one (400 naming newPassword), then revokes the other sessions', async () => {
    const tenant = await ownerTenant('Change');
    const creds = { tenant: tenant.slug, email: tenant.owner.email, password: tenant.owner.temporaryPassword };
    const first = server.client((await server.client().auth.login.mutate(creds)).token);
    const second = (await server.client().auth.login.mutate(creds)).token;

    for (const newPassword of ['short', 'y'.repeat(201), tenant.owner.temporaryPassword]) {
      const error = await trpcError(first.auth.changePassword.mutate({ currentPassword: tenant.owner.temporaryPassword, newPassword }));
      expect(error).toMatchObject({ httpStatus: 400, reason: 'INVALID_INPUT' });
      expect(error.issues?.map((i) => i.path)).toEqual(['newPassword']);
      expect(error.message).toMatch(/^newPassword: /);
    }
    const wrong = await trpcError(first.auth.changePassword.mutate({ currentPassword: 'not-the-password', newPassword: NEW_PASSWORD }));
    expect(wrong).toMatchObject({ httpStatus: 401, reason: 'INVALID_CREDENTIALS' });
    expect(await auditRows(tenant.id, 'user.change_password')).toEqual([]);

    expect(await first.auth.changePassword.mutate({ currentPassword: tenant.owner.temporaryPassword, newPassword: NEW_PASSWORD })).toEqual({
      mustChangePassword: false,
      revokedSessions: 1,
    });
    expect(await trpcError(server.client(second).auth.whoami.query())).toMatchObject({ httpStatus: 401, reason: 'KEY_REVOKED' });
    expect((await sessionRow(tenant.id, second))!.revokedAt).not.toBeNull();
    expect(await first.orders.list.query({})).toMatchObject({ items: [] });
  });

  it('is for sessions only: an API key gets SESSION_REQUIRED, no credential KEY_MISSING', async () => {
    const tenant = await ownerTenant('Keys');
    const key = server.client(tenant.apiKey);
    const change = key.auth.changePassword.mutate({ currentPassword: 'whatever', newPassword: NEW_PASSWORD });
    expect(await trpcError(change)).toMatchObject({ httpStatus: 403, reason: 'SESSION_REQUIRED' });
    expect(await trpcError(key.auth.logout.mutate())).toMatchObject({ httpStatus: 403, reason: 'SESSION_REQUIRED' });
    expect(await trpcError(server.client().auth.logout.mutate())).toMatchObject({ httpStatus: 401, reason: 'KEY_MISSING' });
  });
});

describe('session lifetime', () => {
  it('a session expires sessionTtlMinutes after sign-in (KEY_EXPIRED)', async () => {
    const { server: timed, advance } = await serverWithClock({ sessionTtlMinutes: 60 });
    try {
      const tenant = await ownerTenant('Expiry');
      const token = await ownerSession(timed, tenant);
      expect((await sessionRow(tenant.id, token))!.expiresAt.toISOString()).toBe(new Date(START + 60 * 60_000).toISOString());
      advance(59 * 60_000);
      expect(await timed.client(token).orders.list.query({})).toMatchObject({ items: [] });
      advance(2 * 60_000);
      expect(await trpcError(timed.client(token).orders.list.query({}))).toMatchObject({ httpStatus: 401, reason: 'KEY_EXPIRED' });
    } finally {
      await timed.close();
    }
  });

  it('logout revokes the current session (KEY_REVOKED) and is audited', async () => {
    const tenant = await ownerTenant('Logout');
    const token = await ownerSession(server, tenant);
    const stored = await sessionRow(tenant.id, token);
    expect(await server.client(token).auth.logout.mutate()).toEqual({ sessionId: stored!.id, revokedAt: new Date(START).toISOString() });
    expect(await trpcError(server.client(token).orders.list.query({}))).toMatchObject({ httpStatus: 401, reason: 'KEY_REVOKED' });
    expect((await sessionRow(tenant.id, token))!.revokedAt?.toISOString()).toBe(new Date(START).toISOString());
    expect(await auditRows(tenant.id, 'auth.logout')).toMatchObject([{ actorId: tenant.owner.userId, targetType: 'session', targetId: stored!.id }]);
  });

  it("a disabled user's existing session is refused (401)", async () => {
    const tenant = await ownerTenant('Disabled');
    const admin = server.client(tenant.apiKey);
    const { user, temporaryPassword } = await admin.users.create.mutate({ email: 'lee@dis.example', name: 'Lee', role: 'analyst' });
    const login = await server.client().auth.login.mutate({ tenant: tenant.slug, email: 'lee@dis.example', password: temporaryPassword });
    await server.client(login.token).auth.changePassword.mutate({ currentPassword: temporaryPassword, newPassword: NEW_PASSWORD });
    // Disabled behind the server's back (no session revocation): the resolver itself refuses it.
    await withTenant(owner, tenant.id, (tx) => tx.update(users).set({ disabledAt: new Date() }).where(eq(users.id, user.id)));
    expect(await trpcError(server.client(login.token).orders.list.query({}))).toMatchObject({ httpStatus: 401, reason: 'USER_DISABLED' });
    // Through the API, disabling also revokes the session.
    await withTenant(owner, tenant.id, (tx) => tx.update(users).set({ disabledAt: null }).where(eq(users.id, user.id)));
    await admin.users.update.mutate({ userId: user.id, disabled: true });
    expect(await trpcError(server.client(login.token).orders.list.query({}))).toMatchObject({ httpStatus: 401, reason: 'KEY_REVOKED' });
  });

  it('a suspended tenant refuses existing sessions and correct sign-ins with TENANT_SUSPENDED', async () => {
    const tenant = await ownerTenant('Suspended');
    const token = await ownerSession(server, tenant);
    await setTenantStatus(owner, tenant.id, 'suspended');
    try {
      expect(await trpcError(server.client(token).orders.list.query({}))).toMatchObject({ httpStatus: 403, reason: 'TENANT_SUSPENDED' });
      const signIn = await trpcError(server.client().auth.login.mutate({ tenant: tenant.slug, email: tenant.owner.email, password: NEW_PASSWORD }));
      expect(signIn).toMatchObject({ httpStatus: 403, reason: 'TENANT_SUSPENDED' });
      expect(await auditRows(tenant.id, 'auth.login')).toHaveLength(1);
      expect(await auditRows(tenant.id, 'auth.login_failed')).toMatchObject([{ details: { email: tenant.owner.email, reason: 'tenant_suspended' } }]);
    } finally {
      await setTenantStatus(owner, tenant.id, 'active');
    }
    expect(await server.client(token).orders.list.query({})).toMatchObject({ items: [] });
  });
});

describe('wrong credentials', () => {
  it('wrong tenant, unknown email, wrong password and disabled user all get one generic 401', async () => {
    const { server: own } = await serverWithClock();
    try {
      const tenant = await ownerTenant('Generic');
      const other = await makeTenant(owner, 'Other');
      const admin = own.client(tenant.apiKey);
      const { user: disabled, temporaryPassword } = await admin.users.create.mutate({ email: 'off@gen.example', name: 'Off', role: 'viewer' });
      await admin.users.update.mutate({ userId: disabled.id, disabled: true });
      const good = { tenant: tenant.slug, email: tenant.owner.email, password: tenant.owner.temporaryPassword };
      const variants = {
        'unknown tenant': { ...good, tenant: 'no-such-tenant-here' },
        "another tenant's slug": { ...good, tenant: other.slug },
        'unknown email': { ...good, email: 'nobody@gen.example' },
        'wrong password': { ...good, password: 'not the password' },
        'disabled user': { tenant: tenant.slug, email: 'off@gen.example', password: temporaryPassword },
      };
      const errors = [];
      for (const [name, input] of Object.entries(variants)) {
        const error = await trpcError(own.client().auth.login.mutate(input));
        errors.push({ name, httpStatus: error.httpStatus, reason: error.reason, message: error.message });
      }
      const expected = { httpStatus: 401, reason: 'INVALID_CREDENTIALS', message: 'The tenant, email or password is not correct.' };
      expect(errors).toEqual(Object.keys(variants).map((name) => ({ name, ...expected })));

      const failed = await auditRows(tenant.id, 'auth.login_failed');
      expect(failed.map((e) => e.details).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)))).toEqual([
        { email: 'nobody@gen.example', reason: 'unknown_email' },
        { email: 'off@gen.example', reason: 'user_disabled' },
        { email: tenant.owner.email, reason: 'wrong_password' },
      ]);
      expect(await auditRows(tenant.id, 'auth.login')).toEqual([]);
      expect(await withTenant(owner, tenant.id, (tx) => tx.select().from(sessions))).toEqual([]);
    } finally {
      await own.close();
    }
  });

  it('after 5 failures further attempts get 429 LOGIN_THROTTLED before any password check, with growing waits', async () => {
    const { server: own, advance } = await serverWithClock();
    try {
      const tenant = await ownerTenant('Throttle');
      const anon = own.client();
      const good = { tenant: tenant.slug, email: tenant.owner.email, password: tenant.owner.temporaryPassword };
      for (let i = 0; i < 5; i++) {
        expect(await trpcError(anon.auth.login.mutate({ ...good, password: `guess ${i}` }))).toMatchObject({ reason: 'INVALID_CREDENTIALS' });
      }
      const throttled = await trpcError(anon.auth.login.mutate(good));
      expect(throttled).toMatchObject({ httpStatus: 429, code: 'TOO_MANY_REQUESTS', reason: 'LOGIN_THROTTLED' });
      expect(throttled.message).toMatch(/try again in 30 seconds/);
      // Refused before the password check: no sixth failure recorded, no session.
      expect(await auditRows(tenant.id, 'auth.login_failed')).toHaveLength(5);
      expect(await auditRows(tenant.id, 'auth.login')).toEqual([]);

      advance(31_000);
      expect((await anon.auth.login.mutate(good)).mustChangePassword).toBe(true);
      // Success cleared the account's counter, not the address's: one more failure blocks longer.
      expect(await trpcError(anon.auth.login.mutate({ ...good, password: 'wrong again' }))).toMatchObject({ reason: 'INVALID_CREDENTIALS' });
      const longer = await trpcError(anon.auth.login.mutate(good));
      expect(longer).toMatchObject({ httpStatus: 429, reason: 'LOGIN_THROTTLED' });
      expect(longer.message).toMatch(/try again in 60 seconds/);
    } finally {
      await own.close();
    }
  });
});

describe('password re-hash at sign-in', () => {
  /** A hash as stored before issue 19 raised N: scrypt N=2^15, r=8, p=1. */
  function legacyHash(password: string): string {
    const salt = randomBytes(16);
    const key = scryptSync(password, salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    return ['scrypt', 2 ** 15, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
  }

  /** A tenant whose owner has NEW_PASSWORD stored with the old parameters. */
  async function legacyOwner(name: string) {
    const tenant = await ownerTenant(name);
    const oldHash = legacyHash(NEW_PASSWORD);
    await withTenant(owner, tenant.id, (tx) =>
      tx.update(users).set({ passwordHash: oldHash, mustChangePassword: false }).where(eq(users.id, tenant.owner.userId)),
    );
    const storedHash = async () =>
      withTenant(owner, tenant.id, async (tx) => (await tx.select().from(users).where(eq(users.id, tenant.owner.userId)))[0]!.passwordHash);
    return { tenant, oldHash, storedHash, creds: { tenant: tenant.slug, email: tenant.owner.email, password: NEW_PASSWORD } };
  }

  it('a user with a 2^15 hash signs in, gets a 2^17 hash in its place, and still signs in', async () => {
    const { server: own } = await serverWithClock();
    try {
      const { tenant, oldHash, storedHash, creds } = await legacyOwner('Rehash');
      // A wrong password leaves the old hash alone.
      const wrong = await trpcError(own.client().auth.login.mutate({ ...creds, password: 'not the password' }));
      expect(wrong).toMatchObject({ httpStatus: 401, reason: 'INVALID_CREDENTIALS' });
      expect(await storedHash()).toBe(oldHash);

      const first = await own.client().auth.login.mutate(creds);
      expect(first).toMatchObject({ mustChangePassword: false, user: { id: tenant.owner.userId } });
      const rehashed = await storedHash();
      expect(rehashed).toMatch(/^scrypt\$131072\$8\$1\$/);

      // Not a password change: the session opened with the old hash keeps working.
      const second = await own.client().auth.login.mutate(creds);
      expect(await storedHash()).toBe(rehashed);
      for (const token of [first.token, second.token]) expect(await own.client(token).orders.list.query({})).toMatchObject({ items: [] });
      expect(await auditRows(tenant.id, 'auth.login')).toHaveLength(2);
      const audit = JSON.stringify(await withTenant(owner, tenant.id, (tx) => tx.select().from(auditEvents)));
      expect(audit).not.toContain(NEW_PASSWORD);
      expect(audit).not.toMatch(/scrypt/);
    } finally {
      await own.close();
    }
  });

  it('concurrent sign-ins of a user with a 2^15 hash all succeed; one re-hash is kept', async () => {
    const { tenant, storedHash, creds } = await legacyOwner('Rehash race');
    const logins = await Promise.all([1, 2, 3].map(() => server.client().auth.login.mutate(creds)));
    expect(await storedHash()).toMatch(/^scrypt\$131072\$8\$1\$/);
    for (const { token } of logins) expect(await server.client(token).orders.list.query({})).toMatchObject({ items: [] });
    expect(await auditRows(tenant.id, 'auth.login')).toHaveLength(3);
  });
});
