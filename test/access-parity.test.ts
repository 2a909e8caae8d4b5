/**
 * One access layer for every transport (src/access/tiers.ts): REST refuses a credential with the
 * same status, reason and message as tRPC, and both spend from the same rate-limit budget.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAuthCases, type AuthCase } from './auth-cases.js';
import { makeTenantWithOrders, startServer, trpcError, useServer, type Fixture, type TestServer } from './harness.js';

const { owner, app, server } = useServer();
let limited: TestServer;
let a: Fixture;
let cases: AuthCase[];

beforeAll(async () => {
  limited = await startServer(app, { deps: { tenantRateLimit: '2/minute' } });
  a = await makeTenantWithOrders(owner, 1, 'Parity');
  cases = await buildAuthCases(owner, a.tenant);
});
afterAll(() => limited.close());

async function rest(url: string, key: string | undefined, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/v1/datasets`, { headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } });
  const body = (await res.json()) as { error?: { reason: string; message: string } };
  return { status: res.status, reason: body.error?.reason, message: body.error?.message, retryAfter: res.headers.get('retry-after') };
}

describe('REST and tRPC refuse the same way', () => {
  it('every credential failure: same status, reason and message', async () => {
    expect(cases.length).toBeGreaterThan(10);
    for (const c of cases) {
      const viaTrpc = await trpcError(server.client(c.key, c.headers).datasets.list.query());
      const viaRest = await rest(server.url, c.key, c.headers);
      expect({ case: c.name, ...viaRest, retryAfter: undefined }).toEqual({
        case: c.name,
        status: viaTrpc.httpStatus,
        reason: viaTrpc.reason,
        message: viaTrpc.message,
        retryAfter: undefined,
      });
      expect(viaRest.status).toBe(c.httpStatus);
    }
  });

  it('spend one budget: a tRPC call and a REST call use up 2/minute, then both answer 429 alike', async () => {
    const key = a.tenant.apiKey;
    await limited.client(key).datasets.list.query();
    expect((await rest(limited.url, key)).status).toBe(200);
    const viaTrpc = await trpcError(limited.client(key).datasets.list.query());
    const viaRest = await rest(limited.url, key);
    expect(viaTrpc).toMatchObject({ httpStatus: 429, reason: 'TOO_MANY_REQUESTS' });
    expect(viaRest).toMatchObject({ status: 429, reason: viaTrpc.reason, message: viaTrpc.message });
    expect(Number(viaRest.retryAfter)).toBeGreaterThan(0);
  });
});
