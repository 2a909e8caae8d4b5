/**
 * users.* over real HTTP with the typed client: creating users with a temporary password, listing,
 * renaming, role changes, disabling, deleting; the role ceiling (INSUFFICIENT_ROLE), the last-owner
 * rule (LAST_OWNER), per-tenant email uniqueness, tenant isolation, and the audit rows each change
 * leaves. Every test provisions its own tenant.
 */
import { and, eq, isNull } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, auditEvents, sessions, users, type TenantRole } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { generateTenantKey } from '../src/lib/api-key.js';
import { verifyPassword } from '../src/lib/password.js';
import type { ProvisionedTenant } from '../src/modules/tenants/tenants.service.js';
import { buildAuthCases, expectAuthFailures, randomId, type AuthCase } from './auth-cases.js';
import { makeTenant, trpcError, type TestServer, useServer } from './harness.js';

const { owner, server } = useServer();

const NEW_PASSWORD = 'correct horse battery staple';

async function keyWithRole(tenant: ProvisionedTenant, role: TenantRole): Promise<string> {
  const key = generateTenantKey(tenant.slug);
  await withTenant(owner, tenant.id, (tx) => tx.insert(apiKeys).values({ name: role, role, keyHash: key.hash, keyStart: key.start }));
  return key.secret;
}

function userRow(tenantId: string, userId: string) {
  return withTenant(owner, tenantId, async (tx) => (await tx.select().from(users).where(eq(users.id, userId)))[0]);
}

function auditRows(tenantId: string, action: string) {
  return withTenant(owner, tenantId, (tx) => tx.select().from(auditEvents).where(eq(auditEvents.action, action)));
}

/** Signs a user in with their temporary password and sets a real one: a working session token. */
async function signedIn(tenant: ProvisionedTenant, email: string, temporaryPassword: string): Promise<string> {
  const { token } = await server.client().auth.login.mutate({ tenant: tenant.slug, email, password: temporaryPassword });
  await server.client(token).auth.changePassword.mutate({ currentPassword: temporaryPassword, newPassword: NEW_PASSWORD });
  return token;
}

describe('users.create', () => {
  it('returns the user and a temporary password shown once; stores only its scrypt hash', async () => {
    const tenant = await makeTenant(owner, 'Create');
    const result = await server.client(tenant.apiKey).users.create.mutate({ email: '  Ana@Example.COM ', name: ' Ana ', role: 'analyst' });

    expect(result.temporaryPassword).toMatch(/^[A-Za-z0-9]{4}(-[A-Za-z0-9]{4}){3}$/);
    expect(result.user).toEqual({
      id: expect.any(String),
      email: 'ana@example.com',
      name: 'Ana',
      role: 'analyst',
      mustChangePassword: true,
      disabledAt: null,
      createdAt: expect.any(String),
      lastLoginAt: null,
    });
    expect(JSON.stringify(result)).not.toMatch(/scrypt|passwordHash/);

    const row = await userRow(tenant.id, result.user.id);
    expect(row).toMatchObject({ email: 'ana@example.com', role: 'analyst', mustChangePassword: true });
    expect(row!.passwordHash).toMatch(/^scrypt\$/);
    expect(row!.passwordHash).not.toContain(result.temporaryPassword);
    expect(await verifyPassword(result.temporaryPassword, row!.passwordHash)).toBe(true);

    const [event] = await auditRows(tenant.id, 'user.create');
    expect(event).toMatchObject({ actorType: 'api_key', targetType: 'user', targetId: result.user.id, details: { email: 'ana@example.com', role: 'analyst' } });
  });

  it('email is unique within a tenant (EMAIL_TAKEN, any case) but free in another tenant', async () => {
    const [a, b] = await Promise.all([makeTenant(owner, 'A'), makeTenant(owner, 'B')]);
    await server.client(a.apiKey).users.create.mutate({ email: 'sam@shared.example', name: 'Sam', role: 'viewer' });

    const error = await trpcError(server.client(a.apiKey).users.create.mutate({ email: 'SAM@shared.example', name: 'Sam 2', role: 'viewer' }));
    expect(error).toMatchObject({ httpStatus: 409, reason: 'EMAIL_TAKEN' });
    expect(error.message).toContain('sam@shared.example');

    const inB = await server.client(b.apiKey).users.create.mutate({ email: 'sam@shared.example', name: 'Sam in B', role: 'viewer' });
    expect(inB.user.email).toBe('sam@shared.example');
    const inA = await withTenant(owner, a.id, (tx) => tx.select().from(users).where(eq(users.email, 'sam@shared.example')));
    expect(inA.map((u) => u.name)).toEqual(['Sam']);
    expect(await auditRows(a.id, 'user.create')).toHaveLength(1);
  });

  it('refuses bad input with 400 naming the field', async () => {
    const client = server.client((await makeTenant(owner, 'Bad input')).apiKey);
    const cases = [
      [{ email: 'not-an-email', name: 'X', role: 'viewer' }, 'email'],
      [{ email: 'x@y.example', name: '   ', role: 'viewer' }, 'name'],
      [{ email: 'x@y.example', name: 'X', role: 'superuser' }, 'role'],
    ] as const;
    for (const [input, field] of cases) {
      const error = await trpcError(client.users.create.mutate(input as never));
      expect(error).toMatchObject({ httpStatus: 400, reason: 'INVALID_INPUT' });
      expect(error.issues?.map((i) => i.path)).toEqual([field]);
      expect(error.message).toContain(`${field}:`);
    }
  });
});

describe('users.list', () => {
  it('filters by search and role and pages with nextOffset; never shows hashes', async () => {
    const tenant = await makeTenant(owner, 'List', { withOwner: true });
    const client = server.client(tenant.apiKey);
    for (const [email, name, role] of [
      ['bea@list.example', 'Beatrice', 'viewer'],
      ['carl@list.example', 'Carl 100%', 'analyst'],
      ['dora@list.example', 'Dora', 'viewer'],
    ] as const) {
      await client.users.create.mutate({ email, name, role });
    }

    const all = await client.users.list.query({});
    expect(all.items.map((u) => u.email)).toEqual(['bea@list.example', 'carl@list.example', 'dora@list.example', tenant.owner!.email]);
    expect(all.nextOffset).toBeNull();
    expect(JSON.stringify(all)).not.toMatch(/scrypt|passwordHash/);

    expect((await client.users.list.query({ role: 'viewer' })).items.map((u) => u.name)).toEqual(['Beatrice', 'Dora']);
    expect((await client.users.list.query({ search: 'DOR' })).items.map((u) => u.name)).toEqual(['Dora']);
    // LIKE wildcards in the search are literal.
    expect((await client.users.list.query({ search: '100%' })).items.map((u) => u.name)).toEqual(['Carl 100%']);
    expect((await client.users.list.query({ search: '_' })).items).toEqual([]);

    const first = await client.users.list.query({ limit: 3 });
    expect(first.nextOffset).toBe(3);
    const second = await client.users.list.query({ limit: 3, offset: 3 });
    expect(second).toEqual({ items: [expect.objectContaining({ email: tenant.owner!.email })], nextOffset: null });

    const error = await trpcError(client.users.list.query({ limit: 0 }));
    expect(error).toMatchObject({ httpStatus: 400 });
    expect(error.issues?.map((i) => i.path)).toEqual(['limit']);
  });

  it("shows only the caller's tenant", async () => {
    const [a, b] = await Promise.all([makeTenant(owner, 'A', { withOwner: true }), makeTenant(owner, 'B', { withOwner: true })]);
    const listed = await server.client(b.apiKey).users.list.query({});
    expect(listed.items.map((u) => u.id)).toEqual([b.owner!.userId]);
    expect(listed.items.map((u) => u.id)).not.toContain(a.owner!.userId);
  });
});

describe('users.update', () => {
  it('renames and changes the role, auditing only the changed fields', async () => {
    const tenant = await makeTenant(owner, 'Update');
    const client = server.client(tenant.apiKey);
    const { user } = await client.users.create.mutate({ email: 'eve@u.example', name: 'Eve', role: 'viewer' });

    const updated = await client.users.update.mutate({ userId: user.id, name: 'Eve Adams', role: 'admin' });
    expect(updated).toMatchObject({ id: user.id, name: 'Eve Adams', role: 'admin', disabledAt: null });
    expect(await userRow(tenant.id, user.id)).toMatchObject({ name: 'Eve Adams', role: 'admin' });

    // Nothing changes: no event.
    await client.users.update.mutate({ userId: user.id, role: 'admin' });
    const events = await auditRows(tenant.id, 'user.update');
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toEqual({ changed: { name: { from: 'Eve', to: 'Eve Adams' }, role: { from: 'viewer', to: 'admin' } } });
  });

  it("disabling ends the user's sessions; enabling lets them sign in again", async () => {
    const tenant = await makeTenant(owner, 'Disable');
    const admin = server.client(tenant.apiKey);
    const { user, temporaryPassword } = await admin.users.create.mutate({ email: 'fay@d.example', name: 'Fay', role: 'analyst' });
    const token = await signedIn(tenant, 'fay@d.example', temporaryPassword);
    expect(await server.client(token).orders.list.query({})).toMatchObject({ items: [] });

    const disabled = await admin.users.update.mutate({ userId: user.id, disabled: true });
    expect(disabled.disabledAt).not.toBeNull();
    expect(await trpcError(server.client(token).orders.list.query({}))).toMatchObject({ httpStatus: 401 });
    const sessionRows = await withTenant(owner, tenant.id, (tx) => tx.select().from(sessions).where(eq(sessions.userId, user.id)));
    expect(sessionRows.length).toBeGreaterThan(0);
    expect(sessionRows.every((s) => s.revokedAt !== null)).toBe(true);
    expect(await auditRows(tenant.id, 'user.disable')).toMatchObject([{ targetId: user.id, details: { revokedSessions: 1 } }]);
    const refused = await trpcError(server.client().auth.login.mutate({ tenant: tenant.slug, email: 'fay@d.example', password: NEW_PASSWORD }));
    expect(refused).toMatchObject({ httpStatus: 401, reason: 'INVALID_CREDENTIALS' });

    const enabled = await admin.users.update.mutate({ userId: user.id, disabled: false });
    expect(enabled.disabledAt).toBeNull();
    expect((await userRow(tenant.id, user.id))!.disabledAt).toBeNull();
    expect(await auditRows(tenant.id, 'user.enable')).toHaveLength(1);
    const again = await server.client().auth.login.mutate({ tenant: tenant.slug, email: 'fay@d.example', password: NEW_PASSWORD });
    expect(await server.client(again.token).orders.list.query({})).toMatchObject({ items: [] });
  });

  it('refuses bad input with 400 naming the field', async () => {
    const client = server.client((await makeTenant(owner, 'Bad update')).apiKey);
    const notUuid = await trpcError(client.users.update.mutate({ userId: 'nope', name: 'x' }));
    expect(notUuid.issues?.map((i) => i.path)).toEqual(['userId']);
    const nothing = await trpcError(client.users.update.mutate({ userId: randomId() }));
    expect(nothing).toMatchObject({ httpStatus: 400 });
    expect(nothing.message).toContain('nothing to update');
    const badRole = await trpcError(client.users.update.mutate({ userId: randomId(), role: 'root' as never }));
    expect(badRole.issues?.map((i) => i.path)).toEqual(['role']);
  });
});

describe('users.delete', () => {
  it('deletes the user with their sessions and audits it', async () => {
    const tenant = await makeTenant(owner, 'Delete');
    const admin = server.client(tenant.apiKey);
    const { user, temporaryPassword } = await admin.users.create.mutate({ email: 'gil@del.example', name: 'Gil', role: 'viewer' });
    const token = await signedIn(tenant, 'gil@del.example', temporaryPassword);

    expect(await admin.users.delete.mutate({ userId: user.id })).toEqual({ id: user.id });
    expect(await userRow(tenant.id, user.id)).toBeUndefined();
    const left = await withTenant(owner, tenant.id, (tx) => tx.select().from(sessions).where(eq(sessions.userId, user.id)));
    expect(left).toEqual([]);
    expect(await trpcError(server.client(token).auth.whoami.query())).toMatchObject({ httpStatus: 401, reason: 'KEY_UNKNOWN' });
    expect(await auditRows(tenant.id, 'user.delete')).toMatchObject([{ targetId: user.id, details: { email: 'gil@del.example', role: 'viewer' } }]);
    expect(await trpcError(admin.users.delete.mutate({ userId: user.id }))).toMatchObject({ httpStatus: 404 });
  });
});

describe('roles', () => {
  it('viewer and analyst credentials (keys or users) get INSUFFICIENT_ROLE on every users.* procedure', async () => {
    const tenant = await makeTenant(owner, 'Roles');
    const admin = server.client(tenant.apiKey);
    const { user: target } = await admin.users.create.mutate({ email: 'target@r.example', name: 'Target', role: 'viewer' });
    const viewerUser = await admin.users.create.mutate({ email: 'viewer@r.example', name: 'Viewer', role: 'viewer' });
    const credentials = [
      await keyWithRole(tenant, 'viewer'),
      await keyWithRole(tenant, 'analyst'),
      await signedIn(tenant, 'viewer@r.example', viewerUser.temporaryPassword),
    ];
    for (const credential of credentials) {
      const client = server.client(credential);
      for (const call of [
        () => client.users.list.query({}),
        () => client.users.create.mutate({ email: 'new@r.example', name: 'New', role: 'viewer' }),
        () => client.users.update.mutate({ userId: target.id, name: 'Hacked' }),
        () => client.users.delete.mutate({ userId: target.id }),
      ]) {
        expect(await trpcError(call())).toMatchObject({ httpStatus: 403, reason: 'INSUFFICIENT_ROLE' });
      }
    }
    expect(await userRow(tenant.id, target.id)).toMatchObject({ name: 'Target' });
    const created = await withTenant(owner, tenant.id, (tx) => tx.select().from(users).where(eq(users.email, 'new@r.example')));
    expect(created).toEqual([]);
  });

  it('an admin cannot grant owner nor touch an owner, but manages admins and below', async () => {
    const tenant = await makeTenant(owner, 'Admin ceiling', { withOwner: true });
    const admin = server.client(await keyWithRole(tenant, 'admin'));
    const ownerId = tenant.owner!.userId;

    for (const call of [
      () => admin.users.create.mutate({ email: 'boss@c.example', name: 'Boss', role: 'owner' }),
      () => admin.users.update.mutate({ userId: ownerId, name: 'Renamed' }),
      () => admin.users.update.mutate({ userId: ownerId, disabled: true }),
      () => admin.users.delete.mutate({ userId: ownerId }),
    ]) {
      const error = await trpcError(call());
      expect(error).toMatchObject({ httpStatus: 403, reason: 'INSUFFICIENT_ROLE' });
      expect(error.message).toMatch(/owner/);
    }
    const { user } = await admin.users.create.mutate({ email: 'peer@c.example', name: 'Peer', role: 'admin' });
    expect(await trpcError(admin.users.update.mutate({ userId: user.id, role: 'owner' }))).toMatchObject({ reason: 'INSUFFICIENT_ROLE' });
    expect(await admin.users.update.mutate({ userId: user.id, role: 'analyst' })).toMatchObject({ role: 'analyst' });
    expect(await userRow(tenant.id, ownerId)).toMatchObject({ role: 'owner', disabledAt: null, name: 'owner' });
    expect(await withTenant(owner, tenant.id, (tx) => tx.select().from(users).where(eq(users.role, 'owner')))).toHaveLength(1);
  });
});

describe('last owner', () => {
  it('refuses to demote, disable or delete the last active owner (LAST_OWNER); allows it once another owner exists', async () => {
    const tenant = await makeTenant(owner, 'Owners', { withOwner: true });
    const client = server.client(tenant.apiKey);
    const ownerId = tenant.owner!.userId;

    for (const call of [
      () => client.users.update.mutate({ userId: ownerId, role: 'admin' }),
      () => client.users.update.mutate({ userId: ownerId, disabled: true }),
      () => client.users.delete.mutate({ userId: ownerId }),
    ]) {
      expect(await trpcError(call())).toMatchObject({ httpStatus: 409, reason: 'LAST_OWNER' });
    }
    expect(await userRow(tenant.id, ownerId)).toMatchObject({ role: 'owner', disabledAt: null });
    expect(await auditRows(tenant.id, 'user.update')).toEqual([]);

    // A disabled owner does not count as an active one.
    const { user: second } = await client.users.create.mutate({ email: 'second@o.example', name: 'Second', role: 'owner' });
    await client.users.update.mutate({ userId: second.id, disabled: true });
    expect(await trpcError(client.users.delete.mutate({ userId: ownerId }))).toMatchObject({ reason: 'LAST_OWNER' });

    await client.users.update.mutate({ userId: second.id, disabled: false });
    expect(await client.users.update.mutate({ userId: ownerId, role: 'admin' })).toMatchObject({ role: 'admin' });
    expect(await trpcError(client.users.delete.mutate({ userId: second.id }))).toMatchObject({ reason: 'LAST_OWNER' });
  });

  it('two concurrent demotions of the only two owners cannot both pass', async () => {
    const tenant = await makeTenant(owner, 'Race', { withOwner: true });
    const client = server.client(tenant.apiKey);
    const { user: second } = await client.users.create.mutate({ email: 'two@race.example', name: 'Two', role: 'owner' });
    const outcome = (call: Promise<unknown>) => call.then(
      () => 'ok',
      (error: { data?: { reason?: string } }) => error.data?.reason,
    );
    const results = await Promise.all([
      outcome(client.users.update.mutate({ userId: tenant.owner!.userId, role: 'admin' })),
      outcome(client.users.update.mutate({ userId: second.id, role: 'admin' })),
    ]);
    // The loser waits for the winner's locks and then sees it was the last owner: no deadlock, no 500.
    expect(results.sort()).toEqual(['LAST_OWNER', 'ok']);
    const owners = await withTenant(owner, tenant.id, (tx) => tx.select().from(users).where(and(eq(users.role, 'owner'), isNull(users.disabledAt))));
    expect(owners).toHaveLength(1);
  });

  it('a tenant without owner users may remove its other users freely', async () => {
    const tenant = await makeTenant(owner, 'No owner users');
    const client = server.client(tenant.apiKey);
    const { user } = await client.users.create.mutate({ email: 'only@n.example', name: 'Only', role: 'admin' });
    expect(await client.users.delete.mutate({ userId: user.id })).toEqual({ id: user.id });
  });
});

describe('isolation and credentials', () => {
  let a: ProvisionedTenant;
  let b: ProvisionedTenant;
  let authCases: AuthCase[];

  beforeAll(async () => {
    [a, b] = await Promise.all([makeTenant(owner, 'A', { withOwner: true }), makeTenant(owner, 'B')]);
    authCases = await buildAuthCases(owner, a);
  });

  it("tenant B on tenant A's userId answers NOT_FOUND exactly like a missing id", async () => {
    const client = server.client(b.apiKey);
    const target = a.owner!.userId;
    for (const call of [
      (id: string) => client.users.update.mutate({ userId: id, name: 'Stolen' }),
      (id: string) => client.users.update.mutate({ userId: id, disabled: true }),
      (id: string) => client.users.delete.mutate({ userId: id }),
    ]) {
      const foreign = await trpcError(call(target));
      const missing = await trpcError(call(randomId()));
      expect(foreign).toMatchObject({ httpStatus: 404, reason: 'NOT_FOUND' });
      expect(foreign).toEqual(missing);
    }
    expect(await userRow(a.id, target)).toMatchObject({ name: 'owner', disabledAt: null });
  });

  it.each([
    ['users.list', (c: ReturnType<TestServer['client']>) => c.users.list.query({})],
    ['users.create', (c: ReturnType<TestServer['client']>) => c.users.create.mutate({ email: `${randomId()}@x.example`, name: 'X', role: 'viewer' })],
    ['users.update', (c: ReturnType<TestServer['client']>) => c.users.update.mutate({ userId: a.owner!.userId, name: 'X' })],
    ['users.delete', (c: ReturnType<TestServer['client']>) => c.users.delete.mutate({ userId: a.owner!.userId })],
  ])('%s refuses every bad credential', async (_name, call) => {
    await expectAuthFailures(server, authCases, call);
    expect(await userRow(a.id, a.owner!.userId)).toMatchObject({ name: 'owner' });
  });
});
