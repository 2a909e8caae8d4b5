/**
 * /trpc answers single GET queries itself (src/trpc/trpc-route.ts) and everything else through
 * tRPC's fetch adapter. Which requests take the direct path, and that both paths answer the same
 * status, body and headers, for a success and for each kind of error. `trpc-accept:
 * application/json` changes nothing in tRPC's answer but sends a request to the adapter, so the
 * same request can be asked both ways.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { appRouter } from '../src/trpc/app-router.js';
import { fastPathFor } from '../src/trpc/invoke.js';
import { directCall } from '../src/trpc/trpc-route.js';
import { appPool, makeTenantWithOrders, ownerPool, startServer, type Fixture, type TestServer } from './harness.js';

// The app's router is one the fast path answers (no transformer, dotted paths).
const procedures = fastPathFor(appRouter)!.query;
const none = () => undefined;

describe('directCall: which requests the direct path takes', () => {
  const url = (path: string) => `http://localhost/trpc/${path}`;

  it('takes a single GET of a query, with or without input', () => {
    expect(directCall('GET', url(`orders.get?input=${encodeURIComponent('{"id":"x"}')}`), none, procedures)).toMatchObject({ path: 'orders.get', input: { id: 'x' } });
    expect(directCall('GET', url('datasets.list'), none, procedures)).toMatchObject({ path: 'datasets.list', input: undefined });
  });

  it('leaves everything else to the adapter', () => {
    const input = `input=${encodeURIComponent('{"id":"x"}')}`;
    expect(directCall('POST', url('orders.get'), none, procedures)).toBeUndefined();
    expect(directCall('GET', url(`orders.delete?${input}`), none, procedures)).toBeUndefined(); // a mutation
    expect(directCall('GET', url('orders.nope'), none, procedures)).toBeUndefined();
    expect(directCall('GET', url('toString'), none, procedures)).toBeUndefined();
    expect(directCall('GET', url('__proto__'), none, procedures)).toBeUndefined();
    expect(directCall('GET', url('orders'), none, procedures)).toBeUndefined(); // a router, not a procedure
    expect(directCall('GET', url(`orders.get,orders.list?batch=1&${input}`), none, procedures)).toBeUndefined();
    expect(directCall('GET', url(`orders.get?batch=1&${input}`), none, procedures)).toBeUndefined();
    expect(directCall('GET', url('orders%2Eget'), none, procedures)).toBeUndefined();
    expect(directCall('GET', url('orders.get?input=%7Bnot-json'), none, procedures)).toBeUndefined();
    expect(directCall('GET', url(`orders.get?${input}`), (n) => (n === 'trpc-accept' ? 'application/jsonl' : undefined), procedures)).toBeUndefined();
    expect(directCall('GET', url(`orders.get?${input}`), (n) => (n === 'accept' ? 'application/jsonl' : undefined), procedures)).toBeUndefined();
  });
});

describe('the direct path answers as the adapter does', () => {
  let owner: Sql;
  let app: Sql;
  let server: TestServer;
  let a: Fixture;
  let b: Fixture;
  let limited: Fixture;

  beforeAll(async () => {
    owner = ownerPool();
    app = appPool(2);
    // A budget small enough to spend in a test, large enough for the other cases (two calls each).
    server = await startServer(app, { deps: { tenantRateLimit: '30/minute' } });
    [a, b, limited] = await Promise.all([makeTenantWithOrders(owner, 2), makeTenantWithOrders(owner, 1), makeTenantWithOrders(owner, 1)]);
  });
  afterAll(async () => {
    await server.close();
    await Promise.all([owner.end(), app.end()]);
  });

  /** Headers whose values move between two requests: compared by name only (RateLimit-*) or not at all. */
  const VOLATILE = /^(date|connection|keep-alive|ratelimit.*)$/;

  /**
   * The answer to one request: status, body, every header by value except the volatile ones, and
   * which RateLimit-* are there. `values` includes content-type, vary, x-request-id, retry-after, allow.
   */
  async function ask(path: string, headers: Record<string, string>, viaAdapter: boolean) {
    const res = await fetch(`${server.url}${path}`, { headers: { 'x-request-id': 'parity-1', ...headers, ...(viaAdapter ? { 'trpc-accept': 'application/json' } : {}) } });
    const values = Object.fromEntries([...res.headers].filter(([name]) => !VOLATILE.test(name)).sort(([x], [y]) => x.localeCompare(y)));
    const rateLimit = [...res.headers.keys()].filter((name) => name.startsWith('ratelimit')).sort();
    return { status: res.status, body: (await res.json()) as unknown, values: values as Record<string, string | undefined>, rateLimit };
  }

  async function both(path: string, headers: Record<string, string> = {}) {
    const direct = await ask(path, headers, false);
    const adapter = await ask(path, headers, true);
    expect(direct).toEqual(adapter);
    return direct;
  }

  const bearer = (f: Fixture) => ({ authorization: `Bearer ${f.tenant.apiKey}` });
  const get = (id: string) => `/trpc/orders.get?input=${encodeURIComponent(JSON.stringify({ id }))}`;

  it('a result', async () => {
    const answer = await both(get(a.orderIds[0]!), bearer(a));
    expect(answer).toMatchObject({ status: 200, body: { result: { data: { id: a.orderIds[0] } } }, values: { 'content-type': 'application/json', 'x-request-id': 'parity-1' } });
    expect(answer.rateLimit.length).toBeGreaterThan(0);
    await both('/trpc/datasets.list', bearer(a));
  });

  it('errors: not found, invalid input, no input, no key, a tenant header naming another tenant, the wrong tier', async () => {
    expect(await both(get(b.orderIds[0]!), bearer(a))).toMatchObject({ status: 404, body: { error: { data: { code: 'NOT_FOUND' } } } });
    expect(await both(get('not-a-uuid'), bearer(a))).toMatchObject({ status: 400, body: { error: { data: { reason: 'INVALID_INPUT', issues: [expect.objectContaining({ path: 'id' })] } } } });
    expect(await both('/trpc/orders.get', bearer(a))).toMatchObject({ status: 400 });
    expect(await both(get(a.orderIds[0]!))).toMatchObject({ status: 401, body: { error: { data: { reason: 'KEY_MISSING' } } } });
    expect(await both(get(a.orderIds[0]!), { ...bearer(a), 'x-tenant-id': b.tenant.id })).toMatchObject({ status: 403, body: { error: { data: { reason: 'TENANT_MISMATCH' } } } });
    expect(await both('/trpc/tenants.list', bearer(a))).toMatchObject({ status: 403, body: { error: { data: { reason: 'PLATFORM_ADMIN_REQUIRED' } } } });
  });

  it('a dataset query (a cache hit on both paths), and its input and resolver errors', async () => {
    const query = (input: unknown) => `/trpc/query?input=${encodeURIComponent(JSON.stringify(input))}`;
    const revenue = query({ dataset: 'orders', dimensions: ['region'], metrics: ['revenue'] });
    await ask(revenue, bearer(a), false); // warms the cache, so both answers below are hits
    const timeless = async (viaAdapter: boolean) => {
      const answer = await ask(revenue, bearer(a), viaAdapter);
      const data = (answer.body as { result: { data: { durationMs: number } } }).result.data;
      expect(data.durationMs).toBeGreaterThanOrEqual(0);
      data.durationMs = 0;
      delete answer.values['content-length']; // the duration's digits
      return answer;
    };
    const direct = await timeless(false);
    expect(direct).toEqual(await timeless(true));
    expect(direct.body).toMatchObject({ result: { data: { cached: true, rowCount: 2 } } });
    expect(await both(query({ dataset: 'orders', metrics: ['revenue'], colour: 'red' }), bearer(a))).toMatchObject({ status: 400, body: { error: { data: { reason: 'INVALID_INPUT' } } } });
    expect(await both(query({ dataset: 'orders', metrics: ['nope'] }), bearer(a))).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining('nope') } } });
  });

  it('a spent rate limit: 429 with Retry-After on both paths', async () => {
    let status = 200;
    for (let i = 0; i < 40 && status !== 429; i++) status = (await fetch(`${server.url}${get(limited.orderIds[0]!)}`, { headers: bearer(limited) })).status;
    expect(status).toBe(429);
    const answer = await both(get(limited.orderIds[0]!), bearer(limited));
    expect(answer).toMatchObject({ status: 429, body: { error: { data: { code: 'TOO_MANY_REQUESTS' } } } });
    expect(answer.values['retry-after']).toMatch(/^\d+$/);
  });

  it('requests the direct path leaves alone still work (mutation over GET, unknown procedure)', async () => {
    const mutation = await fetch(`${server.url}/trpc/orders.delete?input=${encodeURIComponent(JSON.stringify({ id: a.orderIds[1] }))}`, { headers: bearer(a) });
    expect(mutation.status).toBe(405);
    const unknown = await fetch(`${server.url}/trpc/orders.nope`, { headers: bearer(a) });
    expect(unknown.status).toBe(404);
  });
});
