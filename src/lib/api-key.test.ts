import { describe, expect, it } from 'vitest';
import { generatePlatformKey, generateSessionToken, generateTenantKey, hashKey, parseKey } from './api-key.js';

describe('api key format', () => {
  it('round-trips a tenant key and keeps only a short start', () => {
    const key = generateTenantKey('acme-corp');
    expect(key.secret).toMatch(/^pk_acme-corp_[0-9A-Za-z]{32}$/);
    expect(key.start).toBe(key.secret.slice(0, 'pk_acme-corp_'.length + 4));
    expect(parseKey(key.secret)).toEqual({ kind: 'tenant', slug: 'acme-corp', hash: key.hash });
    expect(key.hash).toBe(hashKey(key.secret));
    expect(key.hash).not.toContain(key.secret.slice(-8));
  });

  it('round-trips a session token', () => {
    const token = generateSessionToken('acme');
    expect(token.secret).toMatch(/^ps_acme_[0-9A-Za-z]{32}$/);
    expect(parseKey(token.secret)).toEqual({ kind: 'session', slug: 'acme', hash: token.hash });
  });

  it('round-trips a platform key', () => {
    const key = generatePlatformKey();
    expect(parseKey(key.secret)).toEqual({ kind: 'platform', hash: key.hash });
  });

  it('never repeats', () => {
    const seen = new Set(Array.from({ length: 200 }, () => generateTenantKey('a').secret));
    expect(seen.size).toBe(200);
  });

  it.each(['', 'pk_acme', 'pk_acme_short', 'pk_Acme_' + 'a'.repeat(32), 'pk__' + 'a'.repeat(32), 'pa_' + 'a'.repeat(31), 'pk_acme_' + 'a'.repeat(31) + '!'])(
    'rejects malformed %j',
    (raw) => expect(parseKey(raw)).toBeUndefined(),
  );
});
