import type { Sql } from '../../db/client.js';
import type { TenantReader } from '../../db/tenant-read.js';
import type { RequestHeaders } from '../http/request-headers.js';
import type { RequestStats } from '../http/request-stats.js';
import type { Clock } from '../lib/clock.js';
import type { AlertMonitor } from '../modules/usage/alerts.js';
import type { AnalyticsDeps } from '../modules/analytics/analytics.service.js';
import type { CredentialCache } from '../modules/credentials/credential-cache.js';
import type { LastUsedRecorder } from '../modules/credentials/last-used.js';
import type { LoginThrottle } from '../modules/sessions/login-throttle.js';
import type { RateLimiter } from '../platform/rate-limit/rate-limiter.js';
import type { UsageRecorder } from '../modules/usage/usage.js';

/**
 * The server's long-lived parts, built once per app and shared by every request. Kept apart from
 * the per-request fields because tRPC copies the context at every middleware that extends it:
 * one reference instead of a dozen keys keeps that copy cheap on the hot path.
 */
export interface ServerDeps {
  /** The app-role pool. Only the auth step and the tenant runner touch it, never a resolver. */
  pool: Sql;
  /** One-statement tenant reads in one round trip (db/tenant-read.ts); only tenant tiers use it. */
  reader: TenantReader;
  /** The platform-role pool. Only the platformAdminProcedure tier hands it out. */
  platformPool: Sql;
  clock: Clock;
  /**
   * Verified credentials, reused for a few seconds. A procedure that changes a key, session, user
   * or tenant calls `evict` after its transaction commits, so the change holds from the next request.
   */
  credentialCache: CredentialCache;
  lastUsed: LastUsedRecorder;
  sessionTtlMinutes: number;
  /** Slows down repeated failed sign-ins (in memory, one per app). */
  loginThrottle: LoginThrottle;
  analytics: AnalyticsDeps;
  rateLimiter: RateLimiter;
  /** Every tenant's budget, e.g. `600/minute`. */
  tenantRateLimit: string;
  usage: UsageRecorder;
  alerts: AlertMonitor;
}

/** Where procedures add response headers: tRPC's Headers, or a plain record (trpc/trpc-route.ts). */
export interface ResponseHeaders {
  set(name: string, value: string): void;
}

/** What every procedure starts from. Procedure tiers add the principal and the tenant runner. */
export interface Context {
  requestId: string;
  headers: RequestHeaders;
  /** The peer's address, for the audit log. */
  sourceIp: string | null;
  /** Response headers (RateLimit-*, Retry-After) that procedures may add. */
  resHeaders: ResponseHeaders;
  /** Filled in as the request is handled; written to usage, metrics and alerts at the end. */
  stats: RequestStats;
  deps: ServerDeps;
}
