/**
 * The credential failures every tenant procedure must answer the same way. Built once per file,
 * then run against each procedure with `expectAuthFailures`.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { Sql } from '../db/client.js';
import { createPlatformAdminKey } from '../src/modules/tenants/tenants.service.js';
import { addApiKey, makeTenant, setTenantStatus, trpcError, type TestServer } from './harness.js';

export interface AuthCase {
  name: string;
  key?: string;
  headers?: Record<string, string>;
  httpStatus: number;
  reason: string;
}

export async function buildAuthCases(owner: Sql, tenant: { id: string; slug: string; name: string; apiKey: string }) {
  const suspended = await makeTenant(owner, 'Suspended');
  await setTenantStatus(owner, suspended.id, 'suspended');
  const other = await makeTenant(owner, 'Other');
  const cases: AuthCase[] = [
    { name: 'no key', httpStatus: 401, reason: 'KEY_MISSING' },
    { name: 'not a bearer header', headers: { authorization: `Basic ${tenant.apiKey}` }, httpStatus: 401, reason: 'KEY_MALFORMED' },
    { name: 'malformed key', key: 'sk_live_123', httpStatus: 401, reason: 'KEY_MALFORMED' },
    { name: 'unknown key', key: `pk_${tenant.slug}_${'A'.repeat(32)}`, httpStatus: 401, reason: 'KEY_UNKNOWN' },
    { name: 'unknown tenant slug', key: `pk_nosuch-tenant_${'A'.repeat(32)}`, httpStatus: 401, reason: 'KEY_UNKNOWN' },
    // A real key re-labelled with another tenant's slug hashes differently: unknown, not a way in.
    { name: "a key re-labelled as another tenant's", key: tenant.apiKey.replace(`pk_${tenant.slug}_`, `pk_${other.slug}_`), httpStatus: 401, reason: 'KEY_UNKNOWN' },
    { name: 'revoked key', key: await addApiKey(owner, tenant, { revokedAt: new Date() }), httpStatus: 401, reason: 'KEY_REVOKED' },
    { name: 'expired key', key: await addApiKey(owner, tenant, { expiresAt: new Date(Date.now() - 1000) }), httpStatus: 401, reason: 'KEY_EXPIRED' },
    { name: 'suspended tenant', key: suspended.apiKey, httpStatus: 403, reason: 'TENANT_SUSPENDED' },
    { name: 'forged X-Tenant-ID', key: tenant.apiKey, headers: { 'x-tenant-id': other.id }, httpStatus: 403, reason: 'TENANT_MISMATCH' },
    { name: 'garbage X-Tenant-ID', key: tenant.apiKey, headers: { 'x-tenant-id': 'acme' }, httpStatus: 403, reason: 'TENANT_MISMATCH' },
    { name: 'platform-admin key', key: await createPlatformAdminKey(owner, 'test admin'), httpStatus: 403, reason: 'TENANT_KEY_REQUIRED' },
    { name: 'platform-admin key naming a tenant', key: await createPlatformAdminKey(owner, 'test admin'), headers: { 'x-tenant-id': tenant.id }, httpStatus: 403, reason: 'TENANT_MISMATCH' },
  ];
  return cases;
}

type Client = ReturnType<TestServer['client']>;

export async function expectAuthFailures(server: TestServer, cases: AuthCase[], call: (client: Client) => Promise<unknown>) {
  for (const c of cases) {
    const error = await trpcError(call(server.client(c.key, c.headers)));
    expect({ case: c.name, httpStatus: error.httpStatus, reason: error.reason }).toEqual({
      case: c.name,
      httpStatus: c.httpStatus,
      reason: c.reason,
    });
    expect(error.message.length).toBeGreaterThan(10);
  }
}

export const randomId = () => randomUUID();
