/**
 * The operator CLI as operators run it: `node scripts/palisade.mjs …` in a child process, connected
 * with the owner's DATABASE_URL. Checks stdout, stderr and exit codes, that printed secrets work
 * against a real server, and the database state each command leaves.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool, type Sql } from '../db/client.js';
import { rolePinning } from '../db/roles.js';
import { withTenant } from '../db/tenant-tx.js';
import { CredentialCache } from '../src/modules/credentials/credential-cache.js';
import { resolveCredential } from '../src/modules/credentials/credentials.service.js';
import { appPool, makeTenant, makeTenantWithOrders, ownerPool, pg, randomSlug, startServer, trpcError, type TestServer } from './harness.js';

/** Each child process starts tsx (~1 s, more on a busy machine); some tests run several in a row. */
const SLOW = { timeout: 120_000 };
const root = path.resolve(import.meta.dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-cli-'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One CLI run. The child gets the owner's URL and none of the other database settings. */
function palisade(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'APP_DATABASE_URL', 'PLATFORM_DATABASE_URL', 'PALISADE_DATA_DIR'].includes(k)),
  );
  const merged = Object.entries({ ...base, DATABASE_URL: pg.ownerUrl, ...env }).filter((e): e is [string, string] => e[1] !== undefined);
  const child = spawn(process.execPath, ['scripts/palisade.mjs', ...args], { cwd: root, env: Object.fromEntries(merged) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A run that must succeed, with its --json output parsed. */
async function json<T>(args: string[]): Promise<T> {
  const run = await palisade([...args, '--json']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as T;
}

/** A failure is exactly one line on stderr, nothing on stdout, no stack trace. */
function expectOneLineFailure(run: Run, code: number, pattern: RegExp) {
  expect(run.code).toBe(code);
  expect(run.stdout).toBe('');
  expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(run.stderr).toMatch(/^palisade: /);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  expect(run.stderr.trimEnd()).toMatch(pattern);
}

let owner: Sql;
let app: Sql;
let server: TestServer;
const operator = os.userInfo().username;

beforeAll(async () => {
  owner = ownerPool();
  app = appPool();
  // The CLI is another process: a caching server hears of its changes through Redis, or sees them
  // after CREDENTIAL_CACHE_TTL_MS (test/credential-cache.test.ts). This file checks the CLI itself,
  // so its server asks the database on every request.
  server = await startServer(app, { deps: { credentialCache: new CredentialCache({ ttlMs: 0 }) } });
});
afterAll(async () => {
  await server?.close();
  await app?.end();
  await owner?.end();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const ordersWith = (key: string) => server.client(key).orders.list.query({});

describe('tenant create', SLOW, () => {
  it('prints a working owner key and temporary password once, as JSON or labelled text', async () => {
    const slug = randomSlug('cli');
    const textSlug = randomSlug('cli');
    const [created, text] = await Promise.all([
      json<{ id: string; slug: string; name: string; apiKey: string; owner: { email: string; temporaryPassword: string } }>([
        'tenant', 'create', '--name', 'Acme Corp', '--slug', slug, '--owner-email', 'Ann@Acme.example',
      ]),
      palisade(['tenant', 'create', '--name', 'Text Corp', '--slug', textSlug, '--owner-email', 'bo@text.example']),
    ]);
    expect(created).toMatchObject({ slug, name: 'Acme Corp', owner: { email: 'ann@acme.example' } });
    expect(created.owner.temporaryPassword.length).toBeGreaterThan(8);
    await expect(ordersWith(created.apiKey)).resolves.toMatchObject({ items: [] });

    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`slug:\\s+${textSlug}`));
    expect(text.stdout).toMatch(/Owner API key — shown once, store it now:\n {2}pk_/);
    expect(text.stdout).toMatch(/Temporary password for bo@text\.example \(must be changed at first sign-in\) — shown once, store it now:\n {2}\S+/);
    const textKey = /\n {2}(pk_\S+)\n/.exec(text.stdout)![1]!;
    await expect(ordersWith(textKey)).resolves.toMatchObject({ items: [] });

    const [row] = await owner`select name, status from tenants where id = ${created.id}`;
    expect(row).toEqual({ name: 'Acme Corp', status: 'active' });
    const [event] = await owner`
      select actor_type, actor_id from platform_audit_events where action = 'tenant.create' and target_tenant_id = ${created.id}`;
    expect(event).toEqual({ actor_type: 'cli', actor_id: operator });
    const users = await withTenant(owner, created.id, (tx) => tx.$client`select email, role, must_change_password from users`);
    expect([...users]).toEqual([{ email: 'ann@acme.example', role: 'owner', must_change_password: true }]);
  });

  it('refuses an invalid or taken slug with one line, exit 1', async () => {
    const taken = await makeTenant(owner);
    const [bad, dup] = await Promise.all([
      palisade(['tenant', 'create', '--name', 'X', '--slug', 'Not A Slug', '--owner-email', 'x@x.example']),
      palisade(['tenant', 'create', '--name', 'X', '--slug', taken.slug, '--owner-email', 'x@x.example']),
    ]);
    expectOneLineFailure(bad, 1, /--slug: expected lowercase letters/);
    expectOneLineFailure(dup, 1, /already taken.*\(SLUG_TAKEN\)/);
  });
});

describe('tenant list, stats, suspend, resume', SLOW, () => {
  it('lists and counts, and suspending refuses the tenant’s keys until it is resumed', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 4, 'Listed Corp');
    const [listed, table, stats] = await Promise.all([
      json<{ items: { id: string; slug: string; status: string }[] }>(['tenant', 'list', '--search', tenant.slug]),
      palisade(['tenant', 'list', '--search', tenant.slug]),
      json<{ tenantId: string; apiKeys: { active: number }; tables: { table: string; rows: number }[] }>(['tenant', 'stats', tenant.slug]),
    ]);
    expect(listed.items).toEqual([expect.objectContaining({ id: tenant.id, slug: tenant.slug, status: 'active' })]);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+SLUG\s+NAME\s+STATUS\s+CREATED$/);
    expect(table.stdout).toMatch(new RegExp(`${tenant.slug}\\s+Listed Corp\\s+active`));
    expect(stats.tenantId).toBe(tenant.id);
    expect(stats.apiKeys.active).toBe(1);
    expect(stats.tables.find((t) => t.table === 'orders')?.rows).toBe(4);

    const suspended = await palisade(['tenant', 'suspend', tenant.id, '--reason', 'invoice overdue']);
    expect(suspended.code).toBe(0);
    expect(suspended.stdout).toMatch(/Suspended tenant/);
    expect(await trpcError(ordersWith(tenant.apiKey))).toMatchObject({ httpStatus: 403, reason: 'TENANT_SUSPENDED' });
    const [event] = await owner`
      select actor_type, details->>'reason' as reason from platform_audit_events
      where action = 'tenant.suspend' and target_tenant_id = ${tenant.id}`;
    expect(event).toEqual({ actor_type: 'cli', reason: 'invoice overdue' });
    const onlySuspended = await json<{ items: { id: string }[] }>(['tenant', 'list', '--status', 'suspended', '--search', tenant.slug]);
    expect(onlySuspended.items.map((t) => t.id)).toEqual([tenant.id]);

    const resumed = await json<{ status: string }>(['tenant', 'resume', tenant.slug]);
    expect(resumed.status).toBe('active');
    await expect(ordersWith(tenant.apiKey)).resolves.toMatchObject({ items: expect.any(Array) });
  });

  it('answers an unknown tenant with NOT_FOUND, exit 1', async () => {
    expectOneLineFailure(await palisade(['tenant', 'stats', randomSlug('missing')]), 1, /tenant ".*" not found \(NOT_FOUND\)/);
  });
});

describe('key create, list, rotate, revoke', SLOW, () => {
  it('manages a tenant’s keys as its owner, each printed secret working until revoked', async () => {
    const tenant = await makeTenant(owner);
    const created = await json<{ key: { id: string; role: string; rateLimit: string }; secret: string }>([
      'key', 'create', '--tenant', tenant.slug, '--name', 'ci', '--role', 'analyst', '--rate-limit', '100/minute',
    ]);
    expect(created.key).toMatchObject({ role: 'analyst', rateLimit: '100/minute' });
    await expect(ordersWith(created.secret)).resolves.toBeDefined();

    const rotated = await json<{ key: { id: string }; secret: string; previous: { id: string; expiresAt: string } }>([
      'key', 'rotate', '--tenant', tenant.slug, created.key.id, '--grace-days', '1',
    ]);
    expect(rotated.previous.id).toBe(created.key.id);
    expect(Date.parse(rotated.previous.expiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
    await expect(ordersWith(rotated.secret)).resolves.toBeDefined();
    await expect(ordersWith(created.secret)).resolves.toBeDefined();

    const revoked = await palisade(['key', 'revoke', '--tenant', tenant.id, rotated.key.id]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/Revoked API key "ci"/);
    expect(await trpcError(ordersWith(rotated.secret))).toMatchObject({ httpStatus: 401, reason: 'KEY_REVOKED' });

    const [listed, table] = await Promise.all([
      json<{ items: { id: string; status: string }[] }>(['key', 'list', '--tenant', tenant.slug]),
      palisade(['key', 'list', '--tenant', tenant.slug]),
    ]);
    const status = Object.fromEntries(listed.items.map((k) => [k.id, k.status]));
    expect(listed.items).toHaveLength(3);
    expect(status[rotated.key.id]).toBe('revoked');
    expect(status[created.key.id]).toBe('expiring');
    expect(Object.values(status).filter((s) => s === 'active')).toHaveLength(1);
    expect(table.stdout).toMatch(/\bci\s+analyst\s+pk_\S+\s+revoked/);
    expect(table.stdout).not.toContain(created.secret);

    const events = await withTenant(owner, tenant.id, (tx) =>
      tx.$client`select action, actor_type, actor_id from audit_events where action like 'api_key.%' and actor_type = 'cli' order by at`,
    );
    expect(events.map((e) => e.action)).toEqual(['api_key.create', 'api_key.rotate', 'api_key.revoke']);
    expect(events.every((e) => e.actor_id === operator)).toBe(true);
  });

  it('refuses bad input naming the field (exit 1) and another tenant’s key id (NOT_FOUND)', async () => {
    const [a, b] = await Promise.all([makeTenant(owner), makeTenant(owner)]);
    const [bRow] = await withTenant(owner, b.id, (tx) => tx.$client`select id from api_keys`);
    const [role, rate, foreign, notUuid] = await Promise.all([
      palisade(['key', 'create', '--tenant', a.slug, '--name', 'x', '--role', 'superuser']),
      palisade(['key', 'create', '--tenant', a.slug, '--name', 'x', '--role', 'viewer', '--rate-limit', 'lots']),
      palisade(['key', 'revoke', '--tenant', a.slug, bRow!.id as string]),
      palisade(['key', 'rotate', '--tenant', a.slug, 'nope']),
    ]);
    expectOneLineFailure(role, 1, /^palisade: --role: .*viewer/);
    expectOneLineFailure(rate, 1, /^palisade: --rate-limit: expected "<n>\/<second\|minute\|hour>"/);
    expectOneLineFailure(foreign, 1, /API key not found \(NOT_FOUND\)/);
    expectOneLineFailure(notUuid, 1, /^palisade: <keyId>: /);
    const [count] = await withTenant(owner, b.id, (tx) => tx.$client`select count(*)::int as n from api_keys where revoked_at is null`);
    expect(count!.n).toBe(1);
  });
});

describe('user create, list', SLOW, () => {
  it('creates a user with a temporary password printed once and lists them', async () => {
    const tenant = await makeTenant(owner);
    const [created, text] = await Promise.all([
      json<{ user: { id: string; email: string; role: string }; temporaryPassword: string }>([
        'user', 'create', '--tenant', tenant.slug, '--email', 'Viv@Example.com', '--name', 'Viv', '--role', 'viewer',
      ]),
      palisade(['user', 'create', '--tenant', tenant.slug, '--email', 'wes@example.com', '--name', 'Wes', '--role', 'analyst']),
    ]);
    expect(created.user).toMatchObject({ email: 'viv@example.com', role: 'viewer' });
    expect(created.temporaryPassword.length).toBeGreaterThan(8);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Temporary password for wes@example\.com \(must be changed at first sign-in\) — shown once, store it now:\n {2}\S+/);

    const listed = await json<{ items: { email: string; role: string }[] }>(['user', 'list', '--tenant', tenant.slug]);
    expect(listed.items.map((u) => [u.email, u.role])).toEqual([
      ['viv@example.com', 'viewer'],
      ['wes@example.com', 'analyst'],
    ]);
    const rows = await withTenant(owner, tenant.id, (tx) => tx.$client`select email, must_change_password from users order by email`);
    expect([...rows]).toEqual([
      { email: 'viv@example.com', must_change_password: true },
      { email: 'wes@example.com', must_change_password: true },
    ]);

    const dup = await palisade(['user', 'create', '--tenant', tenant.slug, '--email', 'viv@example.com', '--name', 'V', '--role', 'viewer']);
    expectOneLineFailure(dup, 1, /\(EMAIL_TAKEN\)$/);
  });
});

describe('tenant export, import, delete', SLOW, () => {
  const counts = (id: string) =>
    withTenant(owner, id, async (tx) => {
      const [row] = await tx.$client`
        select (select count(*)::int from customers) as customers, (select count(*)::int from orders) as orders,
               (select count(*)::int from api_keys) as api_keys, (select count(*)::int from users) as users`;
      return { ...row };
    });

  it('exports to a file and imports it into a new slug with the same rows', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 5);
    const file = path.join(tmp, `${tenant.slug}.json`);
    const exported = await palisade(['tenant', 'export', tenant.slug, '--out', file]);
    expect(exported.code).toBe(0);
    expect(exported.stdout).toMatch(new RegExp(`Exported tenant ${tenant.slug} to `));
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toMatchObject({ format: 'palisade-tenant-export', tenant: { id: tenant.id } });

    // Without --out the bundle itself is stdout, ready for a pipe.
    const piped = await palisade(['tenant', 'export', tenant.id]);
    expect(piped.code).toBe(0);
    const withoutTime = (text: string) => ({ ...(JSON.parse(text) as Record<string, unknown>), exportedAt: null });
    expect(withoutTime(piped.stdout)).toEqual(withoutTime(fs.readFileSync(file, 'utf8')));

    const copySlug = randomSlug('copy');
    const imported = await json<{ tenantId: string; slug: string; imported: Record<string, number> }>([
      'tenant', 'import', '--file', file, '--slug', copySlug, '--name', 'The copy',
    ]);
    expect(imported.slug).toBe(copySlug);
    expect(imported.imported).toMatchObject({ orders: 5, customers: 1 });
    expect(await counts(imported.tenantId)).toEqual(await counts(tenant.id));
    const [row] = await owner`select name from tenants where id = ${imported.tenantId}`;
    expect(row!.name).toBe('The copy');

    const [again, missing] = await Promise.all([
      palisade(['tenant', 'import', '--file', file, '--slug', copySlug]),
      palisade(['tenant', 'import', '--file', path.join(tmp, 'nope.json')]),
    ]);
    expectOneLineFailure(again, 1, /\(SLUG_TAKEN\)$/);
    expectOneLineFailure(missing, 1, /^palisade: --file: cannot read/);
  });

  it('issues a per-tenant database role held to the tenant, and drops it', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 2);
    const issued = await json<{ role: string; created: boolean; appDatabaseUrl: string }>(['tenant', 'db-role', tenant.slug]);
    expect(issued).toMatchObject({ role: `palisade_tenant_${tenant.id.replace(/-/g, '')}`, created: true });
    const asRole = openPool(issued.appDatabaseUrl, { max: 1 });
    try {
      await expect(rolePinning(asRole)).resolves.toEqual({ role: issued.role, tenantId: tenant.id });
    } finally {
      await asRole.end();
    }
    const text = await palisade(['tenant', 'db-role', tenant.id]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Gave a new password to role ${issued.role}`);
    expect(text.stdout).toMatch(/APP_DATABASE_URL — shown once, store it now:\n {2}postgres(ql)?:\/\//);
    expect(await json(['tenant', 'db-role', tenant.slug, '--drop'])).toEqual({ role: issued.role, dropped: true });
    expect(await owner`select 1 from pg_roles where rolname = ${issued.role}`).toHaveLength(0);
    expect(await json(['tenant', 'db-role', tenant.slug, '--drop'])).toEqual({ role: issued.role, dropped: false });
    const audited = await owner<{ action: string }[]>`
      select action from platform_audit_events where target_tenant_id = ${tenant.id} and action like 'tenant.db_role%' order by at`;
    expect(audited.map((r) => r.action)).toEqual(['tenant.db_role_create', 'tenant.db_role_password', 'tenant.db_role_drop']);
  });

  it('deletes only with the right confirmation', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 2);
    const wrong = await palisade(['tenant', 'delete', tenant.slug, '--confirm', 'something-else']);
    expectOneLineFailure(wrong, 1, /nothing was deleted.*\(CONFIRMATION_MISMATCH\)$/);
    expect((await counts(tenant.id)).orders).toBe(2);

    const deleted = await json<{ tenantId: string; deleted: Record<string, number> }>(['tenant', 'delete', tenant.id, '--confirm', tenant.slug]);
    expect(deleted.deleted).toMatchObject({ orders: 2, customers: 1 });
    expect(await owner`select 1 from tenants where id = ${tenant.id}`).toHaveLength(0);
    expect(await trpcError(ordersWith(tenant.apiKey))).toMatchObject({ httpStatus: 401 });
  });
});

describe('admin-key, usage and failures', SLOW, () => {
  it('mints a platform-admin key that resolves', async () => {
    const name = randomSlug('ops');
    const created = await json<{ name: string; apiKey: string }>(['admin-key', 'create', '--name', name]);
    expect(created.name).toBe(name);
    await expect(resolveCredential(app, created.apiKey, new Date())).resolves.toMatchObject({ kind: 'platform' });
    expect(await owner`select 1 from platform_admin_keys where name = ${name}`).toHaveLength(1);
  });

  it('answers usage errors with exit 2, help with exit 0, and keeps `palisade audit` working', async () => {
    // A data directory whose Postgres is running (this process stands in for it): the CLI must not stop it.
    const busyDir = path.join(tmp, 'busy');
    fs.mkdirSync(path.join(busyDir, 'pg'), { recursive: true });
    fs.writeFileSync(path.join(busyDir, 'pg', 'postmaster.pid'), `${process.pid}\n`);
    const [unknown, badAction, badOption, help, commandHelp, audit, unreachable, busy] = await Promise.all([
      palisade(['frobnicate']),
      palisade(['tenant', 'explode']),
      palisade(['tenant', 'list', '--colour']),
      palisade(['--help']),
      palisade(['key', 'rotate', '--help']),
      palisade(['audit', '--help']),
      palisade(['tenant', 'list'], { DATABASE_URL: 'postgres://nobody:x@127.0.0.1:1/none' }),
      palisade(['tenant', 'list'], { DATABASE_URL: undefined, PALISADE_DATA_DIR: busyDir }),
    ]);
    expectOneLineFailure(unknown, 2, /unknown command "frobnicate"; usage: palisade <tenant\|key\|user\|admin-key\|seed\|citus\|audit>/);
    expectOneLineFailure(badAction, 2, /unknown action "explode"; usage: palisade tenant <create\|list\|/);
    expectOneLineFailure(badOption, 2, /Unknown option '--colour'/);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/tenant create[\s\S]*admin-key create[\s\S]*citus distribute[\s\S]*audit/);
    expect(commandHelp.code).toBe(0);
    expect(commandHelp.stdout).toMatch(/^usage: palisade key rotate --tenant <slug\|id> <keyId> \[--grace-days <n>\]/);
    expect(audit).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: npm run audit/) });
    expectOneLineFailure(unreachable, 2, /cannot reach the database at 127\.0\.0\.1:1\/none/);
    expectOneLineFailure(busy, 2, new RegExp(`in use by a running server \\(Postgres pid ${process.pid}\\)`));
  });
});
