/**
 * Reading a request header without building a WHATWG Headers. On @hono/node-server the first
 * `c.req.header()` or `c.req.raw.headers` turns Node's raw header list into a Headers object
 * (validating every name and value), a measurable share of a cached request's CPU; the few
 * headers the API path reads are looked up in the raw list instead. Repeated headers are joined
 * with ", " exactly as Headers.get joins them, so an answer never depends on which way it was read.
 */
import type { Context } from 'hono';
import type { RequestHeaders } from '../access/request.js';

type NodeEnv = { incoming?: { rawHeaders?: string[] } } | undefined;

export function requestHeaders(c: Context): RequestHeaders {
  const raw = (c.env as NodeEnv)?.incoming?.rawHeaders;
  // No Node request behind it (app.request in tests, another runtime): the Request's own headers.
  if (!raw) return c.req.raw.headers;
  return {
    get(name: string): string | null {
      const wanted = name.toLowerCase();
      let value: string | null = null;
      for (let i = 0; i < raw.length; i += 2) {
        const key = raw[i]!;
        if (key.length !== wanted.length || key.toLowerCase() !== wanted) continue;
        // Headers trims leading and trailing whitespace from each value.
        const v = raw[i + 1]!.trim();
        value = value === null ? v : `${value}, ${v}`;
      }
      return value;
    },
  };
}
