/**
 * What a transport hands the access layer about one request, whatever carries it (Hono for REST,
 * tRPC's context, a test's caller): headers to read, headers to add, the request's stats record.
 */

/** What authentication and the routers read from a request. */
export interface RequestHeaders {
  /** By name, case-insensitively; null when absent. */
  get(name: string): string | null;
}

/** Where the access layer adds response headers (RateLimit-*, Retry-After). */
export interface ResponseHeaders {
  set(name: string, value: string): void;
}

/**
 * One record per API request, written when the response is ready (http/request-stats.ts): usage,
 * Prometheus series and alert windows read the same figures. Layers below fill in what only they
 * know (which tenant, whether a dataset query hit the cache, whether it was rate limited).
 */
export interface RequestStats {
  tenantId?: string;
  tenantSlug?: string;
  datasetQuery?: boolean;
  cacheHit?: boolean;
  rateLimited?: boolean;
  /** Refused with 503 TENANT_BUSY: the tenant's bulkhead was full (access/tiers.ts). */
  tenantBusy?: boolean;
}

export interface AccessRequest {
  requestId: string;
  headers: RequestHeaders;
  /** The peer's address, for the audit log. */
  sourceIp: string | null;
  resHeaders: ResponseHeaders;
  stats: RequestStats;
  /**
   * Fires when the client goes away. A function, asked for only when a request has to wait for
   * its tenant's permit: on Node, building the request's signal costs a WHATWG Request.
   */
  abortSignal?(): AbortSignal | undefined;
}
