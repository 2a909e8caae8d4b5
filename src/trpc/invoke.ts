/**
 * The /trpc fast path's one boundary with tRPC's internals: everything trpc/trpc-route.ts needs to
 * answer a single GET query without the fetch adapter, and nothing else in the tree reads `_def`
 * or imports from '@trpc/server/unstable-core-do-not-import'. tRPC's public APIs were measured in
 * its place (issue 19, docs/performance.md): the fetch adapter for every request took 1.6–1.9× the
 * server CPU per tRPC request; `router.createCaller` in place of invokeQuery took 14–20% more in
 * process (−10% to +8% over HTTP, where the noise is as large) and still needs the lookups below.
 * So the fast path stays, here, with parity tests against the public path: test/trpc-route.test.ts
 * (the same request through the direct path and the adapter: status, body, every header) and
 * invoke.test.ts (invokeQuery against tRPC's own procedure call; fastPathFor).
 *
 * - `fastPathFor(router)`: the router's query procedures by path and its error shape, or undefined
 *   when the router is not one the direct path answers exactly as the adapter (a data transformer,
 *   another path separator, internals not shaped as expected): then every request takes the adapter.
 * - `invokeQuery`: calls a query procedure the way tRPC's own caller does (each middleware in turn,
 *   `next` moving to the following one, a thrown error turned into a failed result that earlier
 *   middlewares can inspect) but without its copying. tRPC's caller copies the whole options object
 *   twice at every level, and the context once more, through Babel's object-spread helper: about a
 *   tenth of a cached query's CPU. Here each level gets a plain object literal and a context is
 *   copied only when a middleware adds to it, with the engine's own spread.
 */
import { getErrorShape, getTRPCErrorFromUnknown, TRPCError, type AnyProcedure, type AnyRouter, type TRPCErrorShape } from '@trpc/server';
import { middlewareMarker } from '@trpc/server/unstable-core-do-not-import';

export interface FastPath {
  /** The query procedure at a path ('orders.get'); undefined for anything else (mutations too). */
  query(path: string): AnyProcedure | undefined;
  /** The error body's `error` member, as the adapter formats it for a failed query. */
  errorShape(opts: { error: TRPCError; ctx: object; input: unknown; path: string }): TRPCErrorShape;
}

interface RouterInternals {
  procedures?: unknown;
  _config?: {
    pathSeparator?: unknown;
    transformer?: { output?: { serialize?: (value: unknown) => unknown } };
  };
}

export function fastPathFor(router: AnyRouter): FastPath | undefined {
  const def = router._def as unknown as RouterInternals | undefined;
  const procedures = def?.procedures as Record<string, AnyProcedure | undefined> | undefined;
  const config = def?._config;
  if (!procedures || typeof procedures !== 'object' || !config) return undefined;
  // The direct path writes plain JSON and reads dotted paths.
  if (config.pathSeparator !== undefined && config.pathSeparator !== '.') return undefined;
  const probe = {};
  if (config.transformer?.output?.serialize?.(probe) !== probe) return undefined;
  return {
    // Read at each call, as tRPC's own lookup does (a lazy router's procedures appear once loaded).
    query: (path) => {
      const procedure = Object.hasOwn(procedures, path) ? procedures[path] : undefined;
      return typeof procedure === 'function' && procedure._def?.type === 'query' ? procedure : undefined;
    },
    errorShape: ({ error, ctx, input, path }) => getErrorShape({ config: config as AnyRouter['_def']['_config'], error, ctx, input, path, type: 'query' }) as TRPCErrorShape,
  };
}

type Result = { ok: true; data: unknown; ctx?: unknown } | { ok: false; error: TRPCError };

interface NextOptions {
  ctx?: object;
  input?: unknown;
  getRawInput?: () => Promise<unknown>;
}

interface Call {
  path: string;
  ctx: object;
  getRawInput: () => Promise<unknown>;
}

type Middleware = (opts: {
  path: string;
  type: 'query';
  ctx: object;
  input: unknown;
  meta: unknown;
  getRawInput: () => Promise<unknown>;
  signal: undefined;
  batchIndex: number;
  next: (opts?: NextOptions) => Promise<Result>;
}) => Promise<Result>;

/** The procedure's result, or the TRPCError it failed with (thrown), as `procedure(opts)` would. */
export async function invokeQuery(procedure: AnyProcedure, { path, ctx, getRawInput }: Call): Promise<unknown> {
  const { middlewares, meta } = procedure._def as unknown as { middlewares?: Middleware[]; meta: unknown };
  // Not the internals this was written against (a tRPC upgrade): tRPC's own caller.
  if (!Array.isArray(middlewares)) return procedure({ path, ctx, type: 'query', getRawInput, signal: undefined, batchIndex: 0 });
  const run = async (index: number, ctx: object, input: unknown, rawInput: () => Promise<unknown>): Promise<Result> => {
    try {
      return await middlewares[index]!({
        path,
        type: 'query',
        ctx,
        input,
        meta,
        getRawInput: rawInput,
        signal: undefined,
        batchIndex: 0,
        next: (next) =>
          run(index + 1, next?.ctx ? { ...ctx, ...next.ctx } : ctx, next && 'input' in next ? next.input : input, next?.getRawInput ?? rawInput),
      });
    } catch (cause) {
      return { ok: false, error: getTRPCErrorFromUnknown(cause), marker: middlewareMarker } as Result;
    }
  };
  const result = await run(0, ctx, undefined, getRawInput);
  // As tRPC's caller words it.
  if (!(result as Result | undefined)) throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'No result from middlewares - did you forget to `return next()`?' });
  if (!result.ok) throw result.error;
  return result.data;
}
