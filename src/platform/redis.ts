/**
 * One Redis connection factory for the shared query cache, rate limits and credential evictions.
 * Redis is an optimisation here, never a dependency a request waits on: every connection has a
 * circuit breaker (RedisBreaker) that its users run their commands through, so a dead *or frozen*
 * Redis costs a request at most one short command timeout, once, and then is skipped (callers use
 * their in-process fallback) until a background probe sees it answer again.
 */
import { Redis } from 'ioredis';
import { jsonLogger, type Logger } from '../lib/log.js';

export type { Redis } from 'ioredis';

export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 50;
export const DEFAULT_REDIS_FAILURE_THRESHOLD = 3;
export const DEFAULT_REDIS_PROBE_INTERVAL_MS = 500;
/** A connection that has never been ready (startup) may take this long per command. */
const FIRST_CONNECT_WAIT_MS = 1_000;

export interface OpenRedisOptions {
  /**
   * How long one command (run through the breaker) may take before it counts as failed and its
   * caller falls back. Local Redis answers in well under 1 ms; 50 ms leaves room for GC pauses.
   */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Failures in a row (no success between) that open the breaker. */
  failureThreshold?: number;
  /** How often an open breaker PINGs Redis; the first answer within `commandTimeoutMs` closes it. */
  probeIntervalMs?: number;
  /** Names the connection in logs, e.g. 'query cache'. */
  name?: string;
}

/** Thrown by `RedisBreaker.run` when the breaker is open: the command was not sent. */
export class RedisUnavailableError extends Error {
  constructor() {
    super('redis skipped: circuit breaker open');
    this.name = 'RedisUnavailableError';
  }
}

const breakers = new WeakMap<Redis, RedisBreaker>();

/**
 * Opens a connection (it connects in the background) with its breaker. Logs once when the
 * breaker opens and once when it closes, not once per failed command or reconnect attempt.
 * No key prefix: each user adds its own.
 */
export function openRedis(url: string, log: Logger = jsonLogger, options: OpenRedisOptions = {}): Redis {
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS;
  const redis = new Redis(url, {
    connectTimeout: options.connectTimeoutMs ?? 2_000,
    // A backstop for commands sent outside the breaker (SUBSCRIBE, QUIT) and the first connect.
    commandTimeout: Math.max(commandTimeoutMs, FIRST_CONNECT_WAIT_MS),
    // Queued commands are failed at the first failed reconnect rather than the default 20th.
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  breakers.set(redis, new RedisBreaker(redis, log, { ...options, commandTimeoutMs }));
  return redis;
}

/** The connection's breaker (one per connection, shared by all its users). */
export function redisBreaker(redis: Redis): RedisBreaker {
  let breaker = breakers.get(redis);
  if (!breaker) {
    // A connection not made by openRedis (tests): default settings.
    breaker = new RedisBreaker(redis, jsonLogger, {});
    breakers.set(redis, breaker);
  }
  return breaker;
}

/** True while Redis is being skipped (breaker open, or the connection closed for good). */
export function redisDown(redis: Redis): boolean {
  return redis.status === 'end' || redisBreaker(redis).isOpen;
}

/**
 * Closed: commands run with a short timeout; `failureThreshold` failures in a row (timeouts,
 * errors) open it, and so does a lost connection at once. Open: `run` throws at once without
 * touching Redis, and a PING every `probeIntervalMs` checks it; the first PING answered within
 * the command timeout closes it. Consecutive failures rather than a single timeout, so a lone
 * slow reply (a GC pause here or in Redis) does not flip every instance to its fallbacks.
 *
 * Hand-written (~80 lines) rather than opossum: opossum wraps one function and closes through a
 * half-open trial on a real request; here many different commands share one connection's state,
 * recovery is found by a background PING so no request pays for the trial, and the open/close
 * hooks (replaying invalidations) would need wrapping anyway.
 */
export class RedisBreaker {
  readonly commandTimeoutMs: number;
  readonly probeIntervalMs: number;
  private readonly failureThreshold: number;
  private readonly name: string | undefined;
  private failures = 0;
  private openedAt: number | undefined;
  private lastError = '';
  private everReady = false;
  private probing = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly closeListeners = new Set<() => void>();

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
    options: OpenRedisOptions,
  ) {
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS;
    this.probeIntervalMs = options.probeIntervalMs ?? DEFAULT_REDIS_PROBE_INTERVAL_MS;
    this.failureThreshold = options.failureThreshold ?? DEFAULT_REDIS_FAILURE_THRESHOLD;
    this.name = options.name;
    this.everReady = redis.status === 'ready';
    // Connection errors are reported through the open breaker's log line, not one per attempt.
    redis.on('error', (error: Error) => void (this.lastError = error.message));
    redis.on('reconnecting', () => this.trip(this.lastError || 'connection lost'));
    redis.on('ready', () => {
      this.everReady = true;
      if (this.isOpen) void this.probe();
    });
    redis.on('end', () => this.stopProbing());
  }

  get isOpen(): boolean {
    return this.openedAt !== undefined;
  }

  /** Calls `listener` each time the breaker closes (Redis answers again after an outage). */
  onClose(listener: () => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /**
   * Runs one command (or a short sequence) unless the breaker is open; rejects with
   * RedisUnavailableError when open, or the command's error, or a timeout.
   */
  async run<T>(command: () => Promise<T>): Promise<T> {
    if (this.isOpen) throw new RedisUnavailableError();
    // Until the first connect completes, commands wait in ioredis's queue: allow for the handshake.
    const limit = this.everReady ? this.commandTimeoutMs : Math.max(this.commandTimeoutMs, FIRST_CONNECT_WAIT_MS);
    try {
      const result = await withTimeout(command(), limit);
      this.failures = 0;
      return result;
    } catch (error) {
      this.lastError = (error as Error).message;
      if (++this.failures >= this.failureThreshold) this.trip(this.lastError);
      throw error;
    }
  }

  private trip(reason: string): void {
    if (this.isOpen || this.redis.status === 'end') return;
    this.openedAt = Date.now();
    this.log('warn', 'redis unreachable; using in-process fallbacks until it answers', { connection: this.name, reason });
    this.probeTimer = setInterval(() => void this.probe(), this.probeIntervalMs);
    this.probeTimer.unref();
  }

  private async probe(): Promise<void> {
    // While ioredis reconnects, its 'ready' event triggers the next probe.
    if (!this.isOpen || this.probing || this.redis.status !== 'ready') return;
    this.probing = true;
    try {
      await withTimeout(this.redis.ping(), this.commandTimeoutMs);
    } catch {
      return;
    } finally {
      this.probing = false;
    }
    if (!this.isOpen) return;
    const downMs = Date.now() - this.openedAt!;
    this.openedAt = undefined;
    this.failures = 0;
    this.stopProbing();
    this.lastError = '';
    this.log('info', 'redis reachable again', { connection: this.name, downMs });
    for (const listener of this.closeListeners) listener();
  }

  private stopProbing(): void {
    clearInterval(this.probeTimer);
    this.probeTimer = undefined;
  }
}

export class RedisTimeoutError extends Error {
  constructor(ms: number) {
    super(`redis command timed out after ${ms} ms`);
    this.name = 'RedisTimeoutError';
  }
}

/** The command's own promise stays subscribed, so its late rejection is never unhandled. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisTimeoutError(ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Closes gracefully when Redis answers, at once otherwise: QUIT would wait for a dead server, and
 * a frozen one gets one command timeout.
 */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready' || redisDown(redis)) {
    redis.disconnect();
    return;
  }
  try {
    await withTimeout(redis.quit(), redisBreaker(redis).commandTimeoutMs);
  } catch {
    redis.disconnect();
  }
}
