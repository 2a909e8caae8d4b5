/**
 * Redis for integration tests: TEST_REDIS_URL, else the local default. Suites that need it run
 * when it answers and are skipped with a printed reason when it does not (a newcomer's machine
 * may have no Redis; CI has one).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export type RedisAvailability = { url: string; skip?: undefined } | { url?: undefined; skip: string };

export async function testRedis(): Promise<RedisAvailability> {
  const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let cause: Error | undefined;
  probe.on('error', (error: Error) => void (cause ??= error));
  try {
    await probe.connect();
    await probe.ping();
    return { url };
  } catch (error) {
    const skip = `Redis at ${url.replace(/\/\/[^@]*@/, '//***@')} did not answer (${(cause ?? (error as Error)).message}); set TEST_REDIS_URL to run the Redis suites`;
    console.warn(`[skipped] ${skip}`);
    return { skip };
  } finally {
    probe.disconnect();
  }
}

/** A fresh namespace per test, so parallel files and reruns never share keys. */
export function randomPrefix(): string {
  return `palisade-test:${randomBytes(6).toString('hex')}:`;
}

/** A URL where nothing listens: connections are refused at once. */
export const DEAD_REDIS_URL = 'redis://127.0.0.1:1';

/** Deletes every key under the given prefixes (version counters have no TTL). */
export async function deletePrefixes(url: string, prefixes: string[]): Promise<void> {
  if (prefixes.length === 0) return;
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    for (const prefix of prefixes) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  } finally {
    redis.disconnect();
  }
}
