/**
 * The access layer's view of a request served by Hono (REST and OData; tRPC builds its own in
 * trpc/context.ts): who asks, from where, where its rate-limit headers and stats go, and the
 * signal that fires when the client goes away.
 */
import type { Context } from 'hono';
import type { AccessRequest, RequestHeaders } from '../access/request.js';
import { requestHeaders } from './request-headers.js';
import type { RequestStatsEnv } from './request-stats.js';
import { sourceIp } from './source-ip.js';

/** `headers`: the credential's headers when the transport reads them elsewhere too (OData's `api_key`). */
export function accessRequestOf<E extends RequestStatsEnv>(c: Context<E>, headers: RequestHeaders = requestHeaders(c)): AccessRequest {
  // Hono's Context is invariant in its Env; every caller's Env extends RequestStatsEnv.
  const known = c as unknown as Context<RequestStatsEnv>;
  return {
    requestId: known.get('requestId'),
    headers,
    sourceIp: sourceIp(c),
    resHeaders: { set: (name, value) => c.header(name, value) },
    stats: known.get('stats'),
    abortSignal: () => c.req.raw.signal,
  };
}
