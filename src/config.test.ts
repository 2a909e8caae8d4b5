import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('defaults to embedded Postgres on port 3000, localhost only, with the demo seed', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 3000, host: '127.0.0.1', databaseUrl: undefined, seedDemo: true, poolMax: 10 });
    expect(c.dataDir).toBe(path.resolve('.palisade'));
  });

  it('uses DATABASE_URL without seeding unless asked', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://o@db/app', PORT: '8080', PALISADE_DATA_DIR: '/tmp/p' });
    expect(c).toMatchObject({ port: 8080, host: '0.0.0.0', seedDemo: false, dataDir: '/tmp/p' });
    expect(loadConfig({ DATABASE_URL: 'postgres://o@db/app', SEED_DEMO: 'true' }).seedDemo).toBe(true);
  });

  it('names the variable and the problem', () => {
    expect(() => loadConfig({ PORT: 'http' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'http' })).toThrow(/PORT: /);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL: expected a postgres:\/\//);
    expect(() => loadConfig({ APP_DATABASE_URL: 'postgres://a@b/c' })).toThrow(/APP_DATABASE_URL: set DATABASE_URL/);
    expect(() => loadConfig({ PLATFORM_DATABASE_URL: 'postgres://a@b/c' })).toThrow(/PLATFORM_DATABASE_URL: set DATABASE_URL/);
    expect(() => loadConfig({ SESSION_TTL_MINUTES: '0' })).toThrow(/SESSION_TTL_MINUTES: /);
  });

  it('reads the read replica settings: none by default, 5 s of lag, polled every 100 ms; only with DATABASE_URL', () => {
    expect(loadConfig({})).toMatchObject({ readDatabaseUrl: undefined, readReplicaMaxLagMs: 5_000, readReplicaPollMs: 100 });
    const c = loadConfig({ DATABASE_URL: 'postgres://o@db/app', READ_DATABASE_URL: 'postgres://a@replica/app', READ_REPLICA_MAX_LAG_MS: '500', READ_REPLICA_POLL_MS: '50' });
    expect(c).toMatchObject({ readDatabaseUrl: 'postgres://a@replica/app', readReplicaMaxLagMs: 500, readReplicaPollMs: 50 });
    expect(() => loadConfig({ READ_DATABASE_URL: 'postgres://a@replica/app' })).toThrow(/READ_DATABASE_URL: set DATABASE_URL/);
    expect(() => loadConfig({ DATABASE_URL: 'postgres://o@db/app', READ_DATABASE_URL: 'replica:5432' })).toThrow(/READ_DATABASE_URL: expected a postgres:\/\//);
    expect(() => loadConfig({ READ_REPLICA_POLL_MS: '1' })).toThrow(/READ_REPLICA_POLL_MS: /);
  });

  it('reads the analytics settings, with defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ catalogPath: path.resolve('catalog.yaml'), queryTimeoutMs: 10_000, cacheTtlSeconds: 60, redisUrl: undefined, tenantRateLimit: '600/minute' });
    const custom = loadConfig({ CATALOG_PATH: '/etc/p/cat.yaml', REDIS_URL: 'redis://r:6379', TENANT_RATE_LIMIT: '50/second', ALERT_ERROR_RATE: '0.5' });
    expect(custom).toMatchObject({ catalogPath: '/etc/p/cat.yaml', redisUrl: 'redis://r:6379', tenantRateLimit: '50/second' });
    expect(custom.alerts.errorRate).toBe(0.5);
    expect(() => loadConfig({ TENANT_RATE_LIMIT: '600 per minute' })).toThrow(/TENANT_RATE_LIMIT: expected <n>\/second/);
    expect(() => loadConfig({ REDIS_URL: 'localhost:6379' })).toThrow(/REDIS_URL: expected a redis:\/\//);
    expect([c.auditCacheHits, loadConfig({ AUDIT_CACHE_HITS: 'each' }).auditCacheHits]).toEqual(['summary', 'each']);
    expect(() => loadConfig({ AUDIT_CACHE_HITS: 'all' })).toThrow(/AUDIT_CACHE_HITS: expected summary or each/);
  });

  it('reads the credential cache settings: 5 s and 10,000 entries by default, 0 turns it off', () => {
    expect(loadConfig({})).toMatchObject({ credentialCacheTtlMs: 5_000, credentialCacheMaxEntries: 10_000 });
    expect(loadConfig({ CREDENTIAL_CACHE_TTL_MS: '0', CREDENTIAL_CACHE_MAX_ENTRIES: '500' })).toMatchObject({ credentialCacheTtlMs: 0, credentialCacheMaxEntries: 500 });
    expect(() => loadConfig({ CREDENTIAL_CACHE_TTL_MS: '-1' })).toThrow(/CREDENTIAL_CACHE_TTL_MS: /);
    expect(() => loadConfig({ CREDENTIAL_CACHE_TTL_MS: '1h' })).toThrow(/CREDENTIAL_CACHE_TTL_MS: /);
  });

  it('reads the per-tenant bulkhead: a quarter of the pool (at least 2) and 500 ms by default', () => {
    expect(loadConfig({})).toMatchObject({ tenantMaxConcurrency: 2, tenantBusyWaitMs: 500 });
    expect(loadConfig({ DB_POOL_MAX: '40' }).tenantMaxConcurrency).toBe(10);
    expect(loadConfig({ DB_POOL_MAX: '3' }).tenantMaxConcurrency).toBe(2);
    expect(loadConfig({ DB_POOL_MAX: '40', TENANT_MAX_CONCURRENCY: '1', TENANT_BUSY_WAIT_MS: '0' })).toMatchObject({ tenantMaxConcurrency: 1, tenantBusyWaitMs: 0 });
    expect(() => loadConfig({ TENANT_MAX_CONCURRENCY: '0' })).toThrow(/TENANT_MAX_CONCURRENCY: /);
    expect(() => loadConfig({ TENANT_BUSY_WAIT_MS: '-5' })).toThrow(/TENANT_BUSY_WAIT_MS: /);
  });
});
