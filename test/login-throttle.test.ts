/**
 * The login throttle's policy on both stores (in process, and Redis when it answers), its
 * fallback while Redis is down, and two server instances sharing Redis: failures on one throttle
 * sign-in on the other. The sign-in flow itself (429 before the password check, audit rows) is in
 * auth-sessions.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../db/client.js';
import { silentLogger, type Logger } from '../src/lib/log.js';
import { openRedis } from '../src/platform/redis.js';
import { createLoginThrottle, LoginThrottle, MemoryThrottleStore, RedisThrottleStore } from '../src/modules/sessions/login-throttle.js';
import { appPool, makeTenant, ownerPool, startServer, trpcError, type TestServer } from './harness.js';
import { DEAD_REDIS_URL, deletePrefixes, randomPrefix, testRedis } from './redis.js';

const redis = await testRedis();
const START = Date.parse('2026-06-01T09:00:00.000Z');
const at = (ms: number) => new Date(START + ms);

const opened: LoginThrottle[] = [];
const prefixes: string[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
});
afterAll(async () => {
  if (redis.url) await deletePrefixes(redis.url, prefixes);
});

/** Seconds the keys are blocked for at `ms`, 0 when not blocked. */
async function blocked(throttle: LoginThrottle, keys: string[], ms: number): Promise<number> {
  try {
    await throttle.check(keys, at(ms));
    return 0;
  } catch (error) {
    return Number(/in (\d+) seconds/.exec((error as Error).message)?.[1]);
  }
}

function memoryThrottle(): LoginThrottle {
  const throttle = new LoginThrottle();
  opened.push(throttle);
  return throttle;
}

function redisThrottle(prefix = randomPrefix()): LoginThrottle {
  prefixes.push(prefix);
  const throttle = new LoginThrottle({ store: new RedisThrottleStore(openRedis(redis.url!, silentLogger), { prefix }) });
  opened.push(throttle);
  return throttle;
}

function contract(kind: 'memory' | 'redis', make: () => LoginThrottle) {
  it('reports its kind', () => {
    expect(make().kind).toBe(kind);
  });

  it('doubles the wait per further failure, capped at 15 minutes', async () => {
    const throttle = make();
    const key = [`account:a\u0000${randomUUID()}@y`];
    const waits = [];
    let t = 0;
    for (let i = 0; i < 12; i++) {
      await throttle.fail(key, at(t));
      const wait = await blocked(throttle, key, t);
      waits.push(wait);
      t += wait * 1000;
    }
    expect(waits).toEqual([0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900]);
  });

  it('keys are independent; clearing one leaves the others; quiet keys are forgotten after the window', async () => {
    const throttle = make();
    const account = LoginThrottle.accountKey('acme', `a-${randomUUID()}@acme.example`);
    const other = LoginThrottle.accountKey('acme', `b-${randomUUID()}@acme.example`);
    const ip = LoginThrottle.sourceKey(`10.${randomUUID()}`);
    for (let i = 0; i < 5; i++) await throttle.fail([account, ip], at(0));
    expect(await blocked(throttle, [other], 1000)).toBe(0);
    expect(await blocked(throttle, [other, ip], 1000)).toBe(29);
    await throttle.clear(account);
    expect(await blocked(throttle, [account], 1000)).toBe(0);
    expect(await blocked(throttle, [ip], 1000)).toBe(29);
    // Four failures long ago do not add up with one now.
    const spaced = [`account:spaced-${randomUUID()}`];
    for (let i = 0; i < 4; i++) await throttle.fail(spaced, at(0));
    await throttle.fail(spaced, at(15 * 60_000));
    expect(await blocked(throttle, spaced, 15 * 60_000)).toBe(0);
    // A blocked key is forgotten a window after its block ends, not after its last failure.
    const persistent = [`ip:${randomUUID()}`];
    for (let i = 0; i < 10; i++) await throttle.fail(persistent, at(0));
    expect(await blocked(throttle, persistent, 15 * 60_000)).toBe(0);
    await throttle.fail(persistent, at(15 * 60_000 + 1));
    expect(await blocked(throttle, persistent, 15 * 60_000 + 1)).toBe(900);
    // A window after that failure, but only just after the block ended: still counted, at the cap.
    await throttle.fail(persistent, at(30 * 60_000 + 2));
    expect(await blocked(throttle, persistent, 30 * 60_000 + 2)).toBe(900);
    await throttle.fail(persistent, at(60 * 60_000 + 2));
    expect(await blocked(throttle, persistent, 60 * 60_000 + 2)).toBe(0);
  });
}

describe('LoginThrottle in process', () => {
  contract('memory', memoryThrottle);

  it('sweeps forgotten keys, so memory follows recent failures only', async () => {
    const store = new MemoryThrottleStore();
    const throttle = new LoginThrottle({ store });
    for (let i = 0; i < 100; i++) await throttle.fail([`ip:10.0.0.${i}`], at(0));
    expect(store.size).toBe(100);
    await throttle.fail(['ip:10.0.1.1'], at(15 * 60_000));
    expect(store.size).toBe(1);
  });

  it('createLoginThrottle without a URL is in process', () => {
    const throttle = createLoginThrottle({ log: silentLogger });
    opened.push(throttle);
    expect(throttle.kind).toBe('memory');
  });
});

describe.skipIf(!redis.url)(`LoginThrottle on Redis${redis.skip ? ` (skipped: ${redis.skip})` : ''}`, () => {
  contract('redis', () => redisThrottle());

  it('shares counts between connections with the same prefix, and stores no email or address', async () => {
    const prefix = randomPrefix();
    const [one, two] = [redisThrottle(prefix), redisThrottle(prefix)];
    const email = `${randomUUID()}@acme.example`;
    const keys = [LoginThrottle.accountKey('acme', email), LoginThrottle.sourceKey('203.0.113.7')];
    for (let i = 0; i < 3; i++) await one.fail(keys, at(0));
    for (let i = 0; i < 2; i++) await two.fail(keys, at(0));
    expect(await blocked(one, keys.slice(0, 1), 0)).toBe(30);
    expect(await blocked(redisThrottle(randomPrefix()), keys, 0)).toBe(0);

    const raw = new Redis(redis.url!);
    try {
      const stored = await raw.keys(`${prefix}*`);
      expect(stored).toHaveLength(2);
      expect(stored.join(' ')).not.toMatch(/acme\.example|203\.0\.113\.7/);
      expect(stored.map((k) => k.slice(prefix.length).split(':').slice(0, 2).join(':')).sort()).toEqual(['lt:account', 'lt:ip']);
      // Expires when it would be forgotten (a backstop: reads judge on the caller's clock).
      const ttl = await raw.pttl(stored[0]!);
      expect(ttl).toBeGreaterThan(15 * 60_000);
      expect(ttl).toBeLessThanOrEqual(30_000 + 15 * 60_000);
    } finally {
      raw.disconnect();
    }
  });

  it('createLoginThrottle picks Redis when given a URL', () => {
    const prefix = randomPrefix();
    prefixes.push(prefix);
    const throttle = createLoginThrottle({ redisUrl: redis.url!, prefix, log: silentLogger });
    opened.push(throttle);
    expect(throttle.kind).toBe('redis');
  });
});

describe('LoginThrottle while Redis is down', () => {
  it('counts in process instead, at once, and logs once', async () => {
    const lines: string[] = [];
    const log: Logger = (_level, message) => void lines.push(message);
    const throttle = new LoginThrottle({ store: new RedisThrottleStore(openRedis(DEAD_REDIS_URL, log, { commandTimeoutMs: 300 })) });
    opened.push(throttle);
    const keys = [LoginThrottle.accountKey('acme', 'down@acme.example')];
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      expect(await blocked(throttle, keys, 0)).toBe(0);
      await throttle.fail(keys, at(0));
    }
    expect(await blocked(throttle, keys, 0)).toBe(30);
    await throttle.clear(keys[0]!);
    expect(await blocked(throttle, keys, 0)).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(lines).toEqual(['redis unreachable; using in-process fallbacks until it answers']);
  });
});

describe.skipIf(!redis.url)(`two instances sharing Redis${redis.skip ? ` (skipped: ${redis.skip})` : ''}`, () => {
  let owner: Sql;
  let app: Sql;
  let first: TestServer;
  let second: TestServer;
  let now = START;
  const throttles: LoginThrottle[] = [];

  beforeAll(async () => {
    owner = ownerPool();
    app = appPool(4);
    const prefix = randomPrefix();
    prefixes.push(prefix);
    const server = async () => {
      const loginThrottle = createLoginThrottle({ redisUrl: redis.url!, prefix, log: silentLogger });
      throttles.push(loginThrottle);
      return startServer(app, { clock: () => new Date(now), deps: { loginThrottle } });
    };
    first = await server();
    second = await server();
  });
  afterAll(async () => {
    await first?.close();
    await second?.close();
    await Promise.all(throttles.map((t) => t.close()));
    await Promise.all([owner?.end(), app?.end()]);
  });

  it('failures on one instance throttle sign-in on the other, with the same growing waits', async () => {
    const tenant = await makeTenant(owner, 'Shared throttle', { withOwner: true });
    const good = { tenant: tenant.slug, email: tenant.owner!.email, password: tenant.owner!.temporaryPassword };
    for (let i = 0; i < 5; i++) {
      expect(await trpcError(first.client().auth.login.mutate({ ...good, password: `guess ${i}` }))).toMatchObject({ reason: 'INVALID_CREDENTIALS' });
    }
    const throttled = await trpcError(second.client().auth.login.mutate(good));
    expect(throttled).toMatchObject({ httpStatus: 429, code: 'TOO_MANY_REQUESTS', reason: 'LOGIN_THROTTLED' });
    expect(throttled.message).toMatch(/try again in 30 seconds/);

    now += 31_000;
    expect((await second.client().auth.login.mutate(good)).mustChangePassword).toBe(true);
    // The success on the second instance cleared the account's count for both; the address's
    // count (shared too) makes one more failure on the first block both, for longer.
    expect(await trpcError(first.client().auth.login.mutate({ ...good, password: 'wrong again' }))).toMatchObject({ reason: 'INVALID_CREDENTIALS' });
    const longer = await trpcError(second.client().auth.login.mutate(good));
    expect(longer).toMatchObject({ httpStatus: 429, reason: 'LOGIN_THROTTLED' });
    expect(longer.message).toMatch(/try again in 60 seconds/);
    expect(await trpcError(first.client().auth.login.mutate(good))).toMatchObject({ httpStatus: 429, reason: 'LOGIN_THROTTLED' });
  });
});
