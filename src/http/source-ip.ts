import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';

/** The peer address (no proxy header is trusted); absent for in-process requests. */
export function sourceIp(c: Context): string | null {
  // No socket (app.request, a fetch handler called without env): nothing to read. Checked rather
  // than caught: a thrown error per request costs more than the rest of a cached query.
  const env = c.env as { incoming?: { socket?: unknown } } | undefined;
  if (!env?.incoming?.socket) return null;
  return getConnInfo(c).remote.address ?? null;
}
