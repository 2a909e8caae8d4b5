import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { requestHeaders } from './request-headers.js';

/** `requestIdSent`: the handler already put X-Request-Id on its response (trpc/trpc-route.ts). */
export type RequestIdEnv = { Variables: { requestId: string; requestIdSent?: boolean } };

/** Keeps a caller's X-Request-Id when it is sane (for tracing across services), else makes one. */
export const requestId: MiddlewareHandler<RequestIdEnv> = async (c, next) => {
  const incoming = requestHeaders(c).get('x-request-id');
  const id = incoming && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
  c.set('requestId', id);
  await next();
  // Set after the handler: routes that return their own Response (tRPC) bypass c.header().
  if (!c.get('requestIdSent')) c.res.headers.set('X-Request-Id', id);
};
