/**
 * The tenant audit log and its API: each key change writes exactly one event (actor, target,
 * request id, source address) in the change's own transaction; tenants see only their own log;
 * filters and paging; the app role cannot rewrite history; platform admins read a tenant's log
 * only through an audited path.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { auditEvents } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { SQLSTATE, sqlState } from '../src/lib/pg-errors.js';
import { createPlatformAdminKey, type ProvisionedTenant } from '../src/modules/tenants/tenants.service.js';
import { buildAuthCases, expectAuthFailures } from './auth-cases.js';
import { makeTenant, trpcError, useServer } from './harness.js';

const { owner, app, server } = useServer();

const LOOPBACK = ['127.0.0.1', '::ffff:127.0.0.1'];

const eventRows = (tenantId: string) => withTenant(owner, tenantId, (tx) => tx.select().from(auditEvents));
const eventsOfRequest = (tenantId: string, requestId: string) =>
  withTenant(owner, tenantId, (tx) => tx.select().from(auditEvents).where(eq(auditEvents.requestId, requestId)));

/** A fresh tenant, and a client whose every call carries the given request id. */
async function tenantWithKeyId() {
  const tenant = await makeTenant(owner, 'Audited');
  const who = await server.client(tenant.apiKey).auth.whoami.query();
  if (who.kind !== 'tenant' || who.via !== 'api_key') throw new Error('expected a tenant API key');
  const as = (requestId: string) => server.client(tenant.apiKey, { 'x-request-id': requestId });
  return { tenant, keyId: who.keyId, api: server.client(tenant.apiKey), as };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const rid = (label: string) => `${label}-${randomUUID()}`;

describe('key changes are recorded', () => {
  it('apiKeys.create writes one api_key.create event with actor, target, request id and source address', async () => {
    const { tenant, keyId, as } = await tenantWithKeyId();
    const requestId = rid('create');
    const { key } = await as(requestId).apiKeys.create.mutate({ name: 'reporting', role: 'viewer', rateLimit: '10/second' });

    const rows = await eventsOfRequest(tenant.id, requestId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      tenantId: tenant.id,
      action: 'api_key.create',
      actorType: 'api_key',
      actorId: keyId,
      targetType: 'api_key',
      targetId: key.id,
      requestId,
      details: { name: 'reporting', role: 'viewer', rateLimit: '10/second', expiresAt: null },
    });
    expect(LOOPBACK).toContain(rows[0]!.sourceIp);
  });

  it('apiKeys.revoke writes one api_key.revoke event; revoking again writes none', async () => {
    const { tenant, keyId, api, as } = await tenantWithKeyId();
    const { key } = await api.apiKeys.create.mutate({ name: 'temp', role: 'viewer' });
    const requestId = rid('revoke');
    await as(requestId).apiKeys.revoke.mutate({ keyId: key.id });
    const rows = await eventsOfRequest(tenant.id, requestId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ action: 'api_key.revoke', actorType: 'api_key', actorId: keyId, targetType: 'api_key', targetId: key.id });
    expect(LOOPBACK).toContain(rows[0]!.sourceIp);

    const again = rid('revoke-again');
    await as(again).apiKeys.revoke.mutate({ keyId: key.id });
    expect(await eventsOfRequest(tenant.id, again)).toHaveLength(0);
  });

  it('apiKeys.rotate writes one api_key.rotate event naming the new key and the grace period', async () => {
    const { tenant, keyId, api, as } = await tenantWithKeyId();
    const expiresAt = new Date(Date.now() + 3 * 86_400_000).toISOString();
    const { key } = await api.apiKeys.create.mutate({ name: 'etl', role: 'analyst', expiresAt });
    const requestId = rid('rotate');
    const rotated = await as(requestId).apiKeys.rotate.mutate({ keyId: key.id, gracePeriodDays: 2 });

    const rows = await eventsOfRequest(tenant.id, requestId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      action: 'api_key.rotate',
      actorType: 'api_key',
      actorId: keyId,
      targetType: 'api_key',
      targetId: key.id,
      requestId,
      details: { newKeyId: rotated.key.id, gracePeriodDays: 2, previousExpiresAt: expiresAt },
    });
    expect(LOOPBACK).toContain(rows[0]!.sourceIp);
  });

  it("the event's request id is the response's X-Request-Id (plain HTTP, no client)", async () => {
    const { tenant } = await tenantWithKeyId();
    const res = await fetch(`${server.url}/trpc/apiKeys.create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'curl', role: 'viewer' }),
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    const body = (await res.json()) as { result: { data: { key: { id: string } } } };
    const rows = await eventsOfRequest(tenant.id, requestId!);
    expect(rows.map((r) => [r.action, r.targetId])).toEqual([['api_key.create', body.result.data.key.id]]);
  });

  it('a refused change writes no event', async () => {
    const { tenant, api } = await tenantWithKeyId();
    const { secret } = await api.apiKeys.create.mutate({ name: 'admin', role: 'admin' });
    const requestId = rid('refused');
    const error = await trpcError(server.client(secret, { 'x-request-id': requestId }).apiKeys.create.mutate({ name: 'x', role: 'owner' }));
    expect(error.reason).toBe('INSUFFICIENT_ROLE');
    expect(await eventsOfRequest(tenant.id, requestId)).toHaveLength(0);
  });
});

describe('audit.list', () => {
  /** A tenant with a known history: provisioning's api_key.create, then 3 creates, 1 revoke, 1 rotate. */
  async function withHistory() {
    const t = await tenantWithKeyId();
    const made = [];
    for (const name of ['one', 'two', 'three']) made.push((await t.api.apiKeys.create.mutate({ name, role: 'viewer' })).key);
    await t.api.apiKeys.revoke.mutate({ keyId: made[0]!.id });
    await t.api.apiKeys.rotate.mutate({ keyId: made[1]!.id });
    return t;
  }

  it("returns the tenant's own events, newest first, in the API shape", async () => {
    const { tenant, keyId, api } = await withHistory();
    const list = await api.audit.list.query({});
    expect(list.nextOffset).toBeNull();
    expect(list.items.map((e) => e.action)).toEqual([
      'api_key.rotate',
      'api_key.revoke',
      'api_key.create',
      'api_key.create',
      'api_key.create',
      'api_key.create',
    ]);
    expect(list.items[0]).toMatchObject({
      tenantId: tenant.id,
      actor: { type: 'api_key', id: keyId },
      target: { type: 'api_key', id: expect.any(String) },
      requestId: expect.any(String),
      details: { gracePeriodDays: 7 },
    });
    // Provisioning's event came from the system, not from a request.
    expect(list.items.at(-1)).toMatchObject({ actor: { type: 'system', id: null }, requestId: null });
    expect(list.items.map((e) => e.id).sort()).toEqual((await eventRows(tenant.id)).map((r) => r.id).sort());
  });

  it("tenant B never sees A's events", async () => {
    const [a, b] = await Promise.all([withHistory(), tenantWithKeyId()]);
    const aIds = new Set((await eventRows(a.tenant.id)).map((r) => r.id));
    const seen = await b.api.audit.list.query({ limit: 500 });
    expect(seen.items.length).toBeGreaterThan(0);
    expect(seen.items.every((e) => e.tenantId === b.tenant.id)).toBe(true);
    expect(seen.items.filter((e) => aIds.has(e.id))).toEqual([]);
  });

  it('filters by exact action, by resource prefix, and by time', async () => {
    const { api } = await withHistory();
    const all = (await api.audit.list.query({})).items;

    expect((await api.audit.list.query({ action: 'api_key.rotate' })).items.map((e) => e.action)).toEqual(['api_key.rotate']);
    expect((await api.audit.list.query({ action: 'api_key.' })).items).toHaveLength(all.length);
    expect((await api.audit.list.query({ action: 'user.' })).items).toEqual([]);

    // A mark between two requests, with a gap on both sides: event times have microseconds, so a
    // mark taken from an event's millisecond ISO string would not split them reliably.
    await sleep(20);
    const mark = new Date().toISOString();
    await sleep(20);
    const { key: later } = await api.apiKeys.create.mutate({ name: 'later', role: 'viewer' });
    const fromMark = await api.audit.list.query({ from: mark });
    expect(fromMark.items.map((e) => e.target?.id)).toEqual([later.id]);
    const toMark = await api.audit.list.query({ to: mark });
    expect(toMark.items.map((e) => e.id)).toEqual(all.map((e) => e.id));
    expect((await api.audit.list.query({ from: all.at(-1)!.at, to: mark, action: 'api_key.revoke' })).items).toHaveLength(1);
    expect((await api.audit.list.query({ from: new Date(Date.now() + 60_000).toISOString() })).items).toEqual([]);
  });

  it('pages with limit and offset, without gaps or repeats', async () => {
    const { api } = await withHistory();
    const all = (await api.audit.list.query({})).items.map((e) => e.id);
    const seen: string[] = [];
    let offset: number | null = 0;
    while (offset !== null) {
      const pageOf: { items: { id: string }[]; nextOffset: number | null } = await api.audit.list.query({ limit: 4, offset });
      seen.push(...pageOf.items.map((e) => e.id));
      offset = pageOf.nextOffset;
    }
    expect(seen).toEqual(all);
    expect((await api.audit.list.query({ limit: 4 })).nextOffset).toBe(4);
  });

  it.each([
    ['action', { action: 'API KEY' }],
    ['from', { from: 'yesterday' }],
    ['from', { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }],
    ['limit', { limit: 501 }],
  ])('rejects a bad %s with 400 naming it', async (field, input) => {
    const { api } = await tenantWithKeyId();
    const error = await trpcError(api.audit.list.query(input));
    expect(error).toMatchObject({ httpStatus: 400, reason: 'INVALID_INPUT' });
    expect(error.message).toContain(field);
  });

  it('needs an admin key, and refuses every bad credential', async () => {
    const { tenant, api } = await tenantWithKeyId();
    for (const role of ['viewer', 'analyst'] as const) {
      const { secret } = await api.apiKeys.create.mutate({ name: role, role });
      expect(await trpcError(server.client(secret).audit.list.query({}))).toMatchObject({ httpStatus: 403, reason: 'INSUFFICIENT_ROLE' });
    }
    const cases = await buildAuthCases(owner, tenant as ProvisionedTenant);
    await expectAuthFailures(server, cases, (client) => client.audit.list.query({}));
  });
});

describe('append-only for the app role', () => {
  it.each([
    ['UPDATE', (tx: Sql) => tx`update audit_events set action = 'api_key.nothing_happened'`],
    ['DELETE', (tx: Sql) => tx`delete from audit_events`],
  ])('%s on audit_events fails with SQLSTATE 42501 and changes nothing', async (_verb, statement) => {
    const { tenant } = await tenantWithKeyId();
    const before = await eventRows(tenant.id);
    expect(before.length).toBeGreaterThan(0);
    const error = await withTenant(app, tenant.id, (tx) => statement(tx.$client)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(sqlState(error)).toBe(SQLSTATE.insufficientPrivilege);
    expect(await eventRows(tenant.id)).toEqual(before);
  });
});

describe('audit.platformList', () => {
  let adminKey: string;
  let adminKeyId: string;

  beforeAll(async () => {
    adminKey = await createPlatformAdminKey(owner, 'x');
    const who = await server.client(adminKey).auth.whoami.query();
    if (who.kind !== 'platform') throw new Error('expected a platform-admin key');
    adminKeyId = who.keyId;
  });

  it("scope 'tenant' reads that tenant's own log, and the read is recorded as a platform audit.read event", async () => {
    const { tenant, api } = await tenantWithKeyId();
    await api.apiKeys.create.mutate({ name: 'seen by admin', role: 'viewer' });
    const requestId = rid('admin-read');
    const admin = server.client(adminKey, { 'x-request-id': requestId });

    const read = await admin.audit.platformList.query({ scope: 'tenant', tenantId: tenant.id });
    expect(read.items.map((e) => e.id).sort()).toEqual((await eventRows(tenant.id)).map((r) => r.id).sort());
    expect(read.items.every((e) => e.tenantId === tenant.id)).toBe(true);

    const platform = await server.client(adminKey).audit.platformList.query({ tenantId: tenant.id, action: 'audit.read' });
    expect(platform.items).toHaveLength(1);
    expect(platform.items[0]).toMatchObject({
      action: 'audit.read',
      tenantId: tenant.id,
      actor: { type: 'platform_admin', id: adminKeyId },
      target: { type: 'tenant', id: tenant.id },
      requestId,
      details: { returned: read.items.length },
    });
    expect(LOOPBACK).toContain(platform.items[0]!.sourceIp);
    // The read is on the platform log, not in the tenant's own.
    expect((await eventRows(tenant.id)).some((r) => r.action === 'audit.read')).toBe(false);
  });

  it("scope 'platform' lists platform events, optionally about one tenant", async () => {
    const { tenant } = await tenantWithKeyId();
    const about = await server.client(adminKey).audit.platformList.query({ tenantId: tenant.id });
    expect(about.items.map((e) => e.action)).toEqual(['tenant.create']);
    const everything = await server.client(adminKey).audit.platformList.query({ action: 'tenant.create', limit: 500 });
    expect(everything.items.some((e) => e.tenantId === tenant.id)).toBe(true);
  });

  it("scope 'tenant' for a tenant that does not exist is a 404, not an empty log", async () => {
    const error = await trpcError(server.client(adminKey).audit.platformList.query({ scope: 'tenant', tenantId: randomUUID() }));
    expect(error).toMatchObject({ httpStatus: 404, code: 'NOT_FOUND' });
  });

  it("scope 'tenant' without a tenantId is a 400 naming tenantId", async () => {
    const error = await trpcError(server.client(adminKey).audit.platformList.query({ scope: 'tenant' }));
    expect(error).toMatchObject({ httpStatus: 400, reason: 'INVALID_INPUT' });
    expect(error.message).toContain('tenantId');
  });

  it('a tenant key gets 403 PLATFORM_ADMIN_REQUIRED, and a platform key cannot use audit.list', async () => {
    const { tenant, api } = await tenantWithKeyId();
    const error = await trpcError(api.audit.platformList.query({ scope: 'tenant', tenantId: tenant.id }));
    expect(error).toMatchObject({ code: 'FORBIDDEN', httpStatus: 403, reason: 'PLATFORM_ADMIN_REQUIRED' });
    expect(await trpcError(server.client(adminKey).audit.list.query({}))).toMatchObject({ httpStatus: 403, reason: 'TENANT_KEY_REQUIRED' });
  });
});
