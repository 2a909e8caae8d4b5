import { initTRPC, TRPCError, type AnyProcedure, type AnyRouter } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fastPathFor, invokeQuery } from './invoke.js';

const t = initTRPC.context<{ calls: string[] }>().create();

/** An outer middleware that adds to the context and sees the failed result of what follows it. */
const tier = t.procedure.use(async ({ ctx, next }) => {
  ctx.calls.push('tier');
  const result = await next({ ctx: { user: 'u1' } });
  if (!result.ok) ctx.calls.push(`saw ${result.error.code}`);
  return result;
});

const procedures = {
  greet: tier.input(z.object({ name: z.string() })).query(({ ctx, input }) => `${input.name}, from ${ctx.user}`),
  fail: tier.query((): string => {
    throw new TRPCError({ code: 'NOT_FOUND', message: 'nope' });
  }),
};

/** tRPC's own caller and ours, side by side: the same value, or the same error. */
async function both(procedure: AnyProcedure, input: unknown) {
  const run = async (ours: boolean) => {
    const ctx = { calls: [] as string[] };
    const call = { path: 'p', ctx, getRawInput: () => Promise.resolve(input) };
    const outcome = await (ours ? invokeQuery(procedure, call) : procedure({ ...call, type: 'query', signal: undefined, batchIndex: 0 })).then(
      (value) => ({ value }),
      (error: unknown) => ({ error: error instanceof TRPCError ? { code: error.code, message: error.message } : error }),
    );
    return { outcome, calls: ctx.calls };
  };
  const ours = await run(true);
  expect(ours).toEqual(await run(false));
  return ours;
}

describe('invokeQuery', () => {
  it('answers as tRPC’s caller does: context added by a middleware, validated input, the value', async () => {
    expect(await both(procedures.greet, { name: 'Ada' })).toEqual({ outcome: { value: 'Ada, from u1' }, calls: ['tier'] });
  });

  it('fails as tRPC’s caller does, and earlier middlewares see the failed result', async () => {
    expect(await both(procedures.greet, { name: 7 })).toMatchObject({ outcome: { error: { code: 'BAD_REQUEST' } }, calls: ['tier', 'saw BAD_REQUEST'] });
    expect(await both(procedures.fail, undefined)).toEqual({ outcome: { error: { code: 'NOT_FOUND', message: 'nope' } }, calls: ['tier', 'saw NOT_FOUND'] });
  });

  it('falls back to tRPC’s caller when the procedure does not look as expected (another tRPC version)', async () => {
    const calls: unknown[] = [];
    const stranger = Object.assign((opts: unknown) => (calls.push(opts), Promise.resolve('via tRPC')), { _def: { meta: undefined } }) as unknown as AnyProcedure;
    expect(await invokeQuery(stranger, { path: 'p', ctx: {}, getRawInput: () => Promise.resolve(1) })).toBe('via tRPC');
    expect(calls).toMatchObject([{ path: 'p', type: 'query' }]);
  });
});

describe('fastPathFor', () => {
  const router = t.router({ ...procedures, nested: t.router({ hello: t.procedure.query(() => 'hi'), change: t.procedure.mutation(() => 'done') }) });

  it('finds query procedures by dotted path, and nothing else', () => {
    const fast = fastPathFor(router)!;
    expect(fast.query('greet')).toBe(procedures.greet);
    expect(fast.query('nested.hello')).toBeTypeOf('function');
    for (const path of ['nested.change', 'nested', 'nope', 'toString', '__proto__', 'constructor', 'createCaller', '_def']) expect(fast.query(path), path).toBeUndefined();
  });

  it('formats an error as the router’s error formatter does', () => {
    const formatted = initTRPC.create({ errorFormatter: ({ shape, path }) => ({ ...shape, data: { ...shape.data, seenPath: path } }) });
    const fast = fastPathFor(formatted.router({ q: formatted.procedure.query(() => 1) }))!;
    const shape = fast.errorShape({ error: new TRPCError({ code: 'NOT_FOUND', message: 'nope' }), ctx: {}, input: undefined, path: 'q' });
    expect(shape).toMatchObject({ message: 'nope', code: -32004, data: { code: 'NOT_FOUND', httpStatus: 404, path: 'q', seenPath: 'q' } });
  });

  it('leaves a router it would not answer exactly as the adapter to the adapter', () => {
    const transformer = { serialize: (value: unknown) => ({ json: value }), deserialize: (value: unknown) => (value as { json: unknown }).json };
    const withTransformer = initTRPC.create({ transformer });
    expect(fastPathFor(withTransformer.router({ q: withTransformer.procedure.query(() => 1) }))).toBeUndefined();
    const tildes = initTRPC.create({ pathSeparator: '~' });
    expect(fastPathFor(tildes.router({ a: tildes.router({ q: tildes.procedure.query(() => 1) }) }))).toBeUndefined();
    expect(fastPathFor({ _def: {} } as unknown as AnyRouter)).toBeUndefined();
  });
});
