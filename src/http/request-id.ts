import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

export type RequestIdEnv = { Variables: { requestId: string } };

/** Keeps a caller's X-Request-Id when it is sane (for tracing across services), else makes one. */
export const requestId: MiddlewareHandler<RequestIdEnv> = async (c, next) => {
  const incoming = c.req.header('x-request-id');
  const id = incoming && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
  c.set('requestId', id);
  await next();
  // Set after the handler: routes that return their own Response (tRPC) bypass c.header().
  c.res.headers.set('X-Request-Id', id);
};
