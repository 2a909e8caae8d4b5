/**
 * Both transports answer every reason with the status of its code (src/lib/errors.ts REASONS), and
 * the errors tRPC raises itself get a reason of the table with the status they answer.
 */
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { renderError } from '../http/errors.js';
import { AppError, HTTP_STATUS, isReason, REASONS, type Reason } from '../lib/errors.js';
import type { Context } from './context.js';
import { reasonOfTRPCCode, toTRPCError, TRPC_REASONS } from './errors.js';
import { publicProcedure, router } from './init.js';

const reasons = Object.keys(REASONS) as Reason[];

/** What the REST envelope answers for the error: status and body. */
async function rest(error: AppError) {
  const app = new Hono().get('/', (c) => renderError(c, error, 'req-1'));
  const res = await app.request('/');
  return { status: res.status, body: (await res.json()) as { error: { code: string; reason: string; requestId: string } } };
}

describe('an AppError', () => {
  it('answers every reason with the same status over REST and tRPC', async () => {
    for (const reason of reasons) {
      const error = new AppError(reason, 'x');
      const { status, body } = await rest(error);
      expect({ reason, rest: status, trpc: getHTTPStatusCodeFromError(toTRPCError(error)) }).toEqual({ reason, rest: HTTP_STATUS[REASONS[reason]], trpc: status });
      expect(body.error).toEqual({ code: REASONS[reason], reason, message: 'x', requestId: 'req-1' });
    }
  });
});

describe('tRPC’s own codes', () => {
  it('each get a reason of that code', () => {
    for (const [code, reason] of Object.entries(TRPC_REASONS)) {
      expect({ code, reasonCode: REASONS[reason] }).toEqual({ code, reasonCode: code });
    }
    expect(reasonOfTRPCCode('NOT_FOUND')).toBe('ROUTE_NOT_FOUND');
    expect(reasonOfTRPCCode('INTERNAL_SERVER_ERROR')).toBe('INTERNAL');
  });
});

describe('what /trpc answers', () => {
  const appRouter = router({
    fail: publicProcedure.input(z.object({ reason: z.string() })).query(({ input }) => {
      if (isReason(input.reason)) throw new AppError(input.reason, 'refused');
      throw new Error('a bug');
    }),
    change: publicProcedure.mutation(() => 'done'),
  });

  async function call(url: string, init?: RequestInit) {
    const res = await fetchRequestHandler({
      endpoint: '/trpc',
      req: new Request(`http://localhost/trpc/${url}`, init),
      router: appRouter,
      createContext: () => ({ requestId: 'req-1', headers: new Headers(), resHeaders: new Headers() }) as unknown as Context,
    });
    const body = (await res.json()) as { error: { data: { code: string; reason: string; httpStatus: number } } };
    return { status: res.status, data: body.error.data };
  }
  const input = (value: unknown) => `?input=${encodeURIComponent(JSON.stringify(value))}`;

  it('carries the AppError’s reason with its status', async () => {
    for (const reason of reasons) {
      expect(await call(`fail${input({ reason })}`)).toMatchObject({ status: HTTP_STATUS[REASONS[reason]], data: { reason, code: REASONS[reason] } });
    }
  });

  it('gives tRPC’s own errors a reason of the table with the status it answers', async () => {
    const cases: [string, RequestInit | undefined, Reason][] = [
      [`fail${input({ reason: 1 })}`, undefined, 'INVALID_INPUT'],
      [`fail${input({ reason: 'NO_SUCH_REASON' })}`, undefined, 'INTERNAL'],
      ['fail?input=%7Bnot-json', undefined, 'BAD_REQUEST'],
      [`fail${input({ reason: 'NOT_FOUND' })}&connectionParams=%7Bnot-json`, undefined, 'PARSE_ERROR'],
      ['nope', undefined, 'ROUTE_NOT_FOUND'],
      ['change', undefined, 'METHOD_NOT_SUPPORTED'],
      ['change', { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }, 'UNSUPPORTED_MEDIA_TYPE'],
      ['fail,change?batch=1', undefined, 'BAD_REQUEST'],
    ];
    for (const [url, init, reason] of cases) {
      const { status, data } = await call(url, init);
      expect({ url, reason: data.reason }).toEqual({ url, reason });
      expect({ url, status, httpStatus: data.httpStatus }).toEqual({ url, status: HTTP_STATUS[REASONS[reason]], httpStatus: status });
    }
  });
});

