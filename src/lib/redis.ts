/**
 * One Redis connection factory for the shared query cache and rate limits. Redis is an
 * optimisation here, never a dependency a request waits on: a dead Redis must fail commands
 * quickly so callers fall back (cache miss, in-process limits) instead of queueing requests.
 */
import { Redis } from 'ioredis';
import { jsonLogger, type Logger } from './log.js';

export type { Redis } from 'ioredis';

export interface OpenRedisOptions {
  /** Upper bound on one command, including time spent queued while (re)connecting. */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/**
 * Opens a connection (it connects in the background; commands sent meanwhile are queued for at
 * most `commandTimeoutMs`). Logs once when Redis becomes unreachable and once when it is back,
 * not once per failed command or reconnect attempt. No key prefix: each user adds its own.
 */
export function openRedis(url: string, log: Logger = jsonLogger, options: OpenRedisOptions = {}): Redis {
  const redis = new Redis(url, {
    connectTimeout: options.connectTimeoutMs ?? 2_000,
    commandTimeout: options.commandTimeoutMs ?? 1_000,
    // Queued commands are failed at the first failed reconnect rather than the default 20th.
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  let down = false;
  redis.on('error', (error: Error) => {
    if (down) return;
    down = true;
    log('warn', 'redis unreachable; using in-process fallbacks until it answers', { error: error.message });
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log('info', 'redis reachable again');
  });
  return redis;
}

/**
 * True while a connection is known to be lost (between reconnect attempts, or closed). Callers
 * skip Redis then instead of waiting for a command timeout on every request.
 */
export function redisDown(redis: Redis): boolean {
  return redis.status === 'reconnecting' || redis.status === 'close' || redis.status === 'end';
}

/** Closes gracefully when connected, at once otherwise (QUIT would wait for a dead server). */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}
