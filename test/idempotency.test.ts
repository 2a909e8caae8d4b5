/**
 * Idempotency-Key on tenant mutations, over real HTTP: a repeat with the same key and credential
 * answers the first answer without running again (once, even when sent concurrently), another
 * body with the same key is 409, keys are per credential, expire after 24 h, and procedures whose
 * answer is a secret refuse a key instead of pretending to honour it.
 */
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { idempotencyKeys, orders } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { createPlatformAdminKey } from '../src/modules/tenants/tenants.service.js';
import { addApiKey, makeTenantWithOrders, type Fixture, useServer } from './harness.js';

const { owner, app, server } = useServer({ appConnections: 6 });

async function post(path: string, key: string, body: unknown, idempotencyKey?: string) {
  const response = await fetch(`${server.url}/trpc/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, replayed: response.headers.get('idempotent-replayed'), body: (await response.json()) as { result?: { data: { id: string } }; error?: { data: { reason: string } } } };
}

const newOrder = (f: Fixture, amount = '12.34') => ({ customerId: f.customerId, region: 'west', amount, orderDate: '2026-03-04' });
const ordersOf = (f: Fixture) => withTenant(owner, f.tenant.id, (tx) => tx.select().from(orders).where(eq(orders.region, 'west')));

describe('Idempotency-Key', () => {
  it('a repeat returns the first answer, marked as replayed, without a second order', async () => {
    const f = await makeTenantWithOrders(owner, 1);
    const key = randomUUID();
    const first = await post('orders.create', f.tenant.apiKey, newOrder(f), key);
    expect(first.status).toBe(200);
    expect(first.replayed).toBeNull();
    const again = await post('orders.create', f.tenant.apiKey, newOrder(f), key);
    expect(again.status).toBe(200);
    expect(again.replayed).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await ordersOf(f)).toHaveLength(1);
    // Without a key, the same body is a new order.
    expect((await post('orders.create', f.tenant.apiKey, newOrder(f))).status).toBe(200);
    expect(await ordersOf(f)).toHaveLength(2);
  });

  it('the same key with another body is 409 IDEMPOTENCY_KEY_REUSED and changes nothing', async () => {
    const f = await makeTenantWithOrders(owner, 1);
    const key = randomUUID();
    expect((await post('orders.create', f.tenant.apiKey, newOrder(f, '1.00'), key)).status).toBe(200);
    const reused = await post('orders.create', f.tenant.apiKey, newOrder(f, '2.00'), key);
    expect(reused.status).toBe(409);
    expect(reused.body.error!.data.reason).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await ordersOf(f)).map((o) => o.amount)).toEqual(['1.00']);
  });

  it('sent eight times at once, the mutation runs once and every answer is the same', async () => {
    const f = await makeTenantWithOrders(owner, 1);
    const key = randomUUID();
    const answers = await Promise.all(Array.from({ length: 8 }, () => post('orders.create', f.tenant.apiKey, newOrder(f), key)));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    expect(new Set(answers.map((a) => a.body.result!.data.id)).size).toBe(1);
    expect(answers.filter((a) => a.replayed === 'true')).toHaveLength(7);
    expect(await ordersOf(f)).toHaveLength(1);
  });

  it('a key belongs to its credential: another key of the tenant runs its own request', async () => {
    const f = await makeTenantWithOrders(owner, 1);
    const other = await addApiKey(owner, f.tenant);
    const key = randomUUID();
    const a = await post('orders.create', f.tenant.apiKey, newOrder(f), key);
    const b = await post('orders.create', other, newOrder(f), key);
    expect([a.status, b.status, b.replayed]).toEqual([200, 200, null]);
    expect(a.body.result!.data.id).not.toBe(b.body.result!.data.id);
    expect(await ordersOf(f)).toHaveLength(2);
  });

  it('an answer older than 24 h is not replayed; the key can be used again', async () => {
    const f = await makeTenantWithOrders(owner, 1);
    const key = randomUUID();
    expect((await post('orders.create', f.tenant.apiKey, newOrder(f), key)).status).toBe(200);
    await withTenant(owner, f.tenant.id, (tx) => tx.update(idempotencyKeys).set({ createdAt: sql`now() - interval '25 hours'` }).where(eq(idempotencyKeys.key, key)));
    const later = await post('orders.create', f.tenant.apiKey, newOrder(f), key);
    expect([later.status, later.replayed]).toEqual([200, null]);
    expect(await ordersOf(f)).toHaveLength(2);
  });

  it('a failed mutation stores nothing: the retry runs', async () => {
    const f = await makeTenantWithOrders(owner, 1);
    const key = randomUUID();
    const missing = await post('orders.update', f.tenant.apiKey, { id: randomUUID(), region: 'east' }, key);
    expect(missing.status).toBe(404);
    const rows = await withTenant(owner, f.tenant.id, (tx) => tx.select().from(idempotencyKeys));
    expect(rows).toHaveLength(0);
  });

  it('answers are the tenant’s own: another tenant’s context sees none of them', async () => {
    const a = await makeTenantWithOrders(owner, 1);
    const b = await makeTenantWithOrders(owner, 1);
    expect((await post('orders.create', a.tenant.apiKey, newOrder(a), randomUUID())).status).toBe(200);
    expect(await withTenant(app, b.tenant.id, (tx) => tx.select().from(idempotencyKeys))).toHaveLength(0);
    expect(await app`select * from idempotency_keys`).toHaveLength(0);
    expect(await withTenant(app, a.tenant.id, (tx) => tx.select().from(idempotencyKeys))).toHaveLength(1);
  });

  it('a secret-bearing or non-tenant mutation refuses a key (400 IDEMPOTENCY_NOT_SUPPORTED); a malformed key is 400', async () => {
    const f = await makeTenantWithOrders(owner, 1);
    const created = await post('apiKeys.create', f.tenant.apiKey, { name: 'with key', role: 'viewer' }, randomUUID());
    expect([created.status, created.body.error?.data.reason]).toEqual([400, 'IDEMPOTENCY_NOT_SUPPORTED']);
    const adminKey = await createPlatformAdminKey(owner, 'idempotency test');
    const suspended = await post('tenants.suspend', adminKey, { tenantId: f.tenant.id }, randomUUID());
    expect([suspended.status, suspended.body.error?.data.reason]).toEqual([400, 'IDEMPOTENCY_NOT_SUPPORTED']);
    const login = await fetch(`${server.url}/trpc/auth.login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({ tenant: f.tenant.slug, email: 'nobody@example.com', password: 'not the password' }),
    });
    expect([login.status, ((await login.json()) as { error: { data: { reason: string } } }).error.data.reason]).toEqual([400, 'IDEMPOTENCY_NOT_SUPPORTED']);
    const bad = await post('orders.create', f.tenant.apiKey, newOrder(f), 'has space');
    expect([bad.status, bad.body.error?.data.reason]).toEqual([400, 'INVALID_INPUT']);
    expect(await ordersOf(f)).toHaveLength(0);
  });
});
