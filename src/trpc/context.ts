import type { AccessDeps } from '../access/tiers.js';
import type { AccessRequest } from '../access/request.js';
import type { AlertMonitor } from '../modules/usage/alerts.js';
import type { AnalyticsDeps } from '../modules/analytics/analytics.service.js';
import type { LoginThrottle } from '../modules/sessions/login-throttle.js';
import type { UsageRecorder } from '../modules/usage/usage.js';

/**
 * The server's long-lived parts, built once (src/deps.ts) and shared by every request. Kept apart
 * from the per-request fields because tRPC copies the context at every middleware that extends it:
 * one reference instead of a dozen keys keeps that copy cheap on the hot path. The pools reach
 * resolvers only through the access layer's scopes (access/tiers.ts), never directly.
 */
export interface ServerDeps extends AccessDeps {
  sessionTtlMinutes: number;
  /** Slows down repeated failed sign-ins (modules/sessions/login-throttle.ts). */
  loginThrottle: LoginThrottle;
  analytics: AnalyticsDeps;
  usage: UsageRecorder;
  alerts: AlertMonitor;
}

/** What every procedure starts from: the request as the access layer sees it, and the server's parts. */
export interface Context extends AccessRequest {
  deps: ServerDeps;
}
