/**
 * A pinned instance (PALISADE_TENANT): it serves exactly one tenant. Other tenants' keys and
 * sign-ins get 403 TENANT_NOT_SERVED_HERE on every transport, platform-admin keys too (the
 * platform's routes are off there), and an instance pinned to a tenant that does not exist does
 * not start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { loadConfig, ConfigError } from '../src/config.js';
import { openDeps } from '../src/deps.js';
import { loadCatalog } from '../src/modules/analytics/catalog.js';
import { createPlatformAdminKey } from '../src/modules/tenants/tenants.service.js';
import { appPool, makeTenantWithOrders, ownerPool, pg, startServer, TEST_CONFIG, trpcError, type Fixture, type TestServer } from './harness.js';

let owner: Sql;
let app: Sql;
let server: TestServer;
let served: Fixture;
let other: Fixture;
let adminKey: string;

beforeAll(async () => {
  owner = ownerPool();
  app = appPool();
  served = await makeTenantWithOrders(owner, 2, 'Served', { withOwner: true });
  other = await makeTenantWithOrders(owner, 2, 'Other', { withOwner: true });
  adminKey = await createPlatformAdminKey(owner, 'pinned test');
  server = await startServer(app, { servedTenant: { id: served.tenant.id, slug: served.tenant.slug } });
});

afterAll(async () => {
  await server?.close();
  await Promise.all([owner?.end(), app?.end()]);
});

const NOT_SERVED = { httpStatus: 403, reason: 'TENANT_NOT_SERVED_HERE' };

async function status(path: string, key: string): Promise<{ status: number; reason?: string }> {
  const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  const body = (await res.json().catch(() => ({}))) as { error?: { reason?: string; code?: string } };
  return { status: res.status, reason: body.error?.reason ?? body.error?.code };
}

describe('an instance pinned to one tenant', () => {
  it('serves that tenant over tRPC, REST and OData', async () => {
    const page = await server.client(served.tenant.apiKey).orders.list.query({});
    expect(page.items.map((o) => o.id).sort()).toEqual([...served.orderIds].sort());
    expect((await status('/v1/query?dataset=orders&metrics=order_count', served.tenant.apiKey)).status).toBe(200);
    expect((await status('/odata/orders/$count', served.tenant.apiKey)).status).toBe(200);
  });

  it('refuses another tenant’s key on every transport with 403 TENANT_NOT_SERVED_HERE', async () => {
    expect(await trpcError(server.client(other.tenant.apiKey).orders.list.query({}))).toMatchObject(NOT_SERVED);
    expect(await status('/v1/query?dataset=orders&metrics=order_count', other.tenant.apiKey)).toEqual({ status: 403, reason: 'TENANT_NOT_SERVED_HERE' });
    expect(await status('/odata/orders', other.tenant.apiKey)).toEqual({ status: 403, reason: 'TENANT_NOT_SERVED_HERE' });
  });

  it('refuses another tenant’s sign-in, and signs the served tenant’s users in', async () => {
    const signIn = (f: Fixture) => server.client().auth.login.mutate({ tenant: f.tenant.slug, email: f.tenant.owner!.email, password: f.tenant.owner!.temporaryPassword });
    expect(await trpcError(signIn(other))).toMatchObject(NOT_SERVED);
    await expect(signIn(served)).resolves.toMatchObject({ tenant: { id: served.tenant.id } });
  });

  it('has the platform-admin routes off: a platform key is refused, /metrics included', async () => {
    expect(await trpcError(server.client(adminKey).tenants.list.query({}))).toMatchObject(NOT_SERVED);
    expect((await status('/metrics', adminKey)).status).toBe(403);
  });

  it('does not start pinned to a tenant that does not exist', async () => {
    const config = { ...loadConfig({ PALISADE_TENANT: 'no-such-tenant' }), catalogPath: TEST_CONFIG.catalogPath };
    const opening = openDeps(config, { appUrl: pg.appUrl, platformUrl: pg.platformUrl }, { catalog: loadCatalog(config.catalogPath), log: () => undefined });
    await expect(opening).rejects.toThrow(ConfigError);
    await expect(opening).rejects.toThrow(/PALISADE_TENANT: no tenant has the slug or id "no-such-tenant"/);
  });
});
