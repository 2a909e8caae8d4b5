/** In-memory brakes on password guessing, shared by sign-in and password change. */
import { AppError } from '../lib/errors.js';

export interface LoginThrottleOptions {
  /** Failures tolerated before attempts are refused. */
  maxFailures?: number;
  /** A key is forgotten after this long without failures (counted from the end of any block). */
  windowMs?: number;
  /** The first block; each further failure doubles it. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

interface ThrottleEntry {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
}

const MINUTE_MS = 60_000;

/**
 * Slows down password guessing, in memory (per server process; a restart forgets it). Keys are
 * the account (tenant slug + email) and the source address. After `maxFailures` failures, each
 * further attempt within the block is refused before any password check; each failure after that
 * doubles the block (30 s, 1 min, 2 min, … capped at 15 min). A key is forgotten after a quiet
 * window following its last failure or block, so a persistent guesser stays at the cap.
 * Times come from the caller (the server's injectable clock).
 */
export class LoginThrottle {
  private readonly entries = new Map<string, ThrottleEntry>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private lastSweep = 0;

  constructor(options: LoginThrottleOptions = {}) {
    this.maxFailures = options.maxFailures ?? 5;
    this.windowMs = options.windowMs ?? 15 * MINUTE_MS;
    this.baseDelayMs = options.baseDelayMs ?? 30_000;
    this.maxDelayMs = options.maxDelayMs ?? 15 * MINUTE_MS;
  }

  static accountKey(tenantSlug: string, email: string): string {
    return `account:${tenantSlug}\u0000${email}`;
  }

  static sourceKey(sourceIp: string): string {
    return `ip:${sourceIp}`;
  }

  /** Throws TOO_MANY_REQUESTS (LOGIN_THROTTLED) when any key is blocked at `now`. */
  check(keys: string[], now: Date): void {
    const at = now.getTime();
    const waitMs = Math.max(0, ...keys.map((key) => (this.live(key, at)?.blockedUntil ?? 0) - at));
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      throw new AppError('TOO_MANY_REQUESTS', 'LOGIN_THROTTLED', `Too many failed sign-in attempts; try again in ${seconds} seconds.`);
    }
  }

  fail(keys: string[], now: Date): void {
    const at = now.getTime();
    this.sweep(at);
    for (const key of keys) {
      const entry = this.live(key, at) ?? { failures: 0, lastFailureAt: at, blockedUntil: 0 };
      entry.failures += 1;
      entry.lastFailureAt = at;
      const over = entry.failures - this.maxFailures;
      if (over >= 0) entry.blockedUntil = at + Math.min(this.baseDelayMs * 2 ** Math.min(over, 30), this.maxDelayMs);
      this.entries.set(key, entry);
    }
  }

  clear(key: string): void {
    this.entries.delete(key);
  }

  private live(key: string, at: number): ThrottleEntry | undefined {
    const entry = this.entries.get(key);
    if (entry && this.stale(entry, at)) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private stale(entry: ThrottleEntry, at: number): boolean {
    return at - Math.max(entry.lastFailureAt, entry.blockedUntil) >= this.windowMs;
  }

  /** Drops forgotten keys at most once a window, so memory follows recent failures only. */
  private sweep(at: number): void {
    if (at - this.lastSweep < this.windowMs) return;
    this.lastSweep = at;
    for (const [key, entry] of this.entries) if (this.stale(entry, at)) this.entries.delete(key);
  }
}
