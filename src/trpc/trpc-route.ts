/**
 * /trpc on Hono. Every request goes through tRPC's fetch adapter except one kind, answered here
 * directly: a single (unbatched, unstreamed) GET of a query procedure, the hot path of dashboards,
 * BI tools and curl. For that call the adapter builds a WHATWG Request, two combined AbortSignals
 * and two Headers objects; answering it directly cut a tRPC `orders.get`'s server CPU by a quarter
 * (README, performance). The direct path calls the same procedure (through trpc/invoke.ts, which
 * skips tRPC's copying of options at every middleware) with the same context, raw input
 * and error formatter and answers the same status, headers and body; test/trpc-route.test.ts holds
 * the two side by side. Anything it is unsure of (a missing procedure, a mutation, input that is
 * not JSON, `batch`, JSONL) is left to the adapter, so tRPC itself words those errors.
 *
 * This file uses tRPC's public APIs only: every read of its internals (the router's procedures and
 * config, a procedure's middlewares) is in trpc/invoke.ts, the fast path's one boundary. Issue 19
 * measured the public paths in its place and kept it (docs/performance.md).
 */
import { getTRPCErrorFromUnknown, type AnyProcedure, type AnyRouter } from '@trpc/server';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { getHTTPStatusCode } from '@trpc/server/http';
import type { Context as HonoContext, Handler } from 'hono';
import type { RequestHeaders, ResponseHeaders } from '../access/request.js';
import { requestHeaders } from '../http/request-headers.js';
import type { RequestStatsEnv } from '../http/request-stats.js';
import type { Context } from './context.js';
import { fastPathFor, invokeQuery, type FastPath } from './invoke.js';

const ENDPOINT = '/trpc/';

export interface TrpcRouteOptions {
  router: AnyRouter;
  /** The procedure context for this request; `resHeaders` collects headers procedures add. */
  createContext(c: HonoContext<RequestStatsEnv>, resHeaders: ResponseHeaders, headers: RequestHeaders): Context;
  onError(error: { code: string; cause?: unknown }, path: string | undefined, c: HonoContext<RequestStatsEnv>): void;
}

/** Response headers as a plain record: the direct path never needs a WHATWG Headers. */
class HeaderRecord implements ResponseHeaders {
  readonly record: Record<string, string> = { 'content-type': 'application/json', vary: 'trpc-accept, accept' };
  set(name: string, value: string): void {
    this.record[name.toLowerCase()] = value;
  }
}

interface DirectCall {
  path: string;
  procedure: AnyProcedure;
  /** Parsed once, before the call: text that is not JSON is left to the adapter. */
  input: unknown;
}

/**
 * The call when this request is one the direct path answers exactly as the adapter would;
 * undefined sends it to the adapter. `header` reads a request header by lower-case name; `query`
 * is the fast path's lookup of a query procedure by path (trpc/invoke.ts).
 */
export function directCall(method: string, url: string, header: (name: string) => string | undefined, query: FastPath['query']): DirectCall | undefined {
  if (method !== 'GET') return undefined;
  const start = url.indexOf(ENDPOINT);
  if (start < 0) return undefined;
  const end = url.indexOf('?', start);
  const path = url.slice(start + ENDPOINT.length, end < 0 ? undefined : end);
  // Encoded paths, trailing slashes and the like: the adapter's decoding is the reference.
  if (!/^[\w.]+$/.test(path)) return undefined;
  const procedure = query(path);
  if (!procedure) return undefined;
  if (header('trpc-accept') !== undefined || header('accept')?.includes('application/jsonl')) return undefined;
  const search = new URLSearchParams(end < 0 ? '' : url.slice(end + 1));
  if (search.has('batch')) return undefined;
  const text = search.get('input');
  let input: unknown;
  if (text) {
    try {
      input = JSON.parse(text);
    } catch {
      return undefined;
    }
  }
  return { path, procedure, input };
}

export function trpcRoute({ router, createContext, onError }: TrpcRouteOptions): Handler<RequestStatsEnv> {
  const fastPath = fastPathFor(router);
  return async (c) => {
    const headers = requestHeaders(c);
    const call = fastPath && directCall(c.req.method, c.req.url, (name) => headers.get(name) ?? undefined, fastPath.query);
    if (!fastPath || !call) {
      return fetchRequestHandler({
        endpoint: '/trpc',
        req: c.req.raw,
        router,
        createContext: ({ resHeaders }) => createContext(c, resHeaders, headers),
        onError: ({ error, path }) => onError(error, path, c),
      });
    }
    const responseHeaders = new HeaderRecord();
    // Written here, so the request-id middleware need not turn the record into a Headers.
    responseHeaders.set('x-request-id', c.get('requestId'));
    c.set('requestIdSent', true);
    const ctx = createContext(c, responseHeaders, headers);
    const { path, procedure, input } = call;
    let body: unknown;
    let status = 200;
    try {
      const data = await invokeQuery(procedure, { path, ctx, getRawInput: () => Promise.resolve(input) });
      body = { result: { data } };
    } catch (cause) {
      const error = getTRPCErrorFromUnknown(cause);
      onError(error, path, c);
      const response = { error: fastPath.errorShape({ error, ctx, input, path }) };
      // As resolveResponse: the status the formatted shape carries.
      status = getHTTPStatusCode(response, [error]);
      body = response;
    }
    return new Response(JSON.stringify(body), { status, headers: responseHeaders.record });
  };
}
